"""The Binance-compatible market streams with the unmodified ccxt.pro (`ccxt.pro.binance`):
its order book kept in sync through hundreds of updates while orders come and go equals the
`/v1` book at the end; trades; candles; and the streams' own control messages."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import ccxt.pro
import httpx
import pytest
import trio
import trio_websocket

from web.support import threaded_exchange

from .test_ccxt import Venue

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    with threaded_exchange(rate_limit=0) as url:
        made = Venue(url)
        made.call("POST", "/v1/admin/instruments", json={
            "symbol": "BTC-USD", "base": "BTC", "quote": "USD", "tick_size": "1",
            "lot_size": "1", "maker_fee_rate": "0", "taker_fee_rate": "0"})
        yield made
        made.admin.close()


def pro(base: str) -> Any:
    ws = base.replace("http", "ws", 1)
    exchange = ccxt.pro.binance({"options": {
        "defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False, "fetchMargins": False}})
    exchange.urls["api"] = {
        "public": base + "/api/v3", "private": base + "/api/v3", "v1": base + "/api/v1",
        "sapi": base + "/sapi/v1",
        "ws": {"spot": ws + "/ws", "ws-api": {"spot": ws + "/ws-api/v3"}}}
    return exchange


def test_the_order_book_stays_in_sync(venue: Venue) -> None:
    _, maker, _, _ = venue.trader("maker", USD="100000000", BTC="1000000")
    _, taker, _, _ = venue.trader("taker", USD="100000000", BTC="1000000")
    _, closer, _, _ = venue.trader("closer", BTC="1000")  # trades with whoever bids
    rng = random.Random(5)

    async def main() -> tuple[dict[str, Any], dict[str, Any], int, list[Any], list[Any]]:
        exchange = pro(venue.url)
        updates = 0
        done = asyncio.Event()
        trades: list[Any] = []
        async with httpx.AsyncClient(base_url=venue.url) as http:
            async def trade() -> None:
                resting: list[int] = []
                for step in range(300):
                    key = maker if step % 3 else taker
                    if resting and rng.random() < 0.3:
                        await http.delete(f"/v1/orders/{resting.pop(rng.randrange(len(resting)))}",
                                          headers={"Authorization": f"Bearer {maker}"})
                        continue
                    answer = await http.post("/v1/orders", headers={
                        "Authorization": f"Bearer {key}"}, json={
                        "symbol": "BTC-USD", "side": rng.choice(["buy", "sell"]),
                        "type": "limit", "quantity": str(rng.randint(1, 5)),
                        "price": str(rng.randint(95, 105))})
                    assert answer.status_code == 201, answer.text
                    if key == maker and answer.json()["status"] == "new":
                        resting.append(answer.json()["order_id"])
                    if step % 20 == 0:
                        await asyncio.sleep(0.01)
                # The last update: one more order far from the others.
                await http.post("/v1/orders", headers={"Authorization": f"Bearer {maker}"},
                                json={"symbol": "BTC-USD", "side": "buy", "type": "limit",
                                      "quantity": "1", "price": "50"})
                done.set()

            async def watch_trades() -> None:
                while not done.is_set():
                    trades.extend(await exchange.watch_trades("BTC/USD"))

            book = await exchange.watch_order_book("BTC/USD")
            trader = asyncio.create_task(trade())
            watcher = asyncio.create_task(watch_trades())
            while not (done.is_set() and any(level[0] == 50 for level in book["bids"])):
                book = await asyncio.wait_for(exchange.watch_order_book("BTC/USD"), 10)
                updates += 1
            await trader
            watcher.cancel()
            final = (await http.get("/v1/instruments/BTC-USD/book",
                                    params={"depth": 1000})).json()
            # ccxt.pro keeps changing its book object: keep it as it is now.
            book = {"bids": [list(level) for level in book["bids"]],
                    "asks": [list(level) for level in book["asks"]], "nonce": book["nonce"]}
            # A candle comes with the next trade after the subscription.
            ohlcv = asyncio.create_task(exchange.watch_ohlcv("BTC/USD", "1m"))
            for _ in range(50):  # until the new connection has subscribed and seen a trade
                sold = await http.post(
                    "/v1/orders", headers={"Authorization": f"Bearer {closer}"},
                    json={"symbol": "BTC-USD", "side": "sell", "type": "market",
                          "quantity": "1"})
                assert sold.json()["status"] == "filled", sold.text
                done_, _ = await asyncio.wait([ohlcv], timeout=0.2)
                if done_:
                    break
            candles = await asyncio.wait_for(ohlcv, 10)
            await exchange.close()
        return book, final, updates, trades, candles

    book, final, updates, trades, candles = asyncio.run(main())
    assert updates >= 100
    assert [[float(p), float(q)] for p, q, _ in final["bids"]] == book["bids"]
    assert [[float(p), float(q)] for p, q, _ in final["asks"]] == book["asks"]
    assert book["nonce"] == final["sequence"]
    assert trades
    assert all(t["symbol"] == "BTC/USD" and 95 <= t["price"] <= 105 for t in trades)
    assert candles
    assert candles[-1][5] > 0


async def test_control_messages(venue: Venue) -> None:
    url = venue.url.replace("http", "ws", 1)
    async with trio_websocket.open_websocket_url(url + "/ws/btcusd@trade") as ws:
        await ws.send_message('{"method":"SUBSCRIBE","params":["btcusd@depth"],"id":1}')
        assert await ws.get_message() == '{"result":null,"id":1}'
        await ws.send_message('{"method":"LIST_SUBSCRIPTIONS","id":2}')
        assert await ws.get_message() == '{"result":["btcusd@depth","btcusd@trade"],"id":2}'
        await ws.send_message('{"method":"SUBSCRIBE","params":["nope@trade"],"id":3}')
        answer = await ws.get_message()
        assert '"code":2' in answer
        assert '"id":3' in answer
        await ws.send_message('{"method":"UNSUBSCRIBE","params":["btcusd@depth"],"id":4}')
        assert await ws.get_message() == '{"result":null,"id":4}'
        await ws.send_message("not json")
        assert '"code":2' in await ws.get_message()
    async with trio_websocket.open_websocket_url(
            url + "/stream?streams=btcusd@depth/btcusd@bookTicker") as ws:
        await ws.send_message('{"method":"LIST_SUBSCRIPTIONS","id":7}')
        assert await ws.get_message() == (
            '{"result":["btcusd@bookTicker","btcusd@depth"],"id":7}')
        _, maker, _, _ = venue.trader("streamer", USD="1000000")
        async with httpx.AsyncClient(base_url=venue.url) as http:
            await http.post("/v1/orders", headers={"Authorization": f"Bearer {maker}"},
                            json={"symbol": "BTC-USD", "side": "buy", "type": "limit",
                                  "quantity": "1", "price": "10"})
        with trio.fail_after(5):
            seen = {await ws.get_message() for _ in range(2)}
        assert any('"stream":"btcusd@depth"' in m and '"e":"depthUpdate"' in m for m in seen)
        assert any('"stream":"btcusd@bookTicker"' in m for m in seen)
