"""The Binance partial-depth and ticker streams: their shapes and values over a raw
WebSocket, with the unmodified ccxt.pro (`watch_ticker`, `watch_tickers`) and
python-binance's socket manager (a partial-depth socket), and a consumer of them that stops
reading is dropped (4008) while the others and the engine go on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import trio
import trio_websocket
from binance import AsyncClient, BinanceSocketManager

from exchange.bench.rawws import RawClosed, RawWebSocket
from web.support import start_exchange

from .test_ccxt import Venue, serve_venue
from .test_ccxt_pro import pro

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TICKER_KEYS = {"e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l",
               "v", "q", "O", "C", "F", "L", "n"}
MINI_KEYS = {"e", "E", "s", "c", "o", "h", "l", "v", "q"}
WINDOW_KEYS = {"e", "E", "s", "p", "P", "o", "h", "l", "c", "w", "v", "q", "O", "C", "F", "L",
               "n"}


class Book:
    """A maker with levels on both sides and a taker that trades one lot at a time."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        _, maker, _, _ = venue.trader("maker", USD="1000000", BTC="1000")
        _, taker, _, _ = venue.trader("taker", USD="1000000", BTC="1000")
        self.maker = {"Authorization": f"Bearer {maker}"}
        self.taker = {"Authorization": f"Bearer {taker}"}
        for level in range(25):
            for side, price in (("buy", 99 - level), ("sell", 101 + level)):
                self.place(self.maker, {"type": "limit", "side": side, "quantity": "5",
                                        "price": str(price)})

    def place(self, headers: dict[str, str], order: dict[str, Any]) -> None:
        response = httpx.post(self.venue.url + "/v1/orders", headers=headers,
                              json={"symbol": "BTC-USD", **order})
        assert response.status_code == 201, response.text

    def trade(self, side: str = "buy") -> None:
        self.place(self.taker, {"type": "market", "side": side, "quantity": "0.01"})

    def rest(self, path: str, **params: Any) -> Any:
        return httpx.get(self.venue.url + "/api/v3/" + path,
                         params={"symbol": "BTCUSD", **params}).json()


@pytest.fixture(scope="module")
def book() -> Iterator[Book]:
    for venue in serve_venue("0.01", "0.0001", "0", "0"):
        yield Book(venue)


STREAMS = ("btcusd@depth5", "btcusd@depth10@100ms", "btcusd@depth20", "btcusd@ticker",
           "btcusd@miniTicker", "btcusd@ticker_1h", "!ticker@arr", "!miniTicker@arr")


