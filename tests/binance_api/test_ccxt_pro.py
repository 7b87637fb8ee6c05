"""The Binance-compatible market streams with the unmodified ccxt.pro (`ccxt.pro.binance`):
its order book kept in sync through hundreds of updates while orders come and go equals the
`/v1` book at the end; trades; candles; and the streams' own control messages."""

from __future__ import annotations

import asyncio
import copy
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import ccxt.pro
import httpx
import pytest
import trio
import trio_websocket

from .test_ccxt import Venue, serve_venue

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    yield from serve_venue("1", "1", "0", "0")


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
            # The book may show the last order before its placement is answered (and `done`
            # set), with no update after it: so wait for the next update or the next second,
            # whichever comes first, and look again (`book` is ccxt.pro's live object).
            pending: asyncio.Future[Any] | None = None
            quiet = 0  # seconds in a row without an update
            while not (done.is_set() and any(level[0] == 50 for level in book["bids"])):
                if pending is None:
                    pending = asyncio.ensure_future(exchange.watch_order_book("BTC/USD"))
                finished, _ = await asyncio.wait({pending}, timeout=1)
                if finished:
                    book, pending, quiet = pending.result(), None, 0
                    updates += 1
                else:
                    quiet += 1
                    assert quiet < 30, "no depth update for 30 s"
            if pending is not None:
                pending.cancel()
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


def pro_private(base: str, key: str, secret: str) -> Any:
    exchange = pro(base)
    exchange.apiKey, exchange.secret = key, secret
    return exchange


def test_orders_trades_and_balance_streams(venue: Venue) -> None:
    venue.call("POST", "/v1/admin/instruments", json={
        "symbol": "ETH-USD", "base": "ETH", "quote": "USD", "tick_size": "1",
        "lot_size": "1", "maker_fee_rate": "0", "taker_fee_rate": "0"})
    _, _, key, secret = venue.trader("watcher", USD="100000", ETH="100")
    _, other, _, _ = venue.trader("counterparty", USD="100000", ETH="100")

    async def main() -> tuple[list[Any], list[Any], dict[str, Any], dict[str, Any]]:
        exchange = pro_private(venue.url, key, secret)
        orders_seen: list[Any] = []
        trades_seen: list[Any] = []
        try:
            watching = asyncio.create_task(exchange.watch_orders("ETH/USD"))
            trading = asyncio.create_task(exchange.watch_my_trades("ETH/USD"))
            balancing = asyncio.create_task(exchange.watch_balance())
            await asyncio.sleep(0.5)  # subscribed through /ws-api/v3
            placed = await exchange.create_order("ETH/USD", "limit", "sell", 2, 400)
            orders_seen += await asyncio.wait_for(watching, 10)
            balance = dict((await asyncio.wait_for(balancing, 10))["ETH"])
            async with httpx.AsyncClient(base_url=venue.url) as http:
                taken = await http.post(
                    "/v1/orders", headers={"Authorization": f"Bearer {other}"},
                    json={"symbol": "ETH-USD", "side": "buy", "type": "limit",
                          "quantity": "1", "price": "400"})
                assert taken.json()["status"] == "filled"
            trades_seen += await asyncio.wait_for(trading, 10)
            while not any(o["filled"] == 1 for o in orders_seen):
                orders_seen += await asyncio.wait_for(exchange.watch_orders("ETH/USD"), 10)
            return orders_seen, trades_seen, placed, balance
        finally:
            await exchange.close()

    orders_seen, trades_seen, placed, balance = asyncio.run(main())
    assert orders_seen[0]["id"] == placed["id"]
    assert orders_seen[0]["status"] == "open"
    assert orders_seen[-1]["filled"] == 1
    assert orders_seen[-1]["remaining"] == 1
    [trade] = trades_seen
    assert (trade["order"], trade["price"], trade["amount"], trade["takerOrMaker"]) == (
        placed["id"], 400, 1, "maker")
    # As of the placement (2 held), or, when both updates came in one read, of the fill (1
    # of the 2 sold, the other still held): ccxt.pro resolves at the first it handles.
    assert balance in ({"free": 98, "used": 2, "total": 100},
                       {"free": 98, "used": 1, "total": 99})


