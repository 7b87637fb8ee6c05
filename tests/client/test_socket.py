"""`ExchangeSocket` and `BookWatcher` against the scripted fake server (`fake_ws.py`)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import trio

from exchange.client import (
    BookWatcher,
    ExchangeError,
    SocketClosed,
    open_exchange_socket,
    watch_book,
    websocket_url,
)

from .fake_ws import FakeServer, start_fake

D = Decimal
ORDER = {"symbol": "X-Y", "side": "buy", "type": "limit", "quantity": "1", "price": "2"}


@pytest.mark.parametrize(("given", "expected"), [
    ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/v1/ws"),
    ("http://127.0.0.1:8000/", "ws://127.0.0.1:8000/v1/ws"),
    ("https://example.com", "wss://example.com/v1/ws"),
    ("ws://h:1/v1/ws", "ws://h:1/v1/ws"),
    ("ws://h:1", "ws://h:1/v1/ws"),
])
def test_websocket_url(given: str, expected: str) -> None:
    assert websocket_url(given) == expected


async def test_concurrent_requests_get_their_own_replies(nursery: trio.Nursery) -> None:
    fake = await start_fake(nursery, FakeServer())
    async with open_exchange_socket(fake.url, api_key="good-key") as socket:
        assert await socket.ping() > 0
        results: dict[int, dict[str, object]] = {}

        async def place(index: int) -> None:
            results[index] = await socket.place({**ORDER, "client_order_id": f"c{index}"})

        async with trio.open_nursery() as inner:
            for index in range(30):
                inner.start_soon(place, index)
    assert len(results) == 30
    for index, order in results.items():
        assert order["client_order_id"] == f"c{index}"
    ids = [op["id"] for op in fake.received]
    assert len(set(ids)) == len(ids)  # every op got its own id


async def test_error_reply_raises_with_code_and_the_socket_lives_on(
        nursery: trio.Nursery) -> None:
    fake = await start_fake(nursery, FakeServer())
    async with open_exchange_socket(fake.url) as socket:
        with pytest.raises(ExchangeError) as caught:
            await socket.place(ORDER)
        assert caught.value.code == "unauthorized"
        assert caught.value.status == 401
        with pytest.raises(ExchangeError) as caught:
            await socket.authenticate("bad-key")
        assert caught.value.code == "unauthorized"
        assert await socket.authenticate("good-key") == 7
        with pytest.raises(ExchangeError) as caught:
            await socket.place({**ORDER, "quantity": "0"})
        assert caught.value.code == "invalid_request"
        assert (await socket.place(ORDER))["status"] == "new"


async def test_channel_messages_stream_in_order_and_heartbeats_are_consumed(
        nursery: trio.Nursery) -> None:
    frames = [[{"type": "snapshot", "channel": "book.X-Y", "sequence": 1, "bids": [],
                "asks": []}],
              [{"type": "update", "channel": "book.X-Y", "first_sequence": 2, "sequence": 2,
                "bids": [["1", "1"]], "asks": []},
               {"type": "trade", "channel": "trades.X-Y", "trade_id": 1}],
              {"type": "update", "channel": "book.X-Y", "first_sequence": 3, "sequence": 3,
               "bids": [], "asks": []}]
    fake = await start_fake(nursery, FakeServer(book_frames=[frames]))
    async with open_exchange_socket(fake.url) as socket:
        assert await socket.subscribe(["book.X-Y", "trades.X-Y"]) == ["book.X-Y", "trades.X-Y"]
        kinds = [(await socket.receive())["type"] for _ in range(4)]
        assert kinds == ["snapshot", "update", "trade", "update"]
        assert socket.last_heartbeat is not None


async def test_close_fails_pending_requests_and_ends_the_stream(nursery: trio.Nursery) -> None:
    fake = await start_fake(nursery, FakeServer(close_with=4008))
    async with open_exchange_socket(fake.url, api_key="good-key") as socket:
        with pytest.raises(SocketClosed) as caught:
            await socket.place(ORDER)
        assert caught.value.code == 4008
        assert [message async for message in socket] == []
        with pytest.raises(SocketClosed):
            await socket.ping()


def _update(first: int, last: int, bids: list[list[str]]) -> dict[str, object]:
    return {"type": "update", "channel": "book.X-Y", "first_sequence": first, "sequence": last,
            "bids": bids, "asks": []}


async def test_watcher_resubscribes_on_a_gap(nursery: trio.Nursery) -> None:
    first = [{"type": "snapshot", "channel": "book.X-Y", "sequence": 5,
              "bids": [["10", "1"]], "asks": [["11", "1"]]},
             _update(6, 6, [["9", "2"]]),
             _update(8, 8, [["8", "3"]]),  # 7 is missing
             _update(9, 9, [["7", "3"]])]  # the old subscription's tail
    second = [{"type": "snapshot", "channel": "book.X-Y", "sequence": 9,
               "bids": [["10", "1"], ["9", "2"], ["8", "3"], ["7.5", "1"]], "asks": []},
              _update(10, 10, [["7.5", "0"]])]
    fake = await start_fake(nursery, FakeServer(book_frames=[first, second]))
    async with watch_book(fake.url, "X-Y") as watcher:
        with trio.fail_after(5):
            await watcher.wait_for_sequence(10)
        assert isinstance(watcher, BookWatcher)
        assert watcher.resubscribes == 1
        assert watcher.book.bids() == [(D(10), D(1)), (D(9), D(2)), (D(8), D(3))]
        assert watcher.book.asks() == []
    ops = [op["op"] for op in fake.received]
    assert ops == ["subscribe", "unsubscribe", "subscribe"]


async def test_errors_leave_the_block_as_themselves(nursery: trio.Nursery) -> None:
    fake = await start_fake(nursery, FakeServer())
    with pytest.raises(ExchangeError) as caught:
        async with open_exchange_socket(fake.url) as socket:
            await socket.place(ORDER)  # unauthorized, not caught inside
    assert caught.value.code == "unauthorized"
