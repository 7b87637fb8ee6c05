"""Frames written straight to the socket: well-formed, and really taken on that path."""

from __future__ import annotations

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
