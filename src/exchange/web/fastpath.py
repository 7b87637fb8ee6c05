"""The hot routes of the edge's table (`exchange.web.edge`): order entry (`POST /v1/orders`,
`DELETE|PATCH /v1/orders/{id}`) and the WebSocket API (`exchange.web.ws`).

Order entry is the hot path and Quart's per-request machinery (request and app contexts,
routing, wrappers, hooks) costs about as much as everything else a request does. These
routes are therefore answered at the ASGI level, by the same `OrderEntry` methods the Quart
routes call, with the same error envelope, limits and metrics.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec

from exchange.web.app import JSON, Services
from exchange.web.auth import authorization
from exchange.web.edge import HTTP, WEBSOCKET, Route
from exchange.web.errors import ApiError, PipelineError, internal_error, pipeline_error, too_large
from exchange.web.ws import PATH as WEBSOCKET_PATH

log = logging.getLogger("exchange.web")

_ORDERS = "/v1/orders"
_ORDER_RULE = "/v1/orders/<int:order_id>"  # as Quart names it (metrics' route label)
_CONTENT_TYPE = (b"content-type", JSON.encode())
_encode = msgspec.json.encode

Scope = Any


class FastPath:
    """Order entry and the WebSocket API as routes of the edge's table."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.max_body = services.settings.max_body_bytes
        self.seconds = services.metrics.request_seconds

    def routes(self) -> list[Route]:
        async def place(scope: Scope, receive: Any, send: Any, _: dict[str, int]) -> None:
            await self._handle(scope, receive, send, "place", 0, _ORDERS)

        async def cancel(scope: Scope, receive: Any, send: Any, params: dict[str, int]) -> None:
            await self._handle(scope, receive, send, "cancel", params["order_id"], _ORDER_RULE)

        async def amend(scope: Scope, receive: Any, send: Any, params: dict[str, int]) -> None:
            await self._handle(scope, receive, send, "amend", params["order_id"], _ORDER_RULE)

        async def websocket(scope: Scope, receive: Any, send: Any, _: dict[str, int]) -> None:
            await self.services.websockets(scope, receive, send)

        return [
            Route(HTTP, "POST", _ORDERS, place),
            Route(HTTP, "DELETE", _ORDER_RULE, cancel),
            Route(HTTP, "PATCH", _ORDER_RULE, amend),
            Route(WEBSOCKET, "", WEBSOCKET_PATH, websocket),
        ]

    async def _handle(self, scope: Scope, receive: Any, send: Any, action: str,
                      order_id: int, route: str) -> None:
        started = time.perf_counter()
        entry = self.services.order_entry
        length = header_of(scope, b"content-length")
        headers: dict[str, str] = {}
        try:
            try:
                header = authorization(scope["headers"])
                if action == "cancel":
                    status, body = await entry.cancel(header, order_id, headers)
                else:
                    raw = await read_body(receive, length, self.max_body)
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
            bug = internal_error()
            status, payload = bug.status, bug.body()
        await respond(send, status, payload, headers)
        self.seconds.labels(scope["method"], route, str(status)).observe(
            time.perf_counter() - started
        )


def header_of(scope: Scope, name: bytes) -> bytes | None:
    """The request's first header `name` (lower case), if any (as werkzeug's `get`)."""
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


async def read_body(receive: Any, length: bytes | None, max_body: int) -> bytes:
    """The request's body, or 413 past `max_body` bytes (from its Content-Length at once)."""
    if length is not None and length.isdigit() and int(length) > max_body:
        raise too_large(max_body)
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "invalid_request", "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_body:
            raise too_large(max_body)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(send: Any, status: int, payload: bytes, headers: dict[str, str]) -> None:
    """A whole JSON answer."""
    response_headers = [_CONTENT_TYPE, (b"content-length", str(len(payload)).encode())]
    response_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status,
                "headers": response_headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})
