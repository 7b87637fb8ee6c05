"""The engine against a naive reference book (`reference.py`), command by command.

Random plain limit (GTC/IOC), market-by-quantity and cancel sequences on one fee-free
instrument with generously funded accounts go through both; after every command the
outcomes (acceptances, trades with price, quantity, maker, taker and taker side, terminal
events with their reasons, refused cancels) must be the same, in the same order, and so must
the full depth of the book. Self-trade prevention is `none` or `cancel_newest`, which the
reference models.
"""

from __future__ import annotations

from hypothesis import given

from exchange.engine import Engine
from exchange.engine.codes import OrderType
from exchange.engine.commands import AnyCommand, CancelOrder, PlaceOrder
from exchange.engine.events import (
    AnyEvent,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    RequestRejected,
    TradeExecuted,
)

from .reference import Outcome, ReferenceBook
from .strategies import PLAIN_SYMBOL, plain_sequences, plain_setup


def outcomes(events: list[AnyEvent]) -> list[Outcome]:
    """The engine's events in the reference's terms (book and balance events left out: the
    depth is compared directly, and the reference has no balances)."""
    out: list[Outcome] = []
    for event in events:
        match event:
            case OrderAccepted():
                out.append(("accepted", event.order_id))
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
        return reference.place(
            command.account_id,
            str(command.side),
            command.quantity or 0,
            command.price if command.type == OrderType.LIMIT else None,
            str(command.time_in_force),
            str(command.self_trade_prevention),
        )
    assert isinstance(command, CancelOrder)
    return reference.cancel(command.account_id, command.order_id)


@given(plain_sequences())
def test_engine_matches_the_reference_book(commands: list[AnyCommand]) -> None:
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