async def test_the_websocket_api_refuses_bad_signatures(venue: Venue) -> None:
    url = venue.url.replace("http", "ws", 1) + "/ws-api/v3"
    _, _, key, _ = venue.trader("signer", USD="1")
    async with trio_websocket.open_websocket_url(url) as ws:
        await ws.send_message('{"id":"1","method":"ping"}')
        assert await ws.get_message() == '{"id":"1","status":200,"result":{}}'
        for params, code in (({"apiKey": key, "timestamp": 1, "signature": "00"}, -1021),
                             ({"apiKey": "x" * 64, "timestamp": 1, "signature": "00"}, -2015),
                             ({"apiKey": key, "signature": "00"}, -1102)):
            now = int(time.time() * 1000)
            if params.get("timestamp") == 1 and code != -1021:
                params["timestamp"] = now
            await ws.send_message(json.dumps({"id": "2", "method":
                                              "userDataStream.subscribe.signature",
                                              "params": params}))
            answer = json.loads(await ws.get_message())
            assert (answer["status"], answer["error"]["code"]) == (400 if code != -2015
                                                                   else 401, code)
        await ws.send_message('{"id":"3","method":"nope"}')
        assert json.loads(await ws.get_message())["status"] == 400
        now = int(time.time() * 1000)
        await ws.send_message(json.dumps({"id": "4", "method":
                                          "userDataStream.subscribe.signature", "params": {
                                              "apiKey": key, "timestamp": now,
                                              "signature": "ab" * 32}}))
        assert json.loads(await ws.get_message())["error"]["code"] == -1022


async def test_streams_close_with_the_server() -> None:
    """A stream connection open at shutdown hears 1001 and does not hold the shutdown up."""
    from web.support import start_exchange

    async with trio.open_nursery() as nursery:
        exchange = await start_exchange(nursery, shutdown_timeout=10.0)
        await exchange.instrument("BTC-USD", tick="1", lot="1")
        url = exchange.url.replace("http", "ws", 1)
        async with trio_websocket.open_websocket_url(url + "/ws/btcusd@trade") as ws:
            await ws.send_message('{"method":"LIST_SUBSCRIPTIONS","id":1}')
            assert await ws.get_message() == '{"result":["btcusd@trade"],"id":1}'
            await exchange.admin.aclose()
            started = trio.current_time()
            exchange.server.shutdown()
            with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                with trio.fail_after(3):
                    await ws.get_message()
            assert closed.value.reason.code == 1001
            assert trio.current_time() - started < 4  # not the 5 s graceful timeout


def test_order_entry_through_the_websocket_api(venue: Venue) -> None:
    """ccxt.pro's `*_ws` methods: `order.place`, `order.status`, `openOrders.status`,
    `order.cancel` and `account.status` on `/ws-api/v3`, signed in their params."""
    _, _, key, secret = venue.trader("ws-trader", USD="100000", BTC="100")

    async def main() -> dict[str, Any]:
        exchange = pro_private(venue.url, key, secret)
        try:
            await exchange.load_markets()
            placed = await exchange.create_order_ws("BTC/USD", "limit", "buy", 2, 20)
            fetched = await exchange.fetch_order_ws(placed["id"], "BTC/USD")
            listed = await exchange.fetch_open_orders_ws("BTC/USD")
            balance = await exchange.fetch_balance_ws()
            cancelled = await exchange.cancel_order_ws(placed["id"], "BTC/USD")
            with pytest.raises(ccxt.OrderNotFound):
                await exchange.cancel_order_ws(placed["id"], "BTC/USD")
            with pytest.raises(ccxt.InsufficientFunds):
                await exchange.create_order_ws("BTC/USD", "limit", "buy", 100000, 20)
            return {"placed": placed, "fetched": fetched, "listed": listed,
                    "balance": balance, "cancelled": cancelled}
        finally:
            await exchange.close()

    seen = asyncio.run(main())
    assert seen["placed"]["status"] == "open"
    assert seen["fetched"]["id"] == seen["placed"]["id"]
    assert seen["fetched"]["amount"] == 2
    assert [o["id"] for o in seen["listed"]] == [seen["placed"]["id"]]
    # ccxt.pro parses account.status as a futures account unless told the type; what the
    # venue sent is Binance's spot answer.
    assert {"asset": "USD", "free": "99960", "locked": "40"} in seen["balance"]["info"][
        "balances"]
    assert seen["cancelled"]["status"] == "canceled"


