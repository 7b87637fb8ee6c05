"""The ASGI fast path for order entry: `POST /v1/orders`, `DELETE|PATCH /v1/orders/{id}`,
and the WebSocket API (`exchange.web.ws`).

Order entry is the hot path and Quart's per-request machinery (request and app contexts,
routing, wrappers, hooks) costs about as much as everything else a request does. These three
routes are therefore answered here, at the ASGI level, by the same `OrderEntry` methods the
Quart routes call, with the same error envelope, limits and metrics; every other request
(and every other method or path) goes to the Quart-Trio app unchanged.

Chaos mode's latency is added here, for both: the start of an answer to a `/v1/` request
(admin routes aside, so an operator keeps control) waits `Chaos.latency()` and carries
`X-Chaos: latency`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
import trio
from quart_trio import QuartTrio

from exchange.web.app import JSON, Services
from exchange.web.auth import authorization
from exchange.web.errors import ApiError, PipelineError, pipeline_error

log = logging.getLogger("exchange.web")

_ORDERS = "/v1/orders"
_ORDER_PREFIX = "/v1/orders/"
_ORDER_RULE = "/v1/orders/<int:order_id>"  # as Quart names it (metrics' route label)
# What this module answers instead of the app, as (method, Quart rule); `exchange.web.orders`
# registers the same routes with Quart, and `/openapi.json` documents them.
ROUTES = (("POST", _ORDERS), ("DELETE", _ORDER_RULE), ("PATCH", _ORDER_RULE))
_CONTENT_TYPE = (b"content-type", JSON.encode())
_CHAOS_LATENCY = (b"x-chaos", b"latency")
_encode = msgspec.json.encode

Scope = Any


class FastPath:
    """Wraps the Quart-Trio app; see the module docstring."""

    def __init__(self, app: QuartTrio, services: Services) -> None:
        self.app = app
        self.services = services
        self.max_body = services.settings.max_body_bytes
        self.seconds = services.metrics.request_seconds
        self.chaos = services.chaos

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            path = scope["path"]
            if (self.chaos.spec.latency_max and path.startswith("/v1/")
                    and not path.startswith("/v1/admin/")):
                send = self._delayed(send)
            if method == "POST" and path == _ORDERS:
                await self._handle(scope, receive, send, "place", 0, _ORDERS)
                return
            if (method == "DELETE" or method == "PATCH") and path.startswith(_ORDER_PREFIX):
                tail = path[len(_ORDER_PREFIX):]
                if tail.isascii() and tail.isdigit() and len(tail) < 19:
                    action = "cancel" if method == "DELETE" else "amend"
                    await self._handle(scope, receive, send, action, int(tail),
                                       _ORDER_RULE)
                    return
        elif scope["type"] == "websocket":
            await self.services.websockets(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _delayed(self, send: Any) -> Any:
        """`send`, with the start of the answer held back by chaos mode's latency."""
        delay = self.chaos.latency()

        async def delayed(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                await trio.sleep(delay)
                message = {**message, "headers": [*message.get("headers", ()),
                                                  _CHAOS_LATENCY]}
            await send(message)

        return delayed

    async def _handle(self, scope: Scope, receive: Any, send: Any, action: str,
                      order_id: int, route: str) -> None:
        started = time.perf_counter()
        entry = self.services.order_entry
        length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
        headers: dict[str, str] = {}
        try:
            try:
                header = authorization(scope["headers"])
                if action == "cancel":
                    status, body = await entry.cancel(header, order_id, headers)
                else:
                    raw = await self._body(receive, length)
                    if action == "place":
                        status, body = await entry.place(header, raw, headers)
                    else:
                        status, body = await entry.amend(header, order_id, raw,
                                                         headers)
                payload = _encode(body)
            except PipelineError as exc:
                raise pipeline_error(exc) from None
        except ApiError as error:
            status, payload = error.status, error.body()
            headers = {**headers, **error.headers}
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            bug = ApiError(500, "internal_error", "internal error")
            status, payload = bug.status, bug.body()
        response_headers = [_CONTENT_TYPE, (b"content-length", str(len(payload)).encode())]
        response_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status,
                    "headers": response_headers})
        await send({"type": "http.response.body", "body": payload, "more_body": False})
        self.seconds.labels(scope["method"], route, str(status)).observe(
            time.perf_counter() - started
        )

    async def _body(self, receive: Any, length: bytes | None) -> bytes:
        too_large = ApiError(413, "payload_too_large",
                             f"request body over {self.max_body} bytes")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise too_large
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ApiError(400, "invalid_request", "the client went away")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise too_large
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)
