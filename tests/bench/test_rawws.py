"""`RawWebSocket` (the benches' minimal client) against trio-websocket's server (the fake)."""

from __future__ import annotations

import json

import pytest
import trio

from client.fake_ws import FakeServer, start_fake
from exchange.bench.rawws import RawClosed, RawWebSocket

ORDER = {"symbol": "X-Y", "side": "buy", "type": "limit", "quantity": "1", "price": "2"}


async def _replies(ws: RawWebSocket, count: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    with trio.fail_after(5):
        while len(out) < count:
            for payload in await ws.receive():
                decoded = json.loads(payload)
                out.extend(decoded if isinstance(decoded, list) else [decoded])
    return out


@pytest.mark.parametrize("size", [10, 200, 70_000])  # 7-bit, 16-bit and 64-bit lengths
async def test_frames_of_every_length_round_trip(nursery: trio.Nursery, size: int) -> None:
    fake = await start_fake(nursery, FakeServer())
    ws = await RawWebSocket.open(fake.url, api_key="good-key")
    try:
        note = "x" * size
        await ws.send_text(json.dumps([{"op": "ping", "id": 1},
                                       {"op": "place", "id": 2,
                                        "order": {**ORDER, "note": note}}]).encode())
        replies = await _replies(ws, 2)
    finally:
        await ws.aclose()
    assert replies[0] == {"type": "pong", "id": 1}
    assert replies[1]["id"] == 2
    assert replies[1]["order"]["note"] == note  # type: ignore[index]


async def test_large_server_frames_and_auth_by_header(nursery: trio.Nursery) -> None:
    levels = [[f"{price}.00", "1"] for price in range(1, 5000)]
    snapshot = {"type": "snapshot", "channel": "book.X-Y", "sequence": 1, "bids": levels,
                "asks": []}
    fake = await start_fake(nursery, FakeServer(book_frames=[[snapshot]]))
    ws = await RawWebSocket.open(fake.url)
    try:
        await ws.send_text(b'{"op":"subscribe","id":1,"channels":["book.X-Y"]}')
        replies = await _replies(ws, 3)
        await ws.send_text(json.dumps({"op": "place", "id": 2, "order": ORDER}).encode())
        refused = await _replies(ws, 1)
    finally:
        await ws.aclose()
    assert [reply["type"] for reply in replies] == ["subscribed", "heartbeat", "snapshot"]
    assert replies[2]["bids"] == levels
    assert refused[0]["error"] == {"code": "unauthorized", "message": "unauthorized"}


async def test_server_close_raises_with_its_code(nursery: trio.Nursery) -> None:
    fake = await start_fake(nursery, FakeServer(close_with=4008))
    ws = await RawWebSocket.open(fake.url, api_key="good-key")
    try:
        await ws.send_text(json.dumps({"op": "place", "id": 1, "order": ORDER}).encode())
        with trio.fail_after(5), pytest.raises(RawClosed) as caught:
            await ws.receive()
    finally:
        await ws.aclose()
    assert caught.value.code == 4008
