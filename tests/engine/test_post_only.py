"""Post-only orders: they rest as makers or are rejected, never take."""

import pytest

from exchange.engine.events import (
    OrderAccepted,
    OrderAmended,
    OrderRejected,
    RequestRejected,
    TradeExecuted,
)

from .helpers import ALICE, BOB, CAROL, Sim, accepted_id, kinds, levels, of_type, one, usd


@pytest.fixture
def book(sim: Sim) -> Sim:
    """Bid 1 @ 99 (ALICE), ask 1 @ 101 (BOB)."""
    sim.limit(ALICE, "buy", "1", "99")
    sim.limit(BOB, "sell", "1", "101")
    return sim


def test_post_only_that_does_not_cross_rests_and_pays_the_maker_fee(book: Sim) -> None:
    sim = book
    events = sim.place(CAROL, "buy", "1", "100", post_only=True)

    assert kinds(events) == ["OrderAccepted", "BookLevelChanged"]
    assert levels(events) == [("buy", 10000, 1000, 1)]
    taken = sim.place(ALICE, "sell", "1", "100")
    trade = one(taken, TradeExecuted)
    assert trade.maker_order_id == accepted_id(events)
    assert trade.maker_fee == usd("0.1")


@pytest.mark.parametrize(
    ("side", "price"),
    [("buy", "101"), ("buy", "105"), ("sell", "99"), ("sell", "90")],
)
def test_post_only_that_would_take_is_rejected_and_leaves_nothing(
    book: Sim, side: str, price: str
) -> None:
    sim = book
    before_usd = sim.balance(CAROL, "USD")
    before_btc = sim.balance(CAROL, "BTC")

    events = sim.place(CAROL, side, "1", price, post_only=True, client_order_id="po-1")

    assert kinds(events, balances=True) == ["OrderRejected"]
    rejected = one(events, OrderRejected)
    assert (rejected.reason, rejected.order_id, rejected.client_order_id) == (
        "post_only_would_take", 0, "po-1",
    )
    assert sim.depth() == ([(9900, 1000, 1)], [(10100, 1000, 1)])
    assert sim.balance(CAROL, "USD") == before_usd
    assert sim.balance(CAROL, "BTC") == before_btc
    # No order id was used up.
    assert accepted_id(sim.place(CAROL, "buy", "1", "98")) == 3


def test_post_only_gtd_is_accepted(book: Sim) -> None:
    sim = book
    events = sim.place(CAROL, "buy", "1", "100", post_only=True, time_in_force="gtd",
                       expire_time=sim.ts + 10_000)

    assert one(events, OrderAccepted).order.post_only is True
    assert sim.depth()[0][0] == (10000, 1000, 1)


@pytest.mark.parametrize("time_in_force", ["ioc", "fok"])
def test_post_only_with_ioc_or_fok_is_invalid(book: Sim, time_in_force: str) -> None:
    sim = book
    events = sim.place(CAROL, "buy", "1", "100", post_only=True, time_in_force=time_in_force)

    assert one(events, OrderRejected).reason == "invalid_order"
    assert of_type(events, OrderAccepted) == []


def test_post_only_amend_to_a_price_that_does_not_cross_is_accepted(book: Sim) -> None:
    sim = book
    order_id = sim.limit(CAROL, "buy", "1", "99.5", post_only=True)

    events = sim.amend(CAROL, order_id, price="100.99")

    amended = one(events, OrderAmended)
    assert (amended.order_id, amended.price, amended.quantity) == (order_id, 10099, 1000)
    assert of_type(events, TradeExecuted) == []
    assert sim.depth()[0] == [(10099, 1000, 1), (9900, 1000, 1)]


def test_post_only_amend_that_would_take_is_rejected_and_changes_nothing(book: Sim) -> None:
    sim = book
    order_id = sim.limit(CAROL, "buy", "1", "100", post_only=True)
    held = sim.balance(CAROL, "USD")

    events = sim.amend(CAROL, order_id, price="101")

    assert kinds(events, balances=True) == ["RequestRejected"]
    rejected = one(events, RequestRejected)
    assert (rejected.reason, rejected.order_id, rejected.account_id) == (
        "post_only_would_take", order_id, CAROL,
    )
    assert sim.depth() == ([(10000, 1000, 1), (9900, 1000, 1)], [(10100, 1000, 1)])
    assert sim.balance(CAROL, "USD") == held
