"""`ExchangeSocket`: the WebSocket API (`/v1/ws`) on trio-websocket.

    async with open_exchange_socket("http://127.0.0.1:8000", api_key=key) as socket:
        await socket.subscribe(["book.BTC-USD", "trades.BTC-USD"])
        order = await socket.place({"symbol": "BTC-USD", "side": "buy", "type": "limit",
                                    "quantity": "0.1", "price": "50000"})
        async for message in socket:
            ...

Requests get increasing ids and may be in flight together (from several tasks); each
`request` returns the reply carrying its id, or raises `ExchangeError` with the contract's
`code` for an `error` reply. Everything else the server sends (channel messages, errors
without a known id) comes out of the socket's message stream, in order. The stream is
bounded: a reader that does not keep up stops the socket reading, and the server may then
close it as a slow consumer (code 4008), which ends the stream and fails pending requests
with `SocketClosed`. Heartbeats are consumed here (`last_heartbeat`).
"""

from __future__ import annotations

import itertools
import json
import ssl
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    wrap_client_stream,
)

from exchange.client.client import ExchangeError

Json = dict[str, Any]

# The HTTP status REST gives each code (api.md), so `ExchangeError.status` means the same.
_STATUS = {
    "invalid_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404,
    "conflict": 409, "duplicate_client_order_id": 409, "order_not_open": 409,
    "rate_limited": 429, "overloaded": 503, "unavailable": 503,
}
_REPLY_TYPES = frozenset({"result", "error", "pong", "authenticated", "subscribed",
                          "unsubscribed"})


class SocketClosed(Exception):
    """The connection ended; `code` is the WebSocket close code (4008: slow consumer)."""

    def __init__(self, code: int | None, reason: str | None) -> None:
        super().__init__(f"WebSocket closed ({code}{': ' + reason if reason else ''})")
        self.code = code
        self.reason = reason