def test_a_take_profit_through_the_websocket_api_and_its_execution_reports(
    venue: Venue,
) -> None:
    """A `TAKE_PROFIT_LIMIT` placed with `order.place` (ccxt.pro's `create_order_ws`, with
    `stopPrice`) shows in `executionReport` as that type with its stop price, NEW while it
    waits; a trade at its stop price sets it off and it fills."""
    venue.call("POST", "/v1/admin/instruments", json={
        "symbol": "TPW-USD", "base": "TPW", "quote": "USD", "tick_size": "1",
        "lot_size": "1", "maker_fee_rate": "0", "taker_fee_rate": "0"})
    _, _, key, secret = venue.trader("tp-watcher", USD="100000", TPW="100")
    others = [venue.trader(name, USD="100000", TPW="100")[1] for name in ("tp-a", "tp-b")]

    async def main() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        exchange = pro_private(venue.url, key, secret)
        try:
            await exchange.load_markets()
            watching = asyncio.create_task(exchange.watch_orders("TPW/USD"))
            await asyncio.sleep(0.5)  # subscribed through /ws-api/v3
            placed = await exchange.create_order_ws("TPW/USD", "TAKE_PROFIT_LIMIT", "sell", 2,
                                                    399, {"stopPrice": 400})
            # A copy: ccxt.pro updates the orders it has already returned in place.
            first = copy.deepcopy((await asyncio.wait_for(watching, 10))[0])
            async with httpx.AsyncClient(base_url=venue.url) as http:
                for token, side, price in ((others[0], "buy", "399"),  # the sell takes this
                                           (others[0], "sell", "400"),
                                           (others[1], "buy", "400")):  # prints 400
                    answer = await http.post(
                        "/v1/orders", headers={"Authorization": f"Bearer {token}"},
                        json={"symbol": "TPW-USD", "side": side, "type": "limit",
                              "quantity": "2" if price == "399" else "1", "price": price})
                    assert answer.status_code == 201, answer.text
            # The reports of the trigger and the fill may come in one read, resolving one
            # watch: wait for the order in ccxt.pro's own cache of them instead.
            deadline = time.monotonic() + 20
            while True:
                [last] = [o for o in exchange.orders if o["id"] == placed["id"]]
                if last["status"] == "closed" or time.monotonic() > deadline:
                    return first, last, placed
                await asyncio.sleep(0.05)
        finally:
            await exchange.close()

    first, last, placed = asyncio.run(main())
    assert placed["info"]["type"] == "TAKE_PROFIT_LIMIT"
    assert first["id"] == last["id"] == placed["id"]
    assert (first["info"]["o"], first["info"]["X"], first["info"]["P"]) == (
        "TAKE_PROFIT_LIMIT", "NEW", "400")
    assert first["info"]["w"] is False  # waiting for its trigger: not working yet
    assert (last["info"]["o"], last["status"], last["filled"]) == (
        "TAKE_PROFIT_LIMIT", "closed", 2)
    assert last["average"] == 399
