"""Brackets: take-profit and stop-loss children of a finished parent, one-cancels-other."""

from dataclasses import dataclass

import pytest

from exchange.engine.events import (
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
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
    fills,
    kinds,
    levels,
    of_type,
    one,
    usd,
)


@dataclass
class Bracket:
    parent: int
    take_profit: int
    stop_loss: int
    events: list


def children(events: list) -> list[OrderAccepted]:
    return [e for e in of_type(events, OrderAccepted) if e.parent_order_id]


def cancelled(events: list) -> list[tuple[int, str]]:
    return [(e.order_id, str(e.reason)) for e in of_type(events, OrderCancelled)]


@pytest.fixture
def bracket(sim: Sim) -> Bracket:
    """ALICE bought 1 @ 100 from BOB with take-profit 110 and stop-loss 95; BOB bids 1 @ 94."""
    sim.limit(BOB, "sell", "1", "100")
    sim.limit(BOB, "buy", "1", "94")
    events = sim.place(ALICE, "buy", "1", "100", take_profit_price="110", stop_loss_price="95")
    tp, sl = children(events)
    return Bracket(accepted_id(events), tp.order_id, sl.order_id, events)


def test_filled_parent_creates_a_take_profit_limit_and_a_stop_loss_stop(
    sim: Sim, bracket: Bracket
) -> None:
    events = bracket.events
    tp, sl = children(events)

    assert kinds(events) == [
        "OrderAccepted", "TradeExecuted", "OrderFilled", "BookLevelChanged", "OrderFilled",
        "OrderAccepted", "OrderAccepted", "BookLevelChanged",
    ]
    assert of_type(events, OrderFilled)[-1].order_id == bracket.parent
    assert (tp.parent_order_id, sl.parent_order_id) == (bracket.parent, bracket.parent)
    assert (tp.order.type, tp.order.side, tp.order.price, tp.order.quantity) == (
        "limit", "sell", 11000, 1000,
    )
    assert tp.pending is False
    assert (sl.order.type, sl.order.side, sl.order.stop_price, sl.order.quantity) == (
        "stop_market", "sell", 9500, 1000,
    )
    assert sl.pending is True
    assert levels(events)[-1] == ("sell", 11000, 1000, 1)
    assert sim.depth() == ([(9400, 1000, 1)], [(11000, 1000, 1)])
    # One BTC bought, one BTC held for the pair: the hold is shared, not doubled.
    assert sim.balance(ALICE, "BTC") == (btc("101"), btc("1"))


def test_take_profit_fill_reduces_the_stop_loss(sim: Sim, bracket: Bracket) -> None:
    events = sim.place(CAROL, "buy", "0.3", "110")

    trade = one(events, TradeExecuted)
    assert (trade.maker_order_id, trade.quantity) == (bracket.take_profit, 300)
    amended = one(events, OrderAmended)
    assert (amended.order_id, amended.quantity, amended.price) == (bracket.stop_loss, 700, None)
    assert sim.balance(ALICE, "BTC") == (btc("100.7"), btc("0.7"))
    assert sim.depth()[1] == [(11000, 700, 1)]


def test_take_profit_completing_cancels_the_stop_loss(sim: Sim, bracket: Bracket) -> None:
    events = sim.place(CAROL, "buy", "1", "110")

    assert bracket.take_profit in [e.order_id for e in of_type(events, OrderFilled)]
    assert cancelled(events) == [(bracket.stop_loss, "oco")]
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)
    # The stop-loss is gone: a fall through 95 sets nothing off.
    later = sim.trade_at("95", buyer=BOB, seller=CAROL)
    assert of_type(later, OrderTriggered) == []


