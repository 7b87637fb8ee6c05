"""A trio-websocket client for the tests (the raw one that reads only when told is the
benches' `exchange.bench.rawws.RawWebSocket`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import trio
from trio_websocket import WebSocketConnection, open_websocket_url


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://", 1) + "/v1/ws"


def messages_of(frame: str | bytes) -> list[dict[str, Any]]:
    """A frame carries one message or an array of several."""
    decoded = msgspec.json.decode(frame)
    return decoded if isinstance(decoded, list) else [decoded]


class Socket:
    """A trio-websocket connection that speaks the exchange's messages."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.pending: list[dict[str, Any]] = []
        self._ids = 0

    async def send(self, message: Any) -> None:
        await self.ws.send_message(msgspec.json.encode(message).decode())

    async def next(self, within: float = 5.0) -> dict[str, Any]:
        with trio.fail_after(within):
            while not self.pending:
                self.pending.extend(messages_of(await self.ws.get_message()))
        return self.pending.pop(0)

    async def until(self, kind: str, within: float = 5.0, **fields: Any) -> dict[str, Any]:
        """The first message of type `kind` (and `fields`); the others stay queued."""
        def matches(message: dict[str, Any]) -> bool:
            return message.get("type") == kind and all(
                message.get(key) == value for key, value in fields.items())

        return await self.first(matches, within)

    async def first(self, matches: Any, within: float) -> dict[str, Any]:
        """The first message `matches` accepts; the others stay queued."""
        with trio.fail_after(within):
            seen = 0
            while True:
                for index in range(seen, len(self.pending)):
                    if matches(self.pending[index]):
                        return self.pending.pop(index)
                seen = len(self.pending)
                self.pending.extend(messages_of(await self.ws.get_message()))

    def drop(self, kind: str) -> None:
        """Forgets the queued messages of type `kind`."""
        self.pending = [message for message in self.pending if message.get("type") != kind]

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Sends an op and returns its reply (matched by id); other messages stay queued."""
        self._ids += 1
        op_id = self._ids
        await self.send({"op": op, "id": op_id, **fields})
        return await self.first(lambda message: message.get("id") == op_id, 10.0)


@asynccontextmanager
async def connect(http_url: str, *, api_key: str | None = None,
                  headers: list[tuple[bytes, bytes]] | None = None,
                  queue: int = 1) -> AsyncIterator[Socket]:
    extra = list(headers or [])
    if api_key is not None:
        extra.append((b"Authorization", f"Bearer {api_key}".encode()))
    async with open_websocket_url(ws_url(http_url), extra_headers=extra,
                                  message_queue_size=queue) as ws:
        try:
            yield Socket(ws)
        finally:
            # trio-websocket leaves a client's socket open when the server closed first.
            await ws._stream.aclose()
