"""Writing WebSocket text frames straight to the connection's socket.

A frame sent through ASGI costs hypercorn about 100 µs of CPU here (wsproto, the HTTP/1.1
wrapper, a lock, a shielded cancel scope and trio's `send_all` with its checkpoints) while
the `send` system call itself is a tenth of it; with a thousand subscribers that is the
whole server. So for an HTTP/1.1 WebSocket on a plain TCP socket, `FrameWriter` frames the
text itself (server frames are unmasked: a header and the payload) and writes it with one
non-blocking `os.write` while holding hypercorn's own send lock, so its frames never
interleave with the ones hypercorn sends (pongs, the close). What the socket does not take
at once is sent with `send_all` under the same lock and shield, as hypercorn does.

The writer also watches the peer (`stalled`): data it wrote that the peer's TCP has not
acknowledged sits in the kernel's send buffer, megabytes of it on loopback, long before the
writer itself blocks; a peer that stops reading stops acknowledging once its receive buffer
is full, and the kernel resets the connection `send_timeout` later (TCP_USER_TIMEOUT). So the
connection asks the kernel (SIOCOUTQ: bytes not yet acknowledged) now and then, and counts
the time during which that backlog was there and none of it was acknowledged. `abort` resets
the connection, which also ends a send blocked in hypercorn's shielded scope.

This reaches into hypercorn's connection objects (`WSStream` -> `H11Protocol` ->
`TCPServer`); `FrameWriter` checks each step and otherwise sends through ASGI as usual, and
a test fails if the version installed is not taken on the direct path.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import trio
from wsproto.connection import ConnectionState

Send = Callable[[dict[str, Any]], Awaitable[None]]

# SIOCOUTQ (Linux: the same number as TIOCOUTQ): bytes in a TCP socket's send queue that the
# peer has not acknowledged, sent or not. Elsewhere only the kernel's timeout applies.
if sys.platform == "linux":
    import fcntl
    import termios

    _OUTQ: int | None = termios.TIOCOUTQ
else:
    _OUTQ = None
_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close sends RST and drops the queue


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
        self._written = 0  # bytes of the frames written to the socket, all told
        self._acked = -1  # _written minus the send queue at the last `stalled` (-1: none yet)
        self._since = 0.0  # since when the send queue has been there, none of it acknowledged
        self._clear = -1  # _written when the send queue was last found empty (-1: it was not)
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

    def _socket(self) -> Any:
        """The connection's socket while it is open, else None. Once hypercorn has closed
        it, its descriptor is -1, so never another connection's."""
        if self._lock is None or self._stream.socket.fileno() != self._fd:
            return None
        return self._stream.socket

    def stalled(self, now: float) -> float:
        """Seconds (of `now`, `time.monotonic()`) for which the peer has left what was
        written unacknowledged without acknowledging any of it; 0 if it has nothing
        outstanding or the kernel cannot tell. Called now and then, not per frame."""
        if _OUTQ is None or self._clear == self._written or self._socket() is None:
            return 0.0  # (nothing written since the queue was empty: no system call)
        try:
            queued = struct.unpack("i", fcntl.ioctl(self._fd, _OUTQ, b"\0\0\0\0"))[0]
        except OSError:
            return 0.0
        acked = self._written - queued
        # hypercorn's own frames (pongs, the close) are not counted in _written: they make
        # `acked` move, which reads as progress, so they can only delay the verdict.
        if not queued or acked != self._acked:
            self._acked = acked
            self._since = now
            self._clear = -1 if queued else self._written
            return 0.0
        return now - self._since

    def abort(self) -> None:
        """Resets the connection (RST, nothing more is delivered): a send blocked on it,
        hypercorn's included, fails at once, and hypercorn closes it. Only on the direct
        path; otherwise the kernel's TCP_USER_TIMEOUT does it, later."""
        sock = self._socket()
        if sock is None:
            return
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already gone
            pass

    async def send_text(self, text: str) -> None:
        await self.send_texts((text,))

    async def send_texts(self, texts: Sequence[str]) -> None:
        """Each text in a frame of its own (for clients that read one message a frame),
        written together: one system call for them all on the direct path."""
        lock = self._lock
        # Once hypercorn has closed the stream or the socket, or a close frame went out,
        # ASGI's send does the right thing: nothing.
        if (lock is None or self._ws.closed or self._socket() is None
                or getattr(getattr(self._ws, "connection", None), "state", None)
                is not ConnectionState.OPEN):
            await self._through_asgi(texts)
            return
        data = b"".join(text_frame(text.encode()) for text in texts)
        self._written += len(data)
        try:
            lock.acquire_nowait()
        except trio.WouldBlock:  # hypercorn is sending: wait for it, through ASGI
            await self._through_asgi(texts)
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
            await self._through_asgi(texts)

    async def _through_asgi(self, texts: Sequence[str]) -> None:
        for text in texts:
            await self._send({"type": "websocket.send", "text": text})
