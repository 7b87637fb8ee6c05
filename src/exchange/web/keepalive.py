"""Every answer arrives on a keep-alive connection: the ASGI wrapper around the whole app.

hypercorn (0.18, HTTP/1.1) decides what becomes of a connection inside the app's last
`send` (`http.response.body` without `more_body`): `H11Protocol._maybe_recycle` runs in the
app's own task. It first hands the app `http.disconnect`, then starts the next cycle when h11
has read the whole request, or else closes the connection. Two things went wrong there:

- Quart-Trio cancels its request nursery as soon as it receives `http.disconnect`, so the
  close that follows is cancelled at its first checkpoint (`send_eof`): the connection is
  neither closed nor recycled. When the rest of the body and the next request arrive, h11
  reports PAUSED and hypercorn waits for a cycle that never starts: the client's next request
  is never read. That is what an answer sent before the body had all arrived (404, 405, a
  route's 401 or 413) did to python-requests, which sends the headers and the body apart.
- An answer sent before the body is complete makes hypercorn close the connection, which a
  client that did not see `connection: close` may race by sending its next request into it.

So, for every HTTP request, Quart routes and the fast path alike:

- the last `send` is shielded, so that hypercorn's recycling or closing always completes
  (it is bounded: hypercorn's socket writes are shielded already, and TCP_USER_TIMEOUT
  bounds them);
- an answer that starts before the app has received the whole body first receives and drops
  the rest, up to `max_body` bytes and within `DRAIN_SECONDS`, so the connection is reused;
  past either it says `connection: close`, so the client does not reuse it.
"""

from __future__ import annotations

from typing import Any

import trio

# How long an early answer waits for the rest of a request body it will not read. A client
# that is still sending reads no answer before it has sent everything anyway.
DRAIN_SECONDS = 1.0

Scope = dict[str, Any]
Message = dict[str, Any]
_CLOSE = (b"connection", b"close")


class KeepAlive:
    """Wraps the ASGI app (the fast path, which wraps Quart); see the module docstring."""

    def __init__(self, app: Any, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = RequestBody(receive, self.max_body)

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not await body.drain():
                message = {**message, "headers": [*message.get("headers", ()), _CLOSE]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # hypercorn recycles or closes the connection in this call; the app's own
                # cancellation (Quart-Trio's, on `http.disconnect`) must not interrupt it.
                with trio.CancelScope(shield=True):
                    await send(message)
                return
            await send(message)

        await self.app(scope, body.receive, guarded_send)


class RequestBody:
    """One request's body as the app (or `drain`) receives it.

    Several tasks may receive at once (Quart-Trio reads the body in a task of its own while
    the route runs, and `drain` beside it): every message goes through `receive`, which
    keeps the count."""

    def __init__(self, receive: Any, limit: int) -> None:
        self._receive = receive
        self.limit = limit
        self.size = 0
        # Set once the last body message (or `http.disconnect`) has been received.
        self.complete = trio.Event()

    async def receive(self) -> Message:
        message: Message = await self._receive()
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete.set()
        else:
            self.complete.set()
        return message

    async def drain(self) -> bool:
        """Receives and drops what is left of the body; True iff the whole body, within the
        limit, has then been received (the connection can serve the next request)."""
        if not self.complete.is_set() and self.size <= self.limit:
            with trio.move_on_after(DRAIN_SECONDS):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._discard, nursery.cancel_scope)
                    await self.complete.wait()
                    nursery.cancel_scope.cancel()
        return self.complete.is_set() and self.size <= self.limit

    async def _discard(self, done: trio.CancelScope) -> None:
        while not self.complete.is_set() and self.size <= self.limit:
            await self.receive()
        done.cancel()
