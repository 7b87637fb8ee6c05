"""A tiny scripted stand-in for the server's `/v1/ws` (trio-websocket), for client tests.

It answers `ping`, `auth` (key `good-key`, or the upgrade's `Authorization` header),
`place` (after a random delay, so replies come back out of order; quantity "0" is an
`invalid_request`), `subscribe`/`unsubscribe`; after each `subscribe` to a book it sends the
next frames of `book_frames`. Replies are sent as JSON arrays of one message, channel
frames as given (an object or an array).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, WebSocketRequest, serve_websocket

Json = dict[str, Any]


@dataclass
class FakeServer:
    book_frames: list[list[Any]] = field(default_factory=list)  # per subscribe, its frames
    received: list[Json] = field(default_factory=list)
    port: int = 0
    close_with: int | None = None  # close with this code instead of answering a place
    _subscriptions: int = 0
    _orders: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handler(self, request: WebSocketRequest) -> None:
        account = 7 if (b"authorization", b"Bearer good-key") in [
            (name.lower(), value) for name, value in request.headers] else None
        ws = await request.accept()
        async with trio.open_nursery() as nursery:
            try:
                while True:
                    decoded = json.loads(await ws.get_message())
                    for op in decoded if isinstance(decoded, list) else [decoded]:
                        self.received.append(op)
                        account = await self._handle(ws, nursery, op, account)
            except ConnectionClosed:
                pass

    async def _handle(self, ws: WebSocketConnection, nursery: trio.Nursery, op: Json,
                      account: int | None) -> int | None:
        reply: Json = {"id": op["id"]} if "id" in op else {}
        match op.get("op"):
            case "ping":
                await _send(ws, [{"type": "pong", **reply}])
            case "auth":
                if op.get("api_key") == "good-key":
                    account = 7
                    await _send(ws, [{"type": "authenticated", "account_id": 7, **reply}])
                else:
                    await _error(ws, reply, "unauthorized")
            case "subscribe" | "unsubscribe" as kind:
                await _send(ws, [{"type": f"{kind}d", "channels": op["channels"], **reply}])
                if kind == "subscribe" and any(c.startswith("book.") for c in op["channels"]):
                    await _send(ws, {"type": "heartbeat", "ts": "2026-12-01T00:00:00.000000Z"})
                    frames = self.book_frames[self._subscriptions]
                    self._subscriptions += 1
                    for frame in frames:
                        await _send(ws, frame)
            case "place":
                if account is None:
                    await _error(ws, reply, "unauthorized")
                elif op["order"].get("quantity") == "0":
                    await _error(ws, reply, "invalid_request")
                else:
                    self._orders += 1
                    order = {**op["order"], "order_id": self._orders, "status": "new"}
                    nursery.start_soon(self._late_reply, ws, {"type": "result", **reply,
                                                              "order": order})
            case _:
                await _error(ws, reply, "invalid_request")
        return account

    async def _late_reply(self, ws: WebSocketConnection, message: Json) -> None:
        await trio.sleep(random.random() * 0.05)
        try:
            if self.close_with is not None:
                await ws.aclose(self.close_with, "slow consumer")
            else:
                await _send(ws, [message])
        except ConnectionClosed:
            pass


async def _send(ws: WebSocketConnection, frame: Any) -> None:
    await ws.send_message(json.dumps(frame))


async def _error(ws: WebSocketConnection, reply: Json, code: str) -> None:
    await _send(ws, [{"type": "error", **reply, "error": {"code": code, "message": code}}])


async def start_fake(nursery: trio.Nursery, fake: FakeServer) -> FakeServer:
    server = await nursery.start(serve_websocket, fake.handler, "127.0.0.1", 0, None)
    fake.port = server.port
    return fake
