"""Writing WebSocket text frames straight to the connection's socket (`FrameWriter`), and
reading them straight from hypercorn's bytes (`FrameReader`, at the end).

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

import dataclasses
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


TEXTS = "texts"  # the key of a `websocket.receive` that carries several texts (FrameReader)


class FrameReader:
    """Takes a WebSocket's text frames straight from hypercorn's bytes, several at a time.

    Through ASGI each frame a client sends costs the server wsproto's parse (a generator,
    frame and event objects, an incremental UTF-8 decoder) and a trio channel hop to the
    app, tens of microseconds each, which for a protocol of one request a frame (Binance's
    WebSocket API) is most of a request. So, like `FrameWriter`, this reaches into
    hypercorn's `WSStream` (its `handle`, per chunk of bytes read) and, for an HTTP/1.1
    WebSocket without extensions, parses the frames itself: every final, masked text frame
    of a chunk is unmasked and decoded, and the lot goes to the app in one
    `websocket.receive` whose `texts` lists them (the app's reader takes both shapes).

    Anything else (pings, pongs, the close, binary or fragmented messages, invalid UTF-8)
    is handed to wsproto as it is, a whole frame at a time, in order with the texts around
    it, so hypercorn answers and closes its own way; a frame longer than `max_message`
    hands wsproto everything from there on. hypercorn's own `app_put` carries the texts, so
    its queue's bound (and TCP backpressure) still holds. If hypercorn's objects are not
    what is expected, nothing is changed and frames arrive through ASGI as usual (`direct`
    says which); the tests check that the installed version takes the direct path.
    """

    def __init__(self, send: Send, max_message: int) -> None:
        self.direct = False
        self._max = max_message
        self._buffer = bytearray()
        self._off = False  # from an oversized frame on: all of it is wsproto's
        self._ws: Any = None
        self._proto: Any = None
        self._decoder: Any = None
        self._handle: Any = None
        wsstream = getattr(send, "__self__", None)
        connection = getattr(wsstream, "connection", None)
        proto = getattr(connection, "_proto", None)
        decoder = getattr(proto, "_frame_decoder", None)
        if (type(wsstream).__name__ != "WSStream" or proto is None or decoder is None
                or getattr(proto, "extensions", True) or not callable(
                    getattr(wsstream, "app_put", None))
                or not hasattr(getattr(wsstream, "buffer", None), "value")
                or not hasattr(getattr(decoder, "buffer", None), "buffer")
                or not hasattr(getattr(proto, "_message_decoder", None), "opcode")):
            return
        self._ws, self._proto, self._decoder = wsstream, proto, decoder
        if not self._clean():
            return  # bytes already in wsproto's hands: it keeps the connection
        self._handle = self._ws.handle
        self._ws.handle = self._take  # the instance's attribute, ahead of the class's method
        self.direct = True

    def _clean(self) -> bool:
        """Whether wsproto and hypercorn hold no part of a frame or of a message."""
        decoder = self._decoder
        return (not decoder.buffer.buffer and decoder.header is None
                and self._proto._message_decoder.opcode is None
                and self._ws.buffer.value is None
                and getattr(self._ws.connection, "state", None) is ConnectionState.OPEN)

    async def _take(self, event: Any) -> None:
        """hypercorn's `WSStream.handle`, for this connection."""
        if self._off or type(event).__name__ != "Data":
            await self._handle(event)
            return
        buffer = self._buffer
        buffer += event.data
        texts: list[str] = []
        offset, end = 0, len(buffer)
        while True:
            header = frame_header(buffer, offset, end)
            if header is None:
                break  # the rest of this frame's header is still to come
            first, second, size, start = header
            if size > self._max:
                self._off = True
                break
            is_masked = second & 0x80
            stop = start + (4 if is_masked else 0) + size
            if stop > end:
                break  # the rest of this frame is still to come
            if first == 0x81 and is_masked and self._clean():
                text = _unmasked_text(buffer, start, size)
                if text is not None:
                    texts.append(text)
                    offset = stop
                    continue
            if texts:
                await self._ws.app_put({"type": "websocket.receive", "text": None,
                                        "bytes": None, TEXTS: texts})
                texts = []
            await self._handle(dataclasses.replace(event, data=bytes(buffer[offset:stop])))
            offset = stop
        if texts:
            await self._ws.app_put({"type": "websocket.receive", "text": None,
                                    "bytes": None, TEXTS: texts})
        if self._off:
            rest = bytes(buffer[offset:])
            buffer.clear()
            await self._handle(dataclasses.replace(event, data=rest))
        else:
            del buffer[:offset]


def frame_header(buffer: bytes | bytearray, offset: int, end: int
                 ) -> tuple[int, int, int, int] | None:
    """The frame at `offset`: (first byte, second byte, payload size, where the masking key
    or the payload starts), or None if its header is not all in `buffer[:end]` yet."""
    if end - offset < 2:
        return None
    first, second = buffer[offset], buffer[offset + 1]
    size, start = second & 0x7F, offset + 2
    if size == 126:
        if end - start < 2:
            return None
        size, start = int.from_bytes(buffer[start:start + 2], "big"), start + 2
    elif size == 127:
        if end - start < 8:
            return None
        size, start = int.from_bytes(buffer[start:start + 8], "big"), start + 8
    return first, second, size, start


def masked(mask: bytes, payload: bytes) -> bytes:
    """`payload` XORed with the 4-byte `mask` (RFC 6455 5.3: masking and unmasking)."""
    size = len(payload)
    if not size:
        return payload
    # XOR as one big integer: a C loop instead of a Python loop over the bytes.
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def _unmasked_text(buffer: bytearray, start: int, size: int) -> str | None:
    """The text of the masked payload at `start` (its key first), None if not UTF-8."""
    try:
        return masked(bytes(buffer[start:start + 4]),
                      bytes(buffer[start + 4:start + 4 + size])).decode()
    except UnicodeDecodeError:
        return None