def websocket_url(url: str) -> str:
    """`http(s)://host:port[/]` → `ws(s)://host:port/v1/ws`; a ws URL with a path stays."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path not in ("", "/") else "/v1/ws"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def _closed(exc: ConnectionClosed) -> SocketClosed:
    reason = exc.reason
    return SocketClosed(None, None) if reason is None else SocketClosed(reason.code, reason.reason)


def error_of(message: Json) -> ExchangeError:
    """The `ExchangeError` of an `error` reply."""
    error = message.get("error") or {}
    code = str(error.get("code", "internal_error"))
    return ExchangeError(_STATUS.get(code, 422), code, str(error.get("message", "")),
                         error.get("details"))


class ExchangeSocket:
    """One connection; made by `open_exchange_socket`, which runs its reader task."""

    def __init__(self, ws: WebSocketConnection, *, buffer: int = 1024) -> None:
        self.ws = ws
        self.account_id: int | None = None
        self.last_heartbeat: float | None = None  # time.time() of the latest heartbeat
        self._ids = itertools.count(1)
        self._pending: dict[int, trio.MemorySendChannel[Json]] = {}
        self._send, self._receive = trio.open_memory_channel[Json](buffer)
        self.closed: SocketClosed | None = None

    # -- REQUESTS --

    async def request(self, op: Json) -> Json:
        """Sends `op` with a fresh `id` and returns the reply with that id.

        Raises `ExchangeError` for an `error` reply and `SocketClosed` if the connection ends
        first. Cancelling the caller forgets the request (a late reply is dropped).
        """
        request_id = next(self._ids)
        send, receive = trio.open_memory_channel[Json](1)
        self._pending[request_id] = send
        try:
            await self._send_text(json.dumps({**op, "id": request_id}))
            try:
                reply = await receive.receive()
            except trio.EndOfChannel:
                raise self.closed or SocketClosed(None, None) from None
        finally:
            self._pending.pop(request_id, None)
        if reply.get("type") == "error":
            raise error_of(reply)
        return reply

    async def send(self, ops: Iterable[Json]) -> None:
        """Sends several ops in one frame (a JSON array) without waiting for replies; replies
        to ops with an `id` not made by `request` come out of the message stream."""
        await self._send_text(json.dumps(list(ops)))

    async def authenticate(self, api_key: str | None = None, *,
                           cancel_on_disconnect: bool | None = None) -> int:
        """The `auth` op; without `api_key` (authenticated by the upgrade) it only sets
        `cancel_on_disconnect`."""
        op: Json = {"op": "auth"}
        if api_key is not None:
            op["api_key"] = api_key
        if cancel_on_disconnect is not None:
            op["cancel_on_disconnect"] = cancel_on_disconnect
        reply = await self.request(op)
        self.account_id = int(reply["account_id"])
        return self.account_id

    async def subscribe(self, channels: Iterable[str]) -> list[str]:
        reply = await self.request({"op": "subscribe", "channels": list(channels)})
        return list(reply.get("channels", []))

    async def unsubscribe(self, channels: Iterable[str]) -> list[str]:
        reply = await self.request({"op": "unsubscribe", "channels": list(channels)})
        return list(reply.get("channels", []))

    async def ping(self) -> float:
        """Round trip time of a `ping`, in seconds."""
        started = time.perf_counter()
        await self.request({"op": "ping"})
        return time.perf_counter() - started

    async def place(self, order: Json) -> Json:
        """Places an order (the `POST /v1/orders` body) and returns the `Order`."""
        return dict((await self.request({"op": "place", "order": order}))["order"])

    async def cancel(self, order_id: int) -> Json:
        return dict((await self.request({"op": "cancel", "order_id": order_id}))["order"])

    async def amend(self, order_id: int, **changes: Any) -> Json:
        """Amends `quantity` (new total) and/or `price` (decimal strings)."""
        op = {"op": "amend", "order_id": order_id,
              **{name: str(value) for name, value in changes.items()}}
        return dict((await self.request(op))["order"])

    # -- MESSAGES --

    def __aiter__(self) -> AsyncIterator[Json]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[Json]:
        async for message in self._receive:
            yield message

    async def receive(self) -> Json:
        """The next message of the stream; raises `SocketClosed` once the connection ended."""
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            raise self.closed or SocketClosed(None, None) from None

    # -- READER --

    async def _send_text(self, text: str) -> None:
        if self.closed is not None:
            raise self.closed
        try:
            await self.ws.send_message(text)
        except ConnectionClosed as exc:
            raise _closed(exc) from exc

    async def run_reader(self) -> None:
        """Reads frames until the connection ends, routing replies and messages."""
        try:
            while True:
                frame = await self.ws.get_message()
                decoded = json.loads(frame)
                for message in decoded if isinstance(decoded, list) else (decoded,):
                    await self._route(message)
        except ConnectionClosed as exc:
            self.closed = _closed(exc)
        finally:
            if self.closed is None:
                self.closed = SocketClosed(None, "socket closed by the client")
            for pending in list(self._pending.values()):
                pending.close()
            self._send.close()

    async def _route(self, message: Json) -> None:
        kind = message.get("type")
        if kind == "heartbeat":
            self.last_heartbeat = time.time()
            return
        if kind in _REPLY_TYPES:
            request_id = message.get("id")
            pending = self._pending.pop(request_id, None) if type(request_id) is int else None
            if pending is not None:
                pending.send_nowait(message)
                return
        await self._send.send(message)


@asynccontextmanager
async def open_exchange_socket(url: str, api_key: str | None = None, *, buffer: int = 1024,
                               max_message_size: int = 16 * 1024 * 1024
                               ) -> AsyncIterator[ExchangeSocket]:
    """Connects to `url` (http(s):// or ws(s)://; the path defaults to `/v1/ws`) and yields an
    `ExchangeSocket` whose reader runs until the block ends; then the socket is closed
    (the close handshake bounded to one second).

    With `api_key` the upgrade request carries `Authorization: Bearer <key>`.
    """
    parts = urlsplit(websocket_url(url))
    secure = parts.scheme == "wss"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    headers = [(b"Authorization", f"Bearer {api_key}".encode())] if api_key else None
    stream: trio.SocketStream | trio.SSLStream[trio.SocketStream]
    stream = await trio.open_tcp_stream(host, port)
    try:
        if secure:
            stream = trio.SSLStream(stream, ssl.create_default_context(), server_hostname=host,
                                    https_compatible=True)
        async with trio.open_nursery() as nursery:
            try:
                ws = await wrap_client_stream(
                    nursery, stream, parts.netloc,
                    parts.path + (f"?{parts.query}" if parts.query else ""),
                    extra_headers=headers, max_message_size=max_message_size,
                    receive_buffer_size=None)
            except ConnectionRejected as exc:
                raise _rejected(exc) from exc
            socket = ExchangeSocket(ws, buffer=buffer)
            nursery.start_soon(socket.run_reader)
            try:
                yield socket
            finally:
                with trio.move_on_after(1) as scope:
                    scope.shield = True
                    await ws.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The nursery is ours, not the caller's: what the block (or the connection) raised
        # comes out as itself, so `except ExchangeError` around the block works.
        if len(group.exceptions) == 1:
            single = group.exceptions[0]
            if isinstance(single, ConnectionRejected):  # raised by trio-websocket's reader
                raise _rejected(single) from single
            raise single from None
        raise
    finally:
        # trio-websocket leaves the TCP stream open when the server closed first.
        await trio.aclose_forcefully(stream)


def _rejected(exc: ConnectionRejected) -> ExchangeError:
    """The `ExchangeError` of a refused upgrade (the body is the contract's error JSON)."""
    try:
        error = json.loads(exc.body or b"{}").get("error") or {}
    except ValueError:
        error = {}
    return ExchangeError(exc.status_code, str(error.get("code", "unavailable")),
                         str(error.get("message", "WebSocket upgrade refused")))