def test_stop_loss_trigger_cancels_the_take_profit(sim: Sim, bracket: Bracket) -> None:
    events = sim.trade_at("95", buyer=BOB, seller=CAROL)

    assert [e.order_id for e in of_type(events, OrderTriggered)] == [bracket.stop_loss]
    assert cancelled(events) == [(bracket.take_profit, "oco")]
    trades = of_type(events, TradeExecuted)
    assert [(t.price, t.quantity, t.taker_order_id) for t in trades[1:]] == [
        (9400, 1000, bracket.stop_loss),
    ]
    assert bracket.stop_loss in [e.order_id for e in of_type(events, OrderFilled)]
    assert ("sell", 11000, 0, 0) in levels(events)
    assert sim.depth() == ([], [])
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)
    sim.assert_conserved()


def test_stop_loss_after_a_partial_take_profit_sells_only_the_rest(
    sim: Sim, bracket: Bracket
) -> None:
    sim.place(CAROL, "buy", "0.3", "110")

    events = sim.trade_at("95", buyer=BOB, seller=CAROL)

    assert cancelled(events) == [(bracket.take_profit, "oco")]
    assert fills(events)[1:] == [(9400, 700)]
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)


def test_cancelling_the_take_profit_leaves_the_stop_loss_holding_its_own_base(
    sim: Sim, bracket: Bracket
) -> None:
    events = sim.cancel(ALICE, bracket.take_profit)

    assert cancelled(events) == [(bracket.take_profit, "user")]
    assert sim.balance(ALICE, "BTC") == (btc("101"), btc("1"))
    assert sim.depth()[1] == []
    later = sim.trade_at("95", buyer=BOB, seller=CAROL)
    assert [e.order_id for e in of_type(later, OrderTriggered)] == [bracket.stop_loss]
    assert fills(later)[1:] == [(9400, 1000)]
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)


def test_cancelling_the_stop_loss_leaves_the_take_profit(sim: Sim, bracket: Bracket) -> None:
    events = sim.cancel(ALICE, bracket.stop_loss)

    assert cancelled(events) == [(bracket.stop_loss, "user")]
    assert sim.balance(ALICE, "BTC") == (btc("101"), btc("1"))
    filled = sim.place(CAROL, "buy", "1", "110")
    assert one(filled, TradeExecuted).maker_order_id == bracket.take_profit
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)


@pytest.mark.parametrize("which", ["take_profit", "stop_loss"])
def test_bracket_children_cannot_be_amended(sim: Sim, bracket: Bracket, which: str) -> None:
    order_id = getattr(bracket, which)

    events = sim.amend(ALICE, order_id, quantity="0.5")

    rejected = one(events, RequestRejected)
    assert (rejected.reason, rejected.order_id) == ("invalid_order", order_id)
    assert sim.balance(ALICE, "BTC") == (btc("101"), btc("1"))


def test_children_are_made_after_a_partial_fill_when_the_parent_is_cancelled(sim: Sim) -> None:
    sim.limit(BOB, "sell", "0.4", "100")
    placed = sim.place(ALICE, "buy", "1", "100", take_profit_price="110", stop_loss_price="95")
    parent = accepted_id(placed)
    assert children(placed) == []  # still open: no children yet

    events = sim.cancel(ALICE, parent)

    assert cancelled(events) == [(parent, "user")]
    tp, sl = children(events)
    assert (tp.order.quantity, sl.order.quantity) == (400, 400)
    assert (tp.parent_order_id, sl.parent_order_id) == (parent, parent)
    assert sim.balance(ALICE, "BTC") == (btc("100.4"), btc("0.4"))
    assert sim.balance(ALICE, "USD")[1] == 0
    assert sim.depth()[1] == [(11000, 400, 1)]


def test_ioc_parent_partially_filled_gets_children_for_the_filled_quantity(sim: Sim) -> None:
    sim.limit(BOB, "sell", "0.25", "100")

    events = sim.place(ALICE, "buy", "1", "100", time_in_force="ioc",
                       take_profit_price="110", stop_loss_price="95")

    assert [c.order.quantity for c in children(events)] == [250, 250]


def test_parent_without_a_fill_creates_no_children(sim: Sim) -> None:
    ioc = sim.place(ALICE, "buy", "1", "100", time_in_force="ioc",
                    take_profit_price="110", stop_loss_price="95")
    resting = sim.limit(ALICE, "buy", "1", "100", take_profit_price="110",
                        stop_loss_price="95")
    cancel = sim.cancel(ALICE, resting)

    assert children(ioc) == children(cancel) == []
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)