async def test_shapes_and_values(book: Book) -> None:
    url = book.venue.url.replace("http", "ws", 1)
    async with trio_websocket.open_websocket_url(
            url + "/stream?streams=" + "/".join(STREAMS)) as ws:
        await ws.send_message(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        assert sorted(json.loads(await ws.get_message())["result"]) == sorted(STREAMS)
        await trio.to_thread.run_sync(book.trade)
        depth = await trio.to_thread.run_sync(lambda: book.rest("depth", limit=20))
        seen: dict[str, list[Any]] = {}

        def done() -> bool:  # every stream, and each as of the trade (the first one)
            if set(seen) != set(STREAMS):
                return False
            last = {name: seen[name][-1] for name in STREAMS}
            return (all(last[name]["lastUpdateId"] == depth["lastUpdateId"]
                        for name in STREAMS[:3])
                    and all(last[name]["n"] == 1 for name in STREAMS[3:6:2])
                    and last["btcusd@miniTicker"]["c"] == "101"
                    and last["!ticker@arr"][0]["n"] == 1
                    and last["!miniTicker@arr"][0]["c"] == "101")

        with trio.fail_after(20):
            while not done():
                message = json.loads(await ws.get_message())
                seen.setdefault(message["stream"], []).append(message["data"])
    # The partial books: the top levels as REST depth lists them, with its lastUpdateId.
    for stream, levels in (("btcusd@depth5", 5), ("btcusd@depth10@100ms", 10),
                           ("btcusd@depth20", 20)):
        last = seen[stream][-1]
        assert set(last) == {"lastUpdateId", "bids", "asks"}
        assert last["lastUpdateId"] == depth["lastUpdateId"]
        assert (last["bids"], last["asks"]) == (depth["bids"][:levels],
                                                depth["asks"][:levels])
    # The tickers: Binance's fields, the REST ticker's values.
    rest = book.rest("ticker/24hr")
    ticker = seen["btcusd@ticker"][-1]
    assert set(ticker) == TICKER_KEYS
    assert ticker["e"] == "24hrTicker"
    assert ticker["s"] == "BTCUSD"
    assert (ticker["c"], ticker["o"], ticker["h"], ticker["l"], ticker["v"], ticker["n"],
            ticker["F"], ticker["L"], ticker["b"], ticker["a"]) == (
        rest["lastPrice"], rest["openPrice"], rest["highPrice"], rest["lowPrice"],
        rest["volume"], rest["count"], rest["firstId"], rest["lastId"], rest["bidPrice"],
        rest["askPrice"])
    assert ticker["n"] >= 1
    assert ticker["c"] == "101"
    mini = seen["btcusd@miniTicker"][-1]
    assert set(mini) == MINI_KEYS
    assert (mini["e"], mini["c"], mini["v"]) == ("24hrMiniTicker", rest["lastPrice"],
                                                 rest["volume"])
    window = seen["btcusd@ticker_1h"][-1]
    assert set(window) == WINDOW_KEYS
    assert (window["e"], window["c"], window["n"]) == ("1hTicker", "101", ticker["n"])
    # The arrays: the symbols that changed since the last second's.
    [every] = seen["!ticker@arr"][-1]
    assert set(every) == TICKER_KEYS
    assert every["s"] == "BTCUSD"
    [mini_every] = seen["!miniTicker@arr"][-1]
    assert set(mini_every) == MINI_KEYS


async def test_unknown_streams_are_refused(book: Book) -> None:
    url = book.venue.url.replace("http", "ws", 1)
    async with trio_websocket.open_websocket_url(url + "/ws") as ws:
        for name in ("btcusd@depth7", "btcusd@ticker_2h", "!bookTicker@arr", "ethusd@ticker"):
            await ws.send_message(json.dumps({"method": "SUBSCRIBE", "params": [name],
                                              "id": 9}))
            answer = json.loads(await ws.get_message())
            assert answer["id"] == 9
            assert answer["error"]["code"] == 2, name


def test_ccxt_pro_watch_ticker_and_tickers(book: Book) -> None:
    book.trade("sell")  # the last price is 99 from here on

    async def main() -> tuple[Any, Any, Any, Any]:
        exchange = pro(book.venue.url)
        stop = asyncio.Event()

        async def trade() -> None:
            while not stop.is_set():
                await asyncio.to_thread(book.trade, "sell")
                await asyncio.sleep(0.2)
        try:
            trading = asyncio.create_task(trade())
            # ccxt.pro's watch_ticker reads <symbol>@miniTicker, unless named otherwise.
            mini = await asyncio.wait_for(exchange.watch_ticker("BTC/USD"), 20)
            ticker = await asyncio.wait_for(
                exchange.watch_ticker("BTC/USD", {"name": "ticker"}), 20)
            some = await asyncio.wait_for(exchange.watch_tickers(["BTC/USD"]), 20)
            every = await asyncio.wait_for(exchange.watch_tickers(), 20)  # !miniTicker@arr
            stop.set()
            await trading
            return mini, ticker, some, every
        finally:
            await exchange.close()

    mini, ticker, some, every = asyncio.run(main())
    assert mini["info"]["e"] == "24hrMiniTicker"
    assert (mini["symbol"], mini["last"], mini["bid"]) == ("BTC/USD", 99.0, None)
    assert ticker["info"]["e"] == "24hrTicker"
    assert ticker["symbol"] == "BTC/USD"
    assert ticker["last"] == 99.0  # the sells take the bids
    assert ticker["bid"] == 99.0
    assert ticker["ask"] == 101.0
    assert ticker["baseVolume"] > 0
    assert set(some) == {"BTC/USD"}
    assert some["BTC/USD"]["close"] == 99.0
    assert set(every) == {"BTC/USD"}
    assert every["BTC/USD"]["last"] == 99.0


def test_python_binance_partial_depth_socket(book: Book) -> None:
    async def main() -> tuple[Any, Any]:
        client = AsyncClient()
        manager = BinanceSocketManager(client)
        manager.STREAM_URL = book.venue.url.replace("http", "ws", 1) + "/"
        try:
            async with manager.depth_socket(
                    "BTCUSD", depth=BinanceSocketManager.WEBSOCKET_DEPTH_5) as socket:
                five = await asyncio.wait_for(socket.recv(), 20)
            async with manager.depth_socket(
                    "BTCUSD", depth=BinanceSocketManager.WEBSOCKET_DEPTH_10,
                    interval=100) as socket:
                ten = await asyncio.wait_for(socket.recv(), 20)
            return five, ten
        finally:
            await client.close_connection()
            await asyncio.sleep(0.1)  # the sockets' transports finish closing in this loop

    five, ten = asyncio.run(main())
    depth = book.rest("depth", limit=10)
    assert five == {"lastUpdateId": depth["lastUpdateId"], "bids": depth["bids"][:5],
                    "asks": depth["asks"][:5]}
    assert ten == {"lastUpdateId": depth["lastUpdateId"], "bids": depth["bids"],
                   "asks": depth["asks"]}


async def test_a_consumer_that_stops_reading_is_dropped(nursery: trio.Nursery) -> None:
    """The partial books and tickers through a small outbox: the stalled consumer gets
    4008 (or a reset, if its writer was stuck in a send), the reading one and the engine
    go on."""
    running = await start_exchange(nursery, ws_outbox_bytes=4096)
    await running.instrument("BTC-USD")
    maker = await running.trader("maker", USD="100000000", BTC="100000")
    taker = await running.trader("taker", USD="100000000", BTC="100000")
    for level in range(20):  # each trade changes a best level: every batch moves the top
        await maker.client.place_order("BTC-USD", "sell", quantity="1000",
                                       price=str(101 + level))
        await maker.client.place_order("BTC-USD", "buy", quantity="1000",
                                       price=str(99 - level))
    names = "btcusd@depth20/btcusd@depth20@100ms/btcusd@ticker/!ticker@arr"
    stalled = await RawWebSocket.open(running.url + "/ws/" + names, rcvbuf=4096)
    await stalled.send_text(msgspec.json.encode({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
    assert b'"id":1' in (await stalled.receive())[0]
    url = running.url.replace("http", "ws", 1)
    async with trio_websocket.open_websocket_url(url + "/stream?streams=" + names) as reading:
        received: list[int] = []

        async def read() -> None:
            while True:
                message = json.loads(await reading.get_message())
                if message["stream"] == "btcusd@depth20":
                    received.append(message["data"]["lastUpdateId"])

        async with trio.open_nursery() as readers:
            readers.start_soon(read)
            made = 0
            subscribers = running.server.services.fanout.subscribers
            assert len(subscribers) == 2
            with trio.fail_after(60):
                while len(subscribers) > 1:  # the stalled one dropped from every stream
                    side = ("buy", "sell")[made % 2]
                    order = await taker.client.place_order("BTC-USD", side, "market",
                                                           quantity="0.001")
                    assert order["status"] == "filled"
                    made += 1
            sequence = (await running.admin.book("BTC-USD"))["sequence"]
            with trio.fail_after(20):  # the reader saw the book up to the last trade
                while not received or received[-1] != sequence:  # noqa: ASYNC110
                    await trio.sleep(0.05)
            readers.cancel_scope.cancel()
    assert received == sorted(received)
    seen = None
    with trio.fail_after(10):
        try:
            while True:
                await stalled.receive()
        except RawClosed as closed:
            seen = (closed.code, closed.reason)
        except trio.BrokenResourceError as exc:
            seen = (0, type(exc.__cause__).__name__)
    assert seen in {(4008, "slow consumer"), (0, "ConnectionResetError")}, seen
    await stalled.aclose()
    await running.admin.aclose()
