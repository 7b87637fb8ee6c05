"""A minimal WebSocket client for the load generators (RFC 6455, text frames, no extensions).

trio-websocket (on wsproto) costs tens of microseconds of CPU per frame, which on this
two-core machine would measure the load generator rather than the server, and the fan-out
bench runs a thousand connections in one process. This client does the handshake over a
trio socket stream, sends masked text frames, and parses the server's frames from one
buffer: `receive()` returns every complete message that has arrived. It answers pings,
and raises `RawClosed` with the close code when the server closes. The tests use it too,
for a client whose receive buffer they choose and that reads only when they say.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import random
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

import trio

from exchange.client.socket import websocket_url
from exchange.web.frames import frame_header, masked

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA


class RawClosed(Exception):
    """The server closed the connection (`code` and `reason` from its close frame, 1006
    without one)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"WebSocket closed with code {code}")
        self.code = code
        self.reason = reason


class UpgradeRefused(ConnectionError):
    """The server answered the upgrade with `status` (and `body`) instead of 101."""

    def __init__(self, status: int, line: str, body: bytes) -> None:
        super().__init__(f"WebSocket upgrade refused: {line}")
        self.status = status
        self.body = body


def frame(payload: bytes, opcode: int = _TEXT) -> bytes:
    """One final, masked client frame."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, 0x80 | size))
    elif size < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    mask = random.getrandbits(32).to_bytes(4, "big")
    return head + mask + masked(mask, payload)


class RawWebSocket:
    """One client connection; `open` does the handshake."""

    def __init__(self, stream: trio.SocketStream, buffer: bytes = b"") -> None:
        self.stream = stream
        self.buffer = bytearray(buffer)
        self._fragments: list[bytes] = []
        self.close_code: int | None = None

    @classmethod
    async def open(cls, url: str, api_key: str | None = None, *, rcvbuf: int | None = None,
                   extra_headers: Sequence[tuple[str, str]] = ()
                   ) -> RawWebSocket:
        """Connects and upgrades (`UpgradeRefused` otherwise). `rcvbuf` sets the socket's
        receive buffer before connecting (a small one makes a slow reader quickly);
        `extra_headers` go on the upgrade request as they are (repeated names too)."""
        parts = urlsplit(websocket_url(url))
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        if rcvbuf is None:
            stream = await trio.open_tcp_stream(host, port)
        else:
            sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            try:
                await sock.connect((host, port))
            except BaseException:
                sock.close()
                raise
            stream = trio.SocketStream(sock)
        try:
            key = base64.b64encode(os.urandom(16))
            auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
            auth += "".join(f"{name}: {value}\r\n" for name, value in extra_headers)
            await stream.send_all(
                f"GET {parts.path or '/v1/ws'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
                f"{auth}\r\n".encode())
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    raise ConnectionError("connection closed during the WebSocket handshake")
                received += chunk
            head, _, rest = received.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            headers = {name.strip().lower(): value.strip()
                       for name, _, value in (line.partition(b":") for line in lines[1:])}
            if b" 101 " not in lines[0] + b" ":
                length = int(headers.get(b"content-length", b"0"))
                while len(rest) < length:
                    chunk = await stream.receive_some(65536)
                    if not chunk:
                        break
                    rest += chunk
                raise UpgradeRefused(int(lines[0].split(b" ")[1]), lines[0].decode(),
                                     rest[:length])
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            if headers.get(b"sec-websocket-accept") != accept:
                raise ConnectionError("bad Sec-WebSocket-Accept in the upgrade response")
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return cls(stream, rest)

    async def send_text(self, payload: bytes) -> None:
        await self.stream.send_all(frame(payload))

    async def send_texts(self, payloads: Sequence[bytes]) -> None:
        """One text frame each, written together (one system call)."""
        await self.stream.send_all(b"".join(frame(payload) for payload in payloads))

    async def receive(self) -> list[bytes]:
        """Every complete text message received so far, waiting for at least one."""
        while True:
            messages = await self._parse()
            if messages:
                return messages
            chunk = await self.stream.receive_some(262144)
            if not chunk:
                self.close_code = self.close_code or 1006
                raise RawClosed(self.close_code)
            self.buffer += chunk

    async def _parse(self) -> list[bytes]:
        buffer, messages, offset, end = self.buffer, [], 0, len(self.buffer)
        try:
            while (header := frame_header(buffer, offset, end)) is not None:
                first, second, size, start = header
                mask = b""
                if second & 0x80:  # servers do not mask, but tolerate it
                    mask, start = bytes(buffer[start:start + 4]), start + 4
                if end - start < size:
                    break
                payload = bytes(buffer[start:start + size])
                offset = start + size
                if mask:
                    payload = masked(mask, payload)
                opcode = first & 0x0F
                if opcode == _PING:
                    await self.stream.send_all(frame(payload, _PONG))
                elif opcode == _CLOSE:
                    self.close_code = int.from_bytes(payload[:2], "big") if size >= 2 else 1005
                    await self._answer_close()
                    raise RawClosed(self.close_code, payload[2:].decode(errors="replace"))
                elif opcode != _PONG:
                    self._fragments.append(payload)
                    if first & 0x80:  # FIN: the message is complete
                        messages.append(b"".join(self._fragments))
                        self._fragments.clear()
        finally:
            del buffer[:offset]
        return messages

    async def _answer_close(self) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self.stream.send_all(frame(b"", _CLOSE))

    async def aclose(self) -> None:
        """Sends a close frame (best effort) and closes the TCP stream."""
        try:
            if self.close_code is None:
                self.close_code = 1000
                with trio.move_on_after(0.5):
                    await self._answer_close()
        finally:
            await trio.aclose_forcefully(self.stream)
