"""Amend: new total quantity and price, time priority, holds, and refusals."""

import pytest

from exchange.engine.events import (
    OrderAmended,
    OrderFilled,
    RequestRejected,
    TradeExecuted,
)

from .helpers import (
    ALICE,
    BOB,
    CAROL,
    Sim,
    accepted_id,
    btc,
    kinds,
    levels,
    of_type,
    one,
    usd,
)


def maker_of_next_buy(sim: Sim, quantity: str = "1", price: str = "100") -> list[int]:
    """Makers (order ids) hit by a buy from CAROL, in order."""
    events = sim.place(CAROL, "buy", quantity, price)
    return [trade.maker_order_id for trade in of_type(events, TradeExecuted)]


def test_reducing_the_quantity_keeps_time_priority(sim: Sim) -> None:
    first = sim.limit(ALICE, "sell", "2", "100")
    second = sim.limit(BOB, "sell", "1", "100")

    events = sim.amend(ALICE, first, quantity="1")

    amended = one(events, OrderAmended)
    assert (amended.order_id, amended.quantity, amended.price) == (first, 1000, 10000)
    assert amended.priority == 1  # unchanged: the order's priority from its acceptance
    assert levels(events) == [("sell", 10000, 2000, 2)]
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("1"))
    assert maker_of_next_buy(sim) == [first]
    assert maker_of_next_buy(sim) == [second]


def test_increasing_the_quantity_loses_time_priority(sim: Sim) -> None:
    first = sim.limit(ALICE, "sell", "1", "100")
    second = sim.limit(BOB, "sell", "1", "100")

    events = sim.amend(ALICE, first, quantity="2")

    amended = one(events, OrderAmended)
    assert amended.quantity == 2000
    assert amended.priority > 2
    # Off the level, then back at its end.
    assert levels(events) == [("sell", 10000, 1000, 1), ("sell", 10000, 3000, 2)]
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("2"))
    assert maker_of_next_buy(sim, "1.5") == [second, first]


def test_changing_the_price_loses_time_priority(sim: Sim) -> None:
    first = sim.limit(ALICE, "sell", "1", "101")
    second = sim.limit(BOB, "sell", "1", "100")

    events = sim.amend(ALICE, first, price="100")

    assert one(events, OrderAmended).price == 10000
    assert levels(events) == [("sell", 10100, 0, 0), ("sell", 10000, 2000, 2)]
    assert sim.depth() == ([], [(10000, 2000, 2)])
    assert maker_of_next_buy(sim) == [second]


def test_amending_to_the_same_price_keeps_priority(sim: Sim) -> None:
    first = sim.limit(ALICE, "sell", "2", "100")
    sim.limit(BOB, "sell", "1", "100")

    events = sim.amend(ALICE, first, quantity="1.5", price="100")

    assert one(events, OrderAmended).priority == 1
    assert maker_of_next_buy(sim) == [first]


def test_amend_to_a_crossing_price_takes_liquidity(sim: Sim) -> None:
    bid = sim.limit(BOB, "buy", "1", "99")
    ask = sim.limit(ALICE, "sell", "1", "101")

    events = sim.amend(ALICE, ask, price="99")

    assert kinds(events) == [
        "BookLevelChanged",  # off 101
        "OrderAmended",
        "TradeExecuted",
        "OrderFilled",  # the bid
        "BookLevelChanged",  # 99 emptied
        "OrderFilled",  # the amended order
    ]
    trade = one(events, TradeExecuted)
    assert (trade.price, trade.quantity, trade.taker_side) == (9900, 1000, "sell")
    assert (trade.maker_order_id, trade.taker_order_id) == (bid, ask)
    assert trade.taker_fee == usd("0.198")
    assert sim.depth() == ([], [])
    assert sim.balance(ALICE, "USD") == (usd("1000000") + usd("99") - usd("0.198"), 0)


def test_amend_crossing_partially_rests_the_rest_at_the_new_price(sim: Sim) -> None:
    sim.limit(BOB, "buy", "1", "99")
    ask = sim.limit(ALICE, "sell", "3", "101")

    events = sim.amend(ALICE, ask, price="99")

    assert [(t.price, t.quantity) for t in of_type(events, TradeExecuted)] == [(9900, 1000)]
    assert sim.depth() == ([], [(9900, 2000, 1)])
    assert sim.balance(ALICE, "BTC") == (btc("99"), btc("2"))


