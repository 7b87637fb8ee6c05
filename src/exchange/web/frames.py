"""Writing WebSocket text frames straight to the connection's socket.

A frame sent through ASGI costs hypercorn about 100 µs of CPU here (wsproto, the HTTP/1.1
wrapper, a lock, a shielded cancel scope and trio's `send_all` with its checkpoints) while
the `send` system call itself is a tenth of it; with a thousand subscribers that is the
whole server. So for an HTTP/1.1 WebSocket on a plain TCP socket, `FrameWriter` frames the
text itself (server frames are unmasked: a header and the payload) and writes it with one
non-blocking `os.write` while holding hypercorn's own send lock, so its frames never
interleave with the ones hypercorn sends (pongs, the close). What the socket does not take
at once is sent with `send_all` under the same lock and shield, as hypercorn does.

This reaches into hypercorn's connection objects (`WSStream` -> `H11Protocol` ->
`TCPServer`); `FrameWriter` checks each step and otherwise sends through ASGI as usual, and
a test fails if the version installed is not taken on the direct path.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from wsproto.connection import ConnectionState

Send = Callable[[dict[str, Any]], Awaitable[None]]


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (RFC 6455 5.2) carrying `payload`."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


class FrameWriter:
    """Sends text messages on one accepted WebSocket; see the module docstring."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._stream: Any = None
        self._tcp: Any = None
        self._lock: trio.Lock | None = None
        self._fd = -1
        self._ws: Any = None
        wsstream = getattr(send, "__self__", None)
        protocol = getattr(getattr(wsstream, "send", None), "__self__", None)
        tcp = getattr(getattr(protocol, "send", None), "__self__", None)
        stream = getattr(tcp, "stream", None)
        lock = getattr(tcp, "send_lock", None)
        if (type(wsstream).__name__ == "WSStream" and type(protocol).__name__ == "H11Protocol"
                and isinstance(stream, trio.SocketStream) and isinstance(lock, trio.Lock)
                and hasattr(wsstream, "closed")):
            self._ws = wsstream
            self._tcp = tcp
            self._stream = stream
            self._lock = lock
            self._fd = stream.socket.fileno()

    @property
    def direct(self) -> bool:
        """Whether frames go straight to the socket."""
        return self._lock is not None

    async def send_text(self, text: str) -> None:
        lock = self._lock
        # Once hypercorn has closed the stream or the socket (its descriptor -1 then, so
        # never another connection's), or a close frame went out, ASGI's send does the right
        # thing: nothing.
        if (lock is None or self._ws.closed or self._stream.socket.fileno() != self._fd
                or getattr(getattr(self._ws, "connection", None), "state", None)
                is not ConnectionState.OPEN):
            await self._send({"type": "websocket.send", "text": text})
            return
        data = text_frame(text.encode())
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:  # hypercorn is sending: wait for it, through ASGI
            await self._send({"type": "websocket.send", "text": text})
            return
        failed = False
        try:
            try:
                sent = os.write(self._fd, data)
            except BlockingIOError:
                sent = 0
            if sent < len(data):
                # As hypercorn does: a frame half written would break the stream.
                with trio.CancelScope(shield=True):
                    await self._stream.send_all(memoryview(data)[sent:])
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            failed = True
        finally:
            lock.release()
        if failed:  # the peer is gone: let hypercorn find out and close, its own way
            self._lock = None
            await self._send({"type": "websocket.send", "text": text})
