"""Frames written straight to the socket: well-formed, and really taken on that path."""

from __future__ import annotations

import msgspec
import pytest
import trio
from wsproto.frame_protocol import FrameProtocol, Opcode

from exchange.web.frames import text_frame

from .support import Exchange
from .wsclient import connect


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 300_000])
def test_text_frames_parse_as_one_final_text_frame(size: int) -> None:
    text = ("é" * (size // 2)) + ("x" * (size % 2))  # two bytes each, then one
    payload = text.encode()
    reader = FrameProtocol(client=True, extensions=[])
    reader.receive_bytes(text_frame(payload))
    frames = list(reader.received_frames())
    assert len(frames) == 1
    assert frames[0].opcode is Opcode.TEXT
    assert frames[0].frame_finished
    assert frames[0].message_finished
    assert frames[0].payload == text
    assert len(payload) == size


async def test_websocket_frames_take_the_direct_path(exchange: Exchange) -> None:
    await exchange.instrument("BTC-USD")
    trader = await exchange.trader("t", USD="100000000")
    async with connect(exchange.url, api_key=trader.api_key, queue=512) as ws:
        # A book of 4,000 levels: its snapshot is one frame of over 64 KiB.
        for start in range(0, 4000, 500):
            await ws.send([{"op": "place", "id": start + i, "order": {
                "symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.001",
                "price": f"{1000 + start + i}.5"}} for i in range(500)])
            for _ in range(500):
                assert (await ws.until("result"))["order"]["status"] == "new"
        hub = exchange.server.services.websockets
        assert hub is not None
        assert [c.direct for c in hub.connections] == [True]
        await ws.call("subscribe", channels=["book.BTC-USD"])
        with trio.fail_after(10):
            snapshot = await ws.until("snapshot")
        assert len(snapshot["bids"]) == 4000
        assert snapshot["bids"][0] == ["4999.5", "0.001"]
        assert (await ws.call("ping"))["type"] == "pong"


# -- FrameReader: the Binance WebSocket connections' frames, read straight from hypercorn --


def _client_frame(payload: bytes, opcode: int = 0x1, fin: bool = True) -> bytes:
    """A masked client frame (any opcode, final or not), mask 0 for a readable test."""
    size = len(payload)
    head = bytes(((0x80 if fin else 0) | opcode,))
    if size < 126:
        head += bytes((0x80 | size,))
    elif size < 65536:
        head += bytes((0x80 | 126,)) + size.to_bytes(2, "big")
    else:
        head += bytes((0x80 | 127,)) + size.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload  # a zero mask leaves the payload as it is


def _ping(request_id: int) -> bytes:
    return _client_frame(b'{"id":%d,"method":"ping"}' % request_id)


async def _server_frames(stream: trio.SocketStream, count: int) -> list[tuple[int, bytes]]:
    """The next `count` frames the server sends, (opcode, payload), control frames too."""
    buffer, frames = b"", []
    with trio.fail_after(10):
        while len(frames) < count:
            while len(buffer) >= 2:
                size, start = buffer[1] & 0x7F, 2
                if size == 126:
                    size, start = int.from_bytes(buffer[2:4], "big"), 4
                if len(buffer) < start + size:
                    break
                frames.append((buffer[0] & 0x0F, buffer[start:start + size]))
                buffer = buffer[start + size:]
            if len(frames) < count:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    frames.append((0x8, b"\x03\xee"))  # closed without a frame: 1006
                buffer += chunk
    return frames


@pytest.fixture
def reader_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many texts each direct read handed the app."""
    from exchange.web import frames

    calls: list[int] = []
    unmasked = frames._unmasked_text

    def counted(buffer: bytearray, start: int, size: int) -> str | None:
        calls.append(size)
        return unmasked(buffer, start, size)

    monkeypatch.setattr(frames, "_unmasked_text", counted)
    return calls


async def test_binance_frames_take_the_direct_path(nursery: trio.Nursery,
                                                   reader_calls: list[int]) -> None:
    from exchange.bench.rawws import RawWebSocket
    from web.support import start_exchange

    running = await start_exchange(nursery)
    ws = await RawWebSocket.open(running.url + "/ws-api/v3")
    stream = ws.stream
    # 200 requests in one write, then one split across writes mid-header and mid-payload.
    await stream.send_all(b"".join(_ping(index) for index in range(200)))
    split = _ping(200)
    for part in (split[:1], split[1:9], split[9:]):
        await stream.send_all(part)
        await trio.sleep(0.05)
    answers = [msgspec.json.decode(payload)
               for _, payload in await _server_frames(stream, 201)]
    assert [answer["id"] for answer in answers] == list(range(201))
    assert all(answer["result"] == {} for answer in answers)
    assert len(reader_calls) == 201  # every one of them parsed here, not by wsproto
    # wsproto's frames, in order with the texts around them: a ping, a fragmented message.
    await stream.send_all(_ping(300) + _client_frame(b"hello", opcode=0x9)
                          + _client_frame(b'{"id":301,', fin=False)
                          + _client_frame(b'"method":"ping"}', opcode=0x0) + _ping(302))
    got = await _server_frames(stream, 4)
    assert (0xA, b"hello") in got  # the pong (hypercorn's, so not queued with the answers)
    assert [msgspec.json.decode(payload)["id"] for opcode, payload in got
            if opcode == 0x1] == [300, 301, 302]
    assert len(reader_calls) == 203  # the fragments went to wsproto
    await ws.aclose()
    await running.admin.aclose()
    running.server.shutdown()


@pytest.mark.parametrize(("frame", "codes"), [
    # Not UTF-8: wsproto fails the connection, which hypercorn drops without a close frame.
    (_client_frame(b'{"id":1,"method":"ping"}\xff'), {1006, 1007}),
    (_client_frame(b"x" * 2_000_000), {1009}),  # over max_ws_message_bytes
    (_client_frame(b"\x03\xe8", opcode=0x8), {1000}),  # the client closes
])
async def test_binance_frames_wsproto_refuses_or_closes(nursery: trio.Nursery, frame: bytes,
                                                        codes: set[int]) -> None:
    from exchange.bench.rawws import RawWebSocket
    from web.support import start_exchange

    running = await start_exchange(nursery)
    ws = await RawWebSocket.open(running.url + "/ws-api/v3")
    await ws.stream.send_all(_ping(1))
    assert msgspec.json.decode((await _server_frames(ws.stream, 1))[0][1])["id"] == 1
    await ws.stream.send_all(frame)
    (opcode, payload), = await _server_frames(ws.stream, 1)
    assert opcode == 0x8  # hypercorn's close, wsproto's verdict
    assert int.from_bytes(payload[:2], "big") in codes
    await ws.aclose()
    await running.admin.aclose()
    running.server.shutdown()