def test_new_quantity_must_exceed_the_filled_quantity(sim: Sim) -> None:
    order_id = sim.limit(ALICE, "sell", "2", "100")
    sim.place(BOB, "buy", "1", "100")

    equal = sim.amend(ALICE, order_id, quantity="1")
    below = sim.amend(ALICE, order_id, quantity="0.5")
    above = sim.amend(ALICE, order_id, quantity="1.5")

    for events in (equal, below):
        assert kinds(events, balances=True) == ["RequestRejected"]
        rejected = one(events, RequestRejected)
        assert (rejected.reason, rejected.order_id) == ("invalid_order", order_id)
    assert one(above, OrderAmended).quantity == 1500
    assert levels(above) == [("sell", 10000, 500, 1)]
    assert sim.balance(ALICE, "BTC") == (btc("99"), btc("0.5"))


def test_post_only_amend_that_would_take_is_refused_and_leaves_the_order(sim: Sim) -> None:
    sim.limit(BOB, "buy", "1", "99")
    ask = sim.limit(ALICE, "sell", "1", "101", post_only=True)

    events = sim.amend(ALICE, ask, quantity="2", price="99")

    rejected = one(events, RequestRejected)
    assert (rejected.reason, rejected.order_id) == ("post_only_would_take", ask)
    assert of_type(events, TradeExecuted) == []
    assert sim.depth() == ([(9900, 1000, 1)], [(10100, 1000, 1)])
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("1"))
    # Still there at its old price and quantity.
    assert maker_of_next_buy(sim, "2", "101") == [ask]


def test_amend_adjusts_a_buy_hold(sim: Sim) -> None:
    order_id = sim.limit(BOB, "buy", "1", "100")
    assert sim.balance(BOB, "USD")[1] == usd("100.2")

    sim.amend(BOB, order_id, quantity="2")
    assert sim.balance(BOB, "USD")[1] == usd("200.4")
    sim.amend(BOB, order_id, price="50")
    assert sim.balance(BOB, "USD")[1] == usd("100.2")
    sim.amend(BOB, order_id, quantity="1")
    assert sim.balance(BOB, "USD") == (usd("1000000"), usd("50.1"))


def test_amend_adjusts_the_hold_of_a_partially_filled_buy(sim: Sim) -> None:
    order_id = sim.limit(BOB, "buy", "2", "100")
    sim.place(ALICE, "sell", "1", "100")  # bob pays 100 + 0.1 maker fee
    assert sim.balance(BOB, "USD") == (usd("1000000") - usd("100.1"), usd("100.2"))

    events = sim.amend(BOB, order_id, quantity="3")

    assert one(events, OrderAmended).quantity == 3000
    assert sim.balance(BOB, "USD") == (usd("1000000") - usd("100.1"), usd("200.4"))
    assert sim.depth()[0] == [(10000, 2000, 1)]


def test_amend_beyond_the_available_balance_is_refused(sim: Sim) -> None:
    dave = sim.new_account(USD="150.3")
    order_id = sim.limit(dave, "buy", "1", "100")

    events = sim.amend(dave, order_id, quantity="2")

    assert one(events, RequestRejected).reason == "insufficient_funds"
    assert sim.balance(dave, "USD") == (usd("150.3"), usd("100.2"))
    assert sim.depth()[0] == [(10000, 1000, 1)]


def test_amend_without_changes_is_invalid(sim: Sim) -> None:
    order_id = sim.limit(ALICE, "sell", "1", "100")

    events = sim.amend(ALICE, order_id)

    assert one(events, RequestRejected).reason == "invalid_order"


@pytest.mark.parametrize(
    ("account", "order_id", "reason"),
    [(ALICE, 99, "not_found"), (BOB, 1, "forbidden"), (ALICE, 2, "order_not_open")],
)
def test_amend_of_an_order_that_is_not_ours_and_open_is_refused(
    sim: Sim, account: int, order_id: int, reason: str
) -> None:
    sim.limit(ALICE, "sell", "1", "100")  # order 1, open
    filled = sim.place(ALICE, "buy", "1", "99")  # order 2, then filled
    sim.place(BOB, "sell", "1", "99")
    assert accepted_id(filled) == 2

    events = sim.amend(account, order_id, quantity="0.5")

    rejected = one(events, RequestRejected)
    assert (rejected.reason, rejected.order_id, rejected.account_id) == (
        reason, order_id, account,
    )
    assert of_type(events, OrderAmended) == []
    assert of_type(events, OrderFilled) == []
