"""WebSocket clients for the tests: trio-websocket for the well-behaved ones, and a raw
socket client that controls its receive buffer and can stop reading at will."""

from __future__ import annotations

import base64
import os
import socket
import struct
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


class RawSocket:
    """A WebSocket client on a plain socket: `SO_RCVBUF` chosen before connecting, frames
    read only when asked."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""
        self.status = 0

    @classmethod
    async def open(cls, http_url: str, *, rcvbuf: int = 4096, path: str = "/v1/ws",
                   headers: str = "") -> RawSocket:
        """Connects and upgrades; `self.status` is the answer's status (101: open)."""
        host, port = http_url.removeprefix("http://").split(":")
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        await sock.connect((host, int(port)))
        self = cls(trio.SocketStream(sock))
        key = base64.b64encode(os.urandom(16)).decode()
        await self.stream.send_all(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{headers}\r\n".encode()
        )
        while b"\r\n\r\n" not in self.buffer:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        return self

    async def send(self, message: Any) -> None:
        payload = msgspec.json.encode(message)
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        await self.stream.send_all(header + mask + masked)

    async def frame(self) -> tuple[int, bytes]:
        """The next frame's (opcode, payload); (8, b"") if the connection ended."""
        while True:
            frame = self._parse()
            if frame is not None:
                return frame
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                return 8, b""
            self.buffer += chunk

    def _parse(self) -> tuple[int, bytes] | None:
        data = self.buffer
        if len(data) < 2:
            return None
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        offset = 2
        if length == 126:
            if len(data) < 4:
                return None
            length, offset = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                return None
            length, offset = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < offset + length:
            return None
        self.buffer = data[offset + length:]
        return opcode, data[offset:offset + length]

    async def aclose(self) -> None:
        await self.stream.aclose()
