"""The WebSocket API against a real server: streams, private channels, order entry, errors."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import msgspec
import pytest
import trio
from trio_websocket import ConnectionClosed

from exchange.bench.rawws import RawWebSocket, UpgradeRefused
from exchange.client import ExchangeError

from .support import Exchange, Trader
from .wsclient import Socket, connect

SYMBOL = "BTC-USD"


class Book:
    """A local book kept from a snapshot and sequenced updates, checking every step."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        assert snapshot["type"] == "snapshot"
        self.sequence: int = snapshot["sequence"]
        self.bids = {price: quantity for price, quantity in snapshot["bids"]}
        self.asks = {price: quantity for price, quantity in snapshot["asks"]}
        self.updates = 0

    def apply(self, update: dict[str, Any]) -> None:
        assert update["type"] == "update"
        assert update["first_sequence"] == self.sequence + 1, "a gap or an overlap"
        assert update["sequence"] >= update["first_sequence"]
        self.sequence = update["sequence"]
        self.updates += 1
        for levels, changes in ((self.bids, update["bids"]), (self.asks, update["asks"])):
            for price, quantity in changes:
                if Decimal(quantity) == 0:
                    levels.pop(price, None)
                else:
                    levels[price] = quantity

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        bids = sorted(self.bids.items(), key=lambda item: -Decimal(item[0]))
        asks = sorted(self.asks.items(), key=lambda item: Decimal(item[0]))
        return [list(level) for level in bids], [list(level) for level in asks]


async def follow(socket: Socket, book: Book, trades: list[int], sequence: int) -> None:
    """Applies book updates and collects trade ids until the book reaches `sequence`."""
    while book.sequence < sequence:
        message = await socket.next(within=10)
        if message["type"] == "update":
            book.apply(message)
        elif message["type"] == "trade":
            trades.append(message["trade_id"])


async def random_orders(trader: Trader, rng: random.Random, count: int) -> None:
    for _ in range(count):
        side = rng.choice(("buy", "sell"))
        roll = rng.random()
        quantity = f"0.{rng.randint(1, 9)}"
        try:
            if roll < 0.15:
                await trader.client.place_order(SYMBOL, side, "market", quantity=quantity)
            else:
                offset = rng.randint(-5, 15)  # mostly passive, sometimes crossing
                price = 100 - offset if side == "buy" else 100 + offset
                await trader.client.place_order(SYMBOL, side, quantity=quantity,
                                                price=str(price),
                                                time_in_force=rng.choice(("gtc", "ioc")))
        except ExchangeError as exc:
            if exc.code != "insufficient_funds":  # the only refusal random orders may meet
                raise


