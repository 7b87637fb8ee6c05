"""The fan-out against the real engine's events: whenever a subscriber joins, its snapshot
and the updates that follow rebuild the book exactly; trades and private events reach only
whom they should, once."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import msgspec
import pytest
import trio

from exchange.engine import Engine
from exchange.engine.events import AnyEvent, TradeExecuted
from exchange.pipeline.metrics import Metrics
from exchange.pipeline.readmodel import ReadModel
from exchange.pipeline.sequencer import Published
from exchange.web.fanout import ChannelError, Fanout, Subscriber
from exchange.web.outbox import Outbox
from store.streams import stream

SYMBOLS = ("AAA-USD", "BBB-USD")


async def drain(outbox: Outbox) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while len(outbox):
        text = await outbox.take()
        assert text is not None
        decoded = msgspec.json.decode(text)
        messages.extend(decoded if isinstance(decoded, list) else [decoded])
    return messages


def rebuild(messages: list[dict[str, Any]], channel: str) -> tuple[int, dict[str, str],
                                                                     dict[str, str]]:
    sequence, bids, asks = -1, {}, {}
    for message in messages:
        if message.get("channel") != channel:
            continue
        if message["type"] == "snapshot":
            sequence = message["sequence"]
            bids = dict(message["bids"])
            asks = dict(message["asks"])
            continue
        assert message["first_sequence"] == sequence + 1
        sequence = message["sequence"]
        for levels, changes in ((bids, message["bids"]), (asks, message["asks"])):
            for price, quantity in changes:
                if Decimal(quantity):
                    levels[price] = quantity
                else:
                    levels.pop(price, None)
    return sequence, bids, asks


def expected(readmodel: ReadModel, symbol: str) -> tuple[int, dict[str, str],
                                                         dict[str, str]]:
    from exchange.web.render import dec

    inst = readmodel.instruments[symbol]
    return (
        inst.sequence,
        {dec(inst.tick_size * p): dec(inst.lot_size * lv[0]) for p, lv in inst.bids.items()},
        {dec(inst.tick_size * p): dec(inst.lot_size * lv[0]) for p, lv in inst.asks.items()},
    )


@pytest.mark.parametrize("seed", range(6))
async def test_subscribers_joining_at_any_batch_rebuild_the_book(seed: int) -> None:
    rng = random.Random(seed)
    engine = Engine()
    readmodel = ReadModel()
    fanout = Fanout(readmodel, Metrics())
    subscribers: list[tuple[Subscriber, int]] = []  # and how many trades came before it
    commands = stream(seed, 600)
    trades: list[tuple[str, int]] = []
    at = 0
    while at < len(commands):
        size = rng.randint(1, 40)
        events: list[AnyEvent] = []
        for command in commands[at:at + size]:
            events.extend(engine.handle(command))
        at += size
        readmodel.apply(events)
        fanout._publish(Published(events, readmodel.take_notices(), readmodel.batches))
        trades.extend((e.symbol, e.trade_id) for e in events if isinstance(e, TradeExecuted))
        if rng.random() < 0.3:  # someone joins between two batches
            subscriber = Subscriber(Outbox(limit=10**9))
            fanout.attach(subscriber)
            for symbol in SYMBOLS:
                if symbol in fanout.books:
                    for channel in (f"book.{symbol}", f"trades.{symbol}"):
                        fanout.check(subscriber, channel)
                        fanout.subscribe(subscriber, channel)
            subscribers.append((subscriber, len(trades)))
    assert subscribers
    for subscriber, start in subscribers:
        messages = await drain(subscriber.outbox)
        for symbol in SYMBOLS:
            if f"book.{symbol}" in subscriber.channels:
                assert rebuild(messages, f"book.{symbol}") == expected(readmodel, symbol)
        for symbol in SYMBOLS:  # in order within a channel (channels are independent)
            got = [m["trade_id"] for m in messages
                   if m["type"] == "trade" and m["channel"] == f"trades.{symbol}"]
            assert got == [trade_id for name, trade_id in trades[start:]
                           if name == symbol and f"trades.{symbol}" in subscriber.channels]


async def test_private_messages_go_to_their_account_only() -> None:
    engine = Engine()
    readmodel = ReadModel()
    fanout = Fanout(readmodel, Metrics())
    commands = stream(7, 400)
    mine = Subscriber(Outbox(limit=10**9), account_id=1)
    anonymous = Subscriber(Outbox(limit=10**9))
    fanout.attach(mine)
    fanout.attach(anonymous)
    with pytest.raises(ChannelError) as refused:
        fanout.check(anonymous, "orders")
    assert refused.value.code == "unauthorized"
    for channel in ("orders", "fills"):
        fanout.check(mine, channel)
        fanout.subscribe(mine, channel)
    assert set(readmodel.watched) == {1}
    fills = 0
    for command in commands:
        events = engine.handle(command)
        readmodel.apply(events)
        fanout._publish(Published(events, readmodel.take_notices(), readmodel.batches))
        fills += sum(1 for e in events if isinstance(e, TradeExecuted)
                     for account in (e.maker_account_id, e.taker_account_id) if account == 1)
    messages = await drain(mine.outbox)
    orders = [m for m in messages if m["type"] == "order"]
    assert orders
    assert all(m["order"]["account_id"] == 1 for m in orders)
    assert len([m for m in messages if m["type"] == "fill"]) == fills
    assert [m for m in orders if m["event"] == "fill"].__len__() == fills
    # Every order's last message shows its state as the read model has it now.
    last: dict[int, dict[str, Any]] = {}
    for message in orders:
        last[message["order"]["order_id"]] = message["order"]
    for order_id, order in last.items():
        assert order["status"] == str(readmodel.orders[order_id].status)
    assert len(anonymous.outbox) == 0
    fanout.detach(mine)
    assert set(readmodel.watched) == set()


async def test_a_subscriber_that_overflows_is_dropped_everywhere() -> None:
    engine = Engine()
    readmodel = ReadModel()
    fanout = Fanout(readmodel, Metrics())
    commands = stream(3, 300)
    tiny = Subscriber(Outbox(limit=1024))
    fanout.attach(tiny)
    joined = False
    for command in commands:
        events = engine.handle(command)
        readmodel.apply(events)
        fanout._publish(Published(events, readmodel.take_notices(), readmodel.batches))
        if not joined and "AAA-USD" in fanout.books:
            fanout.subscribe(tiny, "trades.AAA-USD")
            fanout.subscribe(tiny, "book.AAA-USD")
            joined = True
    assert tiny.outbox.closed
    assert tiny not in fanout.subscribers
    assert not tiny.channels
    assert all(tiny not in members for members in fanout.channels.values())


async def test_serve_fanout_ends_when_closed_and_closes_connections() -> None:
    readmodel = ReadModel()
    fanout = Fanout(readmodel, Metrics())
    subscriber = Subscriber(Outbox())
    fanout.attach(subscriber)
    async with trio.open_nursery() as nursery:
        await nursery.start(fanout.serve_fanout)
        await fanout.publish(Published([]))
        fanout.close()
    assert subscriber.outbox.close_code == 1001


async def test_private_channels_start_with_the_next_batch_the_read_model_applies() -> None:
    """Batches applied before `orders` was subscribed carry no order events for the account
    (it was not watched); their fills are held back too, so the two channels agree."""
    engine = Engine()
    readmodel = ReadModel()
    fanout = Fanout(readmodel, Metrics())
    commands = stream(7, 400)
    subscriber = Subscriber(Outbox(limit=10**9), account_id=1)
    fanout.attach(subscriber)
    pending: list[Published] = []
    for command in commands[:200]:  # applied by the read model, not yet published
        events = engine.handle(command)
        readmodel.apply(events)
        pending.append(Published(events, readmodel.take_notices(), readmodel.batches))
    for channel in ("orders", "fills"):
        fanout.subscribe(subscriber, channel)
    (snapshot,) = await drain(subscriber.outbox)  # the open orders as of the read model
    assert snapshot["type"] == "orders_snapshot"
    assert [o["order_id"] for o in snapshot["orders"]] == sorted(readmodel.accounts[1].open_ids)
    for published in pending:
        fanout._publish(published)
    assert len(subscriber.outbox) == 0
    fills = 0
    for command in commands[200:]:
        events = engine.handle(command)
        readmodel.apply(events)
        fanout._publish(Published(events, readmodel.take_notices(), readmodel.batches))
        fills += sum(1 for e in events if isinstance(e, TradeExecuted)
                     for account in (e.maker_account_id, e.taker_account_id) if account == 1)
    messages = await drain(subscriber.outbox)
    assert fills > 0
    assert len([m for m in messages if m["type"] == "fill"]) == fills
    assert len([m for m in messages if m["type"] == "order" and m["event"] == "fill"]) == fills


@pytest.mark.parametrize("joins_at", [0, 37, 150])
async def test_orders_and_balances_snapshots_plus_updates_are_the_read_models_state(
        joins_at: int) -> None:
    """Subscribed while the read model is ahead of the fan-out (batches applied, not yet
    published): snapshot plus the later events give exactly the account's final open orders
    and balances."""
    from exchange.web import render

    engine = Engine()
    readmodel = ReadModel()
    fanout = Fanout(readmodel, Metrics())
    commands = stream(11, 300)
    subscriber = Subscriber(Outbox(limit=10**9), account_id=1)
    fanout.attach(subscriber)
    pending: list[Published] = []
    for index, command in enumerate(commands):
        if index == joins_at:
            fanout.subscribe(subscriber, "orders")
            fanout.subscribe(subscriber, "balances")
        events = engine.handle(command)
        readmodel.apply(events)
        pending.append(Published(events, readmodel.take_notices(), readmodel.batches))
        if index % 5 == 4:  # the fan-out runs behind the read model
            for published in pending:
                fanout._publish(published)
            pending.clear()
    for published in pending:
        fanout._publish(published)
    messages = await drain(subscriber.outbox)
    kinds = [m["type"] for m in messages]
    assert kinds[:2] == ["orders_snapshot", "balances_snapshot"]
    open_orders = {o["order_id"]: o for o in messages[0]["orders"]}
    balances = {b["asset"]: b for b in messages[1]["balances"]}
    for message in messages[2:]:
        if message["type"] == "order":
            order = message["order"]
            if order["status"] in ("new", "partially_filled", "pending"):
                open_orders[order["order_id"]] = order
            else:
                open_orders.pop(order["order_id"], None)
        else:
            assert message["type"] == "balance"
            balances[message["asset"]] = {key: message[key] for key in
                                          ("asset", "total", "available", "held")}
    account = readmodel.accounts[1]
    assert sorted(open_orders) == sorted(account.open_ids)
    assert [balances[asset] for asset in sorted(balances)] == render.balances(account)
    assert len([k for k in kinds if k == "balance"]) > 10


def test_a_dialects_channels_are_indexed_and_let_go() -> None:
    """Another surface's channels (`Fanout.dialects`) are found under their prefix while
    subscribed, and the index forgets them with their last subscriber; a /v1 subscriber
    cannot take them."""
    from exchange.binance.streams import BinanceStreams

    readmodel = ReadModel()
    fanout = Fanout(readmodel, Metrics())
    BinanceStreams(fanout)
    fanout.books["BTC-USD"] = type("Book", (), {"inst": type("I", (), {
        "base": "BTC", "quote": "USD", "symbol": "BTC-USD"})()})()  # type: ignore[assignment]
    first, second = (Subscriber(Outbox(), dialect="bn") for _ in range(2))
    for subscriber in (first, second):
        fanout.check(subscriber, "bn:btcusd@trade")
        fanout.subscribe(subscriber, "bn:btcusd@trade")
    assert fanout.dialect_channels == {"bn": {"bn:btcusd@trade": {first, second}}}
    with pytest.raises(ChannelError):
        fanout.check(Subscriber(Outbox()), "bn:btcusd@trade")
    fanout.unsubscribe(first, "bn:btcusd@trade")
    assert fanout.dialect_channels == {"bn": {"bn:btcusd@trade": {second}}}
    fanout.detach(second)
    assert fanout.dialect_channels == {}
