"""The engine against a naive reference book (`reference.py`), command by command.

Random plain limit (GTC/IOC), market-by-quantity and cancel sequences on one fee-free
instrument with generously funded accounts go through both; after every command the
outcomes (acceptances, trades with price, quantity, maker, taker and taker side, terminal
events with their reasons, refused cancels) must be the same, in the same order, and so must
the full depth of the book. Self-trade prevention is `none` or `cancel_newest`, which the
reference models. A second run adds stops and take-profits, market and limit.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, seed, settings

from exchange.engine import Engine
from exchange.engine.codes import TAKE_PROFITS, TRIGGER_LIMITS, TRIGGERS, OrderType
from exchange.engine.commands import AnyCommand, CancelOrder, PlaceOrder
from exchange.engine.events import (
    AnyEvent,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    RequestRejected,
    TradeExecuted,
)

from .reference import Outcome, ReferenceBook
from .strategies import PLAIN_SYMBOL, plain_sequences, plain_setup, trigger_sequences


def outcomes(events: list[AnyEvent]) -> list[Outcome]:
    """The engine's events in the reference's terms (book and balance events left out: the
    depth is compared directly, and the reference has no balances)."""
    out: list[Outcome] = []
    for event in events:
        match event:
            case OrderAccepted():
                out.append(("accepted", event.order_id))
            case OrderTriggered():
                out.append(("triggered", event.order_id))
            case TradeExecuted():
                out.append(
                    ("trade", event.price, event.quantity, event.maker_order_id,
                     event.taker_order_id, str(event.taker_side))
                )
            case OrderFilled():
                out.append(("filled", event.order_id))
            case OrderCancelled():
                out.append(("cancelled", event.order_id, str(event.reason)))
            case OrderExpired():
                out.append(("expired", event.order_id, str(event.reason)))
            case RequestRejected():
                out.append(("request_rejected", event.order_id, str(event.reason)))
            case OrderRejected():
                out.append(("rejected", event.order_id, str(event.reason)))
    return out


def expected(reference: ReferenceBook, command: AnyCommand) -> list[Outcome]:
    if isinstance(command, PlaceOrder):
        kind = command.type
        trigger = None
        if kind in TRIGGERS:
            assert command.stop_price is not None
            trigger = ("take_profit" if kind in TAKE_PROFITS else "stop", command.stop_price)
        return reference.place(
            command.account_id,
            str(command.side),
            command.quantity or 0,
            command.price if kind == OrderType.LIMIT or kind in TRIGGER_LIMITS else None,
            str(command.time_in_force),
            str(command.self_trade_prevention),
            trigger,
        )
    assert isinstance(command, CancelOrder)
    return reference.cancel(command.account_id, command.order_id)


@given(plain_sequences())
def test_engine_matches_the_reference_book(commands: list[AnyCommand]) -> None:
    compare(commands)


@given(trigger_sequences())
def test_engine_matches_the_reference_book_with_triggers(commands: list[AnyCommand]) -> None:
    """The same with stops and take-profits: when each triggers, in which order, and what it
    then trades; and pending orders stay off the book."""
    compare(commands)


def compare(commands: list[AnyCommand]) -> None:
    engine = Engine()
    engine.process(plain_setup())
    reference = ReferenceBook()
    for step, command in enumerate(commands):
        got = outcomes(engine.handle(command))
        engine.check()
        want = expected(reference, command)
        assert got == want, f"step {step}: {command}"
        assert engine.depth(PLAIN_SYMBOL) == reference.depth(), f"step {step}: {command}"


def test_reference_book_by_hand() -> None:
    """The reference itself, on a case worked out by hand: price-time priority across two
    levels, a partial fill that rests, STP cancel_newest and a cancel."""
    book = ReferenceBook()
    assert book.place(1, "sell", 2, 101, "gtc", "none") == [("accepted", 1)]
    assert book.place(2, "sell", 3, 100, "gtc", "none") == [("accepted", 2)]
    assert book.place(3, "sell", 1, 100, "gtc", "none") == [("accepted", 3)]
    assert book.place(1, "buy", 5, 101, "gtc", "none") == [
        ("accepted", 4),
        ("trade", 100, 3, 2, 4, "buy"),
        ("filled", 2),
        ("trade", 100, 1, 3, 4, "buy"),
        ("filled", 3),
        ("trade", 101, 1, 1, 4, "buy"),  # STP none: account 1 trades with itself
        ("filled", 4),
    ]
    assert book.depth() == ([], [(101, 1, 1)])
    assert book.place(1, "buy", 2, 102, "gtc", "cancel_newest") == [
        ("accepted", 5),
        ("expired", 5, "stp"),
    ]
    assert book.place(2, "buy", 4, None, "ioc", "cancel_newest") == [
        ("accepted", 6),
        ("trade", 101, 1, 1, 6, "buy"),
        ("filled", 1),
        ("expired", 6, "market"),
    ]
    assert book.place(3, "buy", 2, 99, "gtc", "none") == [("accepted", 7)]
    assert book.depth() == ([(99, 2, 1)], [])
    assert book.cancel(2, 7) == [("request_rejected", 7, "forbidden")]
    assert book.cancel(3, 7) == [("cancelled", 7, "user")]
    assert book.cancel(3, 7) == [("request_rejected", 7, "order_not_open")]
    assert book.cancel(3, 8) == [("request_rejected", 8, "not_found")]
    assert book.depth() == ([], [])


def test_reference_triggers_by_hand() -> None:
    """The reference's triggers, worked out by hand: a sell take-profit due when the price
    rises to it, a buy take-profit when it falls to it, one due at placement at once, a
    cancelled one never, and two due together in placement order."""
    book = ReferenceBook()
    assert book.place(1, "sell", 1, None, "gtc", "none", ("take_profit", 102)) == [
        ("accepted", 1),  # no trade yet: nothing is due
    ]
    assert book.place(2, "buy", 1, 98, "gtc", "none", ("take_profit", 99)) == [("accepted", 2)]
    assert book.place(3, "buy", 2, 101, "gtc", "none") == [("accepted", 3)]
    assert book.place(3, "sell", 1, 101, "gtc", "none") == [
        ("accepted", 4),
        ("trade", 101, 1, 3, 4, "sell"),
        ("filled", 4),
    ]
    assert book.place(3, "buy", 1, None, "gtc", "none", ("take_profit", 102)) == [
        ("accepted", 5),  # a buy take-profit at 102 is due at 101 already
        ("triggered", 5),
        ("expired", 5, "market"),
    ]
    assert book.place(2, "sell", 1, 102, "gtc", "none") == [("accepted", 6)]
    assert book.cancel(2, 2) == [("cancelled", 2, "user")]
    assert book.place(3, "buy", 1, 102, "gtc", "none") == [
        ("accepted", 7),
        ("trade", 102, 1, 6, 7, "buy"),
        ("filled", 6),
        ("filled", 7),
        ("triggered", 1),  # the sell take-profit: the price rose to 102
        ("trade", 101, 1, 3, 1, "sell"),
        ("filled", 3),
        ("filled", 1),
    ]
    assert book.pending == []
    assert book.place(1, "sell", 1, None, "gtc", "none", ("stop", 100)) == [("accepted", 8)]
    assert book.place(2, "buy", 1, 99, "ioc", "none", ("take_profit", 100)) == [
        ("accepted", 9),
    ]
    assert book.place(2, "buy", 1, 100, "gtc", "none") == [("accepted", 10)]
    assert book.place(3, "sell", 1, None, "gtc", "none") == [
        ("accepted", 11),
        ("trade", 100, 1, 10, 11, "sell"),
        ("filled", 10),
        ("filled", 11),
        ("triggered", 8),  # both due at 100, in placement order
        ("expired", 8, "market"),
        ("triggered", 9),
        ("expired", 9, "ioc"),
    ]
    assert book.depth() == ([], [])


def test_trigger_sequences_trigger_every_kind() -> None:
    """Guards the generator: a fixed-seed batch triggers each kind of stop and take-profit,
    market and limit."""
    seen: Counter[str] = Counter()

    @seed(20261204)
    @settings(max_examples=40, database=None, suppress_health_check=list(HealthCheck))
    @given(trigger_sequences())
    def collect(commands: list[AnyCommand]) -> None:
        engine = Engine()
        engine.process(plain_setup())
        types = {}
        for command in commands:
            for event in engine.handle(command):
                if isinstance(event, OrderAccepted):
                    types[event.order_id] = str(event.order.type)
                elif isinstance(event, OrderTriggered):
                    seen[types[event.order_id]] += 1

    collect()
    for kind in TRIGGERS:
        assert seen[kind] > 0, (kind, seen)