async def test_snapshot_and_updates_reproduce_the_rest_book(exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    traders = [await exchange.trader(f"t{i}", USD="1000000", BTC="1000") for i in range(3)]
    await random_orders(traders[0], random.Random(0), 20)  # a book before anyone subscribes
    async with connect(exchange.url, queue=64) as early, connect(exchange.url) as late:
        await early.call("subscribe", channels=[f"book.{SYMBOL}", f"trades.{SYMBOL}"])
        early_book = Book(await early.until("snapshot"))
        known = {t["trade_id"] for t in await exchange.admin.trades(SYMBOL, limit=1000)}
        early_trades: list[int] = []
        async with trio.open_nursery() as nursery:
            for index, trader in enumerate(traders):
                nursery.start_soon(random_orders, trader, random.Random(index + 1), 100)
            await trio.sleep(0.3)
            # A subscriber arriving mid-stream starts from a snapshot that its updates follow.
            reply = await late.call("subscribe", channels=[f"book.{SYMBOL}"])
            assert reply == {"type": "subscribed", "id": 1, "channels": [f"book.{SYMBOL}"]}
            late_book = Book(await late.until("snapshot"))
        rest = await exchange.admin.book(SYMBOL, depth=1000)
        await follow(early, early_book, early_trades, rest["sequence"])
        await follow(late, late_book, [], rest["sequence"])
        trades = await exchange.admin.trades(SYMBOL, limit=1000)
        expected_trades = sorted(t["trade_id"] for t in trades if t["trade_id"] not in known)
        while len(early_trades) < len(expected_trades):  # a batch's trades follow its book
            early_trades.append((await early.until("trade"))["trade_id"])
    expected = ([[p, q] for p, q, _ in rest["bids"]], [[p, q] for p, q, _ in rest["asks"]])
    assert early_book.sequence == rest["sequence"] == late_book.sequence
    assert early_book.levels() == expected
    assert late_book.levels() == expected
    assert early_book.updates > 0
    assert len(expected_trades) > 20
    assert early_trades == expected_trades


async def test_every_trade_is_delivered_in_order(exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    maker = await exchange.trader("maker", BTC="100")
    taker = await exchange.trader("taker", USD="1000000")
    async with connect(exchange.url) as watcher:
        await watcher.call("subscribe", channels=[f"trades.{SYMBOL}"])
        await maker.client.place_order(SYMBOL, "sell", quantity="50", price="100")
        async with connect(exchange.url, api_key=taker.api_key) as trading:
            ops = [{"op": "place", "id": i, "order": {"symbol": SYMBOL, "side": "buy",
                                                       "type": "market", "quantity": "0.1"}}
                   for i in range(60)]
            await trading.send(ops)
            results = [await trading.until("result") for _ in ops]
        assert sorted(r["id"] for r in results) == list(range(60))
        assert all(r["order"]["status"] == "filled" for r in results)
        received = [await watcher.until("trade") for _ in ops]
    ids = [trade["trade_id"] for trade in received]
    assert ids == sorted(ids)
    assert len(set(ids)) == 60
    rest = await exchange.admin.trades(SYMBOL, limit=100)
    assert sorted(t["trade_id"] for t in rest) == ids
    first = received[0]
    assert first["channel"] == f"trades.{SYMBOL}"
    assert first["price"] == "100"
    assert first["quantity"] == "0.1"
    assert first["taker_side"] == "buy"


async def test_private_channels_need_auth_and_carry_only_own_events(exchange: Exchange
                                                                    ) -> None:
    await exchange.instrument(SYMBOL)
    alice = await exchange.trader("alice", USD="100000")
    bob = await exchange.trader("bob", BTC="10")
    async with connect(exchange.url) as anonymous:
        reply = await anonymous.call("subscribe", channels=["orders"])
        assert reply["type"] == "error"
        assert reply["error"]["code"] == "unauthorized"
        assert (await anonymous.call("ping"))["type"] == "pong"  # still open
        reply = await anonymous.call("auth", api_key="nope.nope")
        assert reply["error"]["code"] == "unauthorized"
    async with connect(exchange.url) as mine, \
            connect(exchange.url, api_key=bob.api_key) as theirs:
        reply = await mine.call("auth", api_key=alice.api_key)
        assert reply == {"type": "authenticated", "id": 1, "account_id": alice.account_id,
                         "cancel_on_disconnect": False}
        await mine.call("subscribe", channels=["orders", "fills"])
        await theirs.call("subscribe", channels=["orders", "fills"])
        resting = await bob.client.place_order(SYMBOL, "sell", quantity="1", price="100")
        bought = await alice.client.place_order(SYMBOL, "buy", quantity="0.4", price="100")
        placed = await alice.client.place_order(SYMBOL, "buy", quantity="1", price="90")
        await alice.client.cancel_order(placed["order_id"])

        fill = await mine.until("fill")
        assert fill["order_id"] == bought["order_id"]
        assert fill["liquidity"] == "taker"
        assert fill["quantity"] == "0.4"
        assert fill["side"] == "buy"
        events = [await mine.until("order") for _ in range(4)]
        assert [(e["event"], e["order"]["order_id"]) for e in events] == [
            ("new", bought["order_id"]), ("fill", bought["order_id"]),
            ("new", placed["order_id"]), ("cancelled", placed["order_id"]),
        ]
        assert events[1]["order"]["status"] == "filled"  # the completing fill says so
        assert events[1]["order"]["remaining_quantity"] == "0"
        assert events[3]["order"]["status"] == "cancelled"

        theirs_events = [await theirs.until("order") for _ in range(2)]
        assert [(e["event"], e["order"]["status"]) for e in theirs_events] == [
            ("new", "new"), ("fill", "partially_filled")]
        assert {e["order"]["order_id"] for e in theirs_events} == {resting["order_id"]}
        their_fill = await theirs.until("fill")
        assert their_fill["liquidity"] == "maker"
        assert their_fill["side"] == "sell"
        # Nothing of alice's reached bob: a ping answer comes after all that was queued.
        assert (await theirs.call("ping"))["type"] == "pong"
        assert all(m.get("order", {}).get("account_id") in (None, bob.account_id)
                   for m in theirs.pending)


async def test_order_entry_with_many_requests_in_flight(exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("t", USD="1000000", BTC="100")
    async with connect(exchange.url, api_key=trader.api_key, queue=256) as ws:
        for index in range(40):  # all sent before any answer is read
            await ws.send({"op": "place", "id": f"p{index}", "order": {
                "symbol": SYMBOL, "side": "buy", "type": "limit", "quantity": "1",
                "price": str(50 + index)}})
        results = {}
        while len(results) < 40:
            message = await ws.until("result")
            results[message["id"]] = message["order"]
        assert sorted(results) == sorted(f"p{i}" for i in range(40))
        for index in (0, 17, 39):
            order = results[f"p{index}"]
            assert order["price"] == str(50 + index)
            assert order["status"] == "new"
            assert await trader.client.order(order["order_id"]) == {
                key: value for key, value in order.items() if key != "fills"}

        amended = await ws.call("amend", order_id=results["p5"]["order_id"], quantity="0.5")
        assert amended["type"] == "result"
        assert amended["order"]["quantity"] == "0.5"
        cancelled = await ws.call("cancel", order_id=results["p6"]["order_id"])
        assert cancelled["order"]["status"] == "cancelled"
        again = await ws.call("cancel", order_id=results["p6"]["order_id"])
        assert again["error"]["code"] == "order_not_open"

        body = {"symbol": SYMBOL, "side": "sell", "type": "limit", "quantity": "2",
                "price": "500", "client_order_id": "ws-once"}
        first = await ws.call("place", order=body)
        repeat = await ws.call("place", order=body)
        assert repeat["order"]["order_id"] == first["order"]["order_id"]
        different = await ws.call("place", order={**body, "price": "501"})
        assert different["error"]["code"] == "duplicate_client_order_id"
    orders = await trader.client.orders(status="open", limit=1000)
    assert len(orders) == 40  # 40 buys, one cancelled, one sell


async def test_authorization_header_on_the_upgrade(exchange: Exchange) -> None:
    trader = await exchange.trader("t")
    async with connect(exchange.url, api_key=trader.api_key) as ws:
        reply = await ws.call("subscribe", channels=["orders"])
        assert reply["type"] == "subscribed"
    with pytest.raises(UpgradeRefused) as refused:
        await RawWebSocket.open(exchange.url, api_key="bad.key")
    assert refused.value.status == 401
    assert msgspec.json.decode(refused.value.body)["error"]["code"] == "unauthorized"
    with pytest.raises(UpgradeRefused) as refused:
        await RawWebSocket.open(exchange.url + "/v1/other")
    assert refused.value.status == 404


@pytest.mark.parametrize(("message", "code"), [
    ("not json", "invalid_request"),
    ([], "invalid_request"),
    (42, "invalid_request"),
    ({"id": 1}, "invalid_request"),
    ({"op": "dance", "id": 1}, "invalid_request"),
    ({"op": "subscribe", "id": 1}, "invalid_request"),
    ({"op": "subscribe", "id": 1, "channels": "book.BTC-USD"}, "invalid_request"),
    ({"op": "subscribe", "id": 1, "channels": ["book.NOPE-USD"]}, "unknown_symbol"),
    ({"op": "subscribe", "id": 1, "channels": ["candles.BTC-USD"]}, "invalid_request"),
    ({"op": "subscribe", "id": 1, "channels": ["fills"]}, "unauthorized"),
    ({"op": "ping", "id": [1]}, "invalid_request"),
    ({"op": "ping", "id": 1, "extra": True}, "invalid_request"),
    ({"op": "place", "id": 1, "order": {"symbol": "BTC-USD"}}, "unauthorized"),
    ({"op": "cancel", "id": 1, "order_id": 1}, "unauthorized"),
])
async def test_bad_messages_get_an_error_and_the_connection_lives(
        nursery: trio.Nursery, message: Any, code: str) -> None:
    from .support import start_exchange

    running = await start_exchange(nursery)
    await running.instrument(SYMBOL)
    async with connect(running.url) as ws:
        if isinstance(message, str):
            await ws.ws.send_message(message)
        else:
            await ws.send(message)
        reply = await ws.next()
        assert reply["type"] == "error", reply
        assert reply["error"]["code"] == code, reply
        if isinstance(message, dict) and isinstance(message.get("id"), int):
            assert reply["id"] == message["id"]
        assert (await ws.call("ping"))["type"] == "pong"
    await running.admin.aclose()


async def test_bad_orders_are_refused_with_the_rest_codes(exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("t", USD="10")
    async with connect(exchange.url, api_key=trader.api_key) as ws:
        order = {"symbol": SYMBOL, "side": "buy", "type": "limit", "quantity": "1",
                 "price": "100"}
        cases = [
            ({"order": order}, "insufficient_funds"),
            ({"order": {**order, "price": "100.001"}}, "price_not_on_tick"),
            ({"order": {**order, "symbol": "NOPE-USD"}}, "unknown_symbol"),
            ({"order": {**order, "type": "stop_limit"}}, "invalid_request"),
            ({"order": {**order, "quantity": "-1"}}, "invalid_request"),
            ({"order": "x"}, "invalid_request"),
        ]
        for fields, code in cases:
            reply = await ws.call("place", **fields)
            assert reply["type"] == "error", reply
            assert reply["error"]["code"] == code, reply
        reply = await ws.call("place", order={**order, "quantity": "x"})
        assert reply["error"]["details"][0]["path"] == "$.quantity"
        assert (await ws.call("cancel", order_id=12345))["error"]["code"] == "not_found"
        assert (await ws.call("cancel", order_id="1"))["error"]["code"] == "invalid_request"
        assert (await ws.call("amend", order_id=1, quantity="0"))["error"]["code"] == \
            "invalid_request"
        assert (await ws.call("ping"))["type"] == "pong"
    assert (await trader.client.orders()) == []  # nothing was created


async def test_closed_connection_during_requests_changes_nothing_else(
        exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("t", USD="1000000")
    async with connect(exchange.url, api_key=trader.api_key) as ws:
        await ws.send([{"op": "place", "id": i, "order": {
            "symbol": SYMBOL, "side": "buy", "type": "limit", "quantity": "1",
            "price": "10"}} for i in range(20)])
    # The orders were submitted; their answers had nowhere to go, the server carries on.
    with trio.fail_after(5):
        while len(await trader.client.orders(limit=100)) < 20:  # noqa: ASYNC110 - polls REST
            await trio.sleep(0.05)
    async with connect(exchange.url, api_key=trader.api_key) as ws:
        assert (await ws.call("ping"))["type"] == "pong"


async def test_unsubscribe_stops_the_stream(exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("t", USD="1000000")
    async with connect(exchange.url, queue=16) as ws:
        await ws.call("subscribe", channels=[f"book.{SYMBOL}"])
        await ws.until("snapshot")
        await trader.client.place_order(SYMBOL, "buy", quantity="1", price="10")
        update = await ws.until("update")
        assert update["bids"] == [["10", "1"]]
        reply = await ws.call("unsubscribe", channels=[f"book.{SYMBOL}"])
        assert reply == {"type": "unsubscribed", "id": 2, "channels": [f"book.{SYMBOL}"]}
        await trader.client.place_order(SYMBOL, "buy", quantity="1", price="11")
        assert (await ws.call("ping"))["type"] == "pong"
        assert not [m for m in ws.pending if m.get("type") == "update"]
        # Subscribing again starts over from a fresh snapshot.
        await ws.call("subscribe", channels=[f"book.{SYMBOL}"])
        snapshot = await ws.until("snapshot")
        assert snapshot["bids"] == [["11", "1"], ["10", "1"]]


async def test_ticker_channel(exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    maker = await exchange.trader("m", BTC="10")
    taker = await exchange.trader("t", USD="100000")
    async with connect(exchange.url, queue=16) as ws:
        await ws.call("subscribe", channels=[f"ticker.{SYMBOL}"])
        first = await ws.until("ticker")
        assert first["last_price"] is None
        assert first["channel"] == f"ticker.{SYMBOL}"
        await maker.client.place_order(SYMBOL, "sell", quantity="2", price="101")
        await taker.client.place_order(SYMBOL, "buy", quantity="1", price="101")
        with trio.fail_after(5):
            while True:
                ticker = await ws.until("ticker")
                if ticker["last_price"] == "101":
                    break
        assert ticker["best_ask"] == "101"
        assert ticker["volume_24h"] == "1"


async def test_connection_closes_when_the_server_stops(nursery: trio.Nursery) -> None:
    from .support import start_exchange

    running = await start_exchange(nursery, shutdown_timeout=5.0)
    await running.instrument(SYMBOL)
    trader = await running.trader("t", USD="1000000")
    async with connect(running.url, api_key=trader.api_key, queue=64) as ws:
        await ws.call("subscribe", channels=[f"book.{SYMBOL}", "orders"])
        started = trio.current_time()
        running.server.shutdown()
        with pytest.raises(ConnectionClosed) as closed:  # noqa: PT012 - reads until closed
            while True:
                await ws.next()
        assert closed.value.reason.code == 1001
        assert trio.current_time() - started < 3
    await running.admin.aclose()


async def test_a_full_inbox_refuses_over_the_socket_and_loses_nothing(
        nursery: trio.Nursery) -> None:
    from exchange.pipeline.journal import MemoryJournal

    from .support import start_exchange

    journal = MemoryJournal(queue_size=1, commit_delay=0.05)
    running = await start_exchange(nursery, journal=journal, inbox_size=2, batch_limit=1)
    await running.instrument(SYMBOL)
    trader = await running.trader("t", USD="1000000")
    async with connect(running.url, api_key=trader.api_key, queue=64) as ws:
        await ws.send([{"op": "place", "id": i, "order": {
            "symbol": SYMBOL, "side": "buy", "type": "limit", "quantity": "0.001",
            "price": str(100 + i)}} for i in range(40)])
        answers = [await ws.first(lambda m: m.get("type") in ("result", "error"), 30.0)
                   for _ in range(40)]
    assert sorted(answer["id"] for answer in answers) == list(range(40))
    refused = [answer for answer in answers if answer["type"] == "error"]
    placed = [answer["order"]["order_id"] for answer in answers if answer["type"] == "result"]
    assert refused
    assert placed
    assert {(r["error"]["code"], r["error"]["retry_after"]) for r in refused} == {
        ("overloaded", 1.0)}
    assert sorted(o["order_id"] for o in await trader.client.orders(limit=100)) == sorted(placed)
    await running.admin.aclose()


async def test_several_authorization_headers_on_the_upgrade(exchange: Exchange) -> None:
    trader = await exchange.trader("t")
    for other in ("Bearer nope", f"Bearer {trader.api_key}"):
        with pytest.raises(UpgradeRefused) as refused:
            await RawWebSocket.open(exchange.url, api_key=trader.api_key,
                                    extra_headers=[("Authorization", other)])
        assert refused.value.status == 400
        assert msgspec.json.decode(refused.value.body)["error"]["code"] == "invalid_request"