def test_sell_parent_creates_buy_children_holding_quote_for_the_take_profit(sim: Sim) -> None:
    sim.limit(BOB, "buy", "1", "100")

    events = sim.place(ALICE, "sell", "1", "100", take_profit_price="90", stop_loss_price="105")

    tp, sl = children(events)
    assert (tp.order.side, tp.order.type, tp.order.price) == ("buy", "limit", 9000)
    assert (sl.order.side, sl.order.type, sl.order.stop_price) == ("buy", "stop_market", 10500)
    # 90 x 1 x 1.002 held for the pair; the stop-market buy holds nothing of its own.
    assert sim.balance(ALICE, "USD") == (usd("1000000") + usd("99.8"), usd("90.18"))
    assert sim.depth()[0] == [(9000, 1000, 1)]


def test_market_parent_gets_children(sim: Sim) -> None:
    sim.limit(BOB, "sell", "1", "100")

    events = sim.market(ALICE, "buy", "1", take_profit_price="110", stop_loss_price="95")

    assert [(c.order.type, c.order.quantity) for c in children(events)] == [
        ("limit", 1000), ("stop_market", 1000),
    ]


def test_stop_loss_alone_holds_its_base(sim: Sim) -> None:
    sim.limit(BOB, "sell", "1", "100")

    events = sim.place(ALICE, "buy", "1", "100", stop_loss_price="95")

    (sl,) = children(events)
    assert sl.order.type == "stop_market"
    assert sim.balance(ALICE, "BTC") == (btc("101"), btc("1"))


def test_children_the_account_cannot_cover_are_refused(sim: Sim) -> None:
    sim.limit(BOB, "buy", "1", "100")
    dave = sim.new_account(BTC="1")

    # Selling 1 at 100 leaves 99.8 USD; a take-profit buy of 1 at 100 needs 100.2.
    events = sim.place(dave, "sell", "1", "100", take_profit_price="100", stop_loss_price="105")

    assert children(events) == []
    rejected = one(events, OrderRejected)
    assert (rejected.account_id, rejected.reason, rejected.order_id) == (
        dave, "insufficient_funds", 0,
    )
    assert sim.balance(dave, "USD") == (usd("99.8"), 0)


def test_cancel_all_runs_stops_set_off_by_children_on_another_instrument(sim: Sim) -> None:
    sim.add_instrument("ETH-USD", "ETH", "USD")
    for account in (ALICE, BOB, CAROL):
        sim.deposit(account, "ETH", btc("100"))
    # A partly filled bracket parent on each instrument, BTC-USD's first.
    sim.limit(BOB, "sell", "0.4", "100")
    sim.limit(ALICE, "buy", "1", "100", take_profit_price="110", stop_loss_price="95")
    sim.limit(BOB, "sell", "0.4", "20", symbol="ETH-USD")  # last ETH-USD price: 20
    sim.limit(ALICE, "buy", "1", "20", symbol="ETH-USD", take_profit_price="19",
              stop_loss_price="15")
    sim.limit(BOB, "buy", "1", "19.5", symbol="ETH-USD")
    stop = accepted_id(sim.stop(CAROL, "sell", "0.1", "19.6", symbol="ETH-USD"))

    # Cancelling both parents creates the children; the ETH-USD take-profit (19) sells
    # at once into the 19.5 bid, which sets off CAROL's stop at 19.6 in the same command.
    events = sim.cancel_all(ALICE)

    eth = [t for t in of_type(events, TradeExecuted) if t.symbol == "ETH-USD"]
    assert [(t.price, t.quantity) for t in eth] == [(1950, 400), (1950, 100)]
    assert [e.order_id for e in of_type(events, OrderTriggered)] == [stop]
    assert eth[1].taker_order_id == stop
    sim.assert_conserved()
