"""Take-profit market and take-profit limit orders: stops that trigger the other way (a sell
when the last price rises to its stop price, a buy when it falls to it), then run exactly as
a triggered stop does. Here: what mixes them with stops (one list of both, ordering and
cascades across the kinds), the resting limit, cancel-all and the self-check. The direction
of the trigger, triggering at placement, holds, rejections at trigger, cancels, expiry,
amends and the fields are tested for stops and take-profits alike in `test_stops.py`."""

import pytest

from exchange.engine import InvariantError
from exchange.engine.events import OrderAccepted, OrderCancelled, TradeExecuted

from .helpers import (
    ALICE,
    BOB,
    CAROL,
    SYMBOL,
    Sim,
    accepted_id,
    btc,
    fills,
    levels,
    of_type,
    one,
    px,
    triggered,
    usd,
)


def test_a_stop_and_a_take_profit_of_one_side_trigger_in_opposite_directions(
    at_100: Sim,
) -> None:
    """A sell stop at 95 and a sell take-profit at 105: a rise sets off only the
    take-profit (a limit one, resting at 104, so that its sale does not move the price)."""
    sim = at_100
    stop_id = accepted_id(sim.stop(ALICE, "sell", "1", "95"))
    tp_id = accepted_id(sim.take_profit(ALICE, "sell", "1", "105", price="104"))

    events = sim.trade_at("105", buyer=BOB, seller=CAROL)

    assert triggered(events) == [tp_id]
    assert stop_id in sim.engine.orders
    assert sim.engine.orders[stop_id].pending


def test_no_take_profit_triggers_before_any_trade(sim: Sim) -> None:
    sim.limit(BOB, "buy", "1", "94")

    events = sim.take_profit(ALICE, "sell", "1", "1")

    assert one(events, OrderAccepted).pending is True
    assert triggered(events) == []


def test_stops_and_take_profits_due_together_trigger_in_placement_order(
    at_100: Sim,
) -> None:
    """A buy stop and a sell take-profit both wait for a rise (in one list); due together,
    they trigger in placement order, whichever kind and price."""
    sim = at_100
    tp_id = accepted_id(sim.take_profit(CAROL, "sell", "1", "103"))
    stop_id = accepted_id(sim.stop(ALICE, "buy", "1", "102"))
    assert sim.engine.instruments[SYMBOL].buy_stops == [(px("102"), stop_id),
                                                         (px("103"), tp_id)]

    events = sim.trade_at("103", buyer=BOB, seller=CAROL)

    assert triggered(events) == [tp_id, stop_id]
    trades = of_type(events, TradeExecuted)
    assert [(t.price, t.taker_order_id) for t in trades] == [
        (10300, accepted_id(events)), (9400, tp_id), (10600, stop_id),
    ]
    assert sim.engine.instruments[SYMBOL].buy_stops == []


def test_a_take_profit_sets_off_a_stop(at_100: Sim) -> None:
    """The take-profit's own trade moves the price down to a sell stop, which triggers in
    the same command (a cascade across the two kinds)."""
    sim = at_100
    sim.limit(BOB, "buy", "1", "93")
    tp_id = accepted_id(sim.take_profit(ALICE, "sell", "1", "105"))
    stop_id = accepted_id(sim.stop(CAROL, "sell", "1", "95"))

    events = sim.trade_at("105", buyer=BOB, seller=CAROL)

    assert triggered(events) == [tp_id, stop_id]
    assert fills(events) == [(10500, 1), (9400, 1000), (9300, 1000)]
    assert sim.depth()[0] == []


def test_triggered_take_profit_limit_rests_what_it_cannot_fill(at_100: Sim) -> None:
    """The limit is what a take-profit limit is for: triggered at 105 with a limit of 104,
    the sell does not take the bid at 94 but rests."""
    sim = at_100
    tp_id = accepted_id(sim.take_profit(ALICE, "sell", "1", "105", price="104"))

    events = sim.trade_at("105", buyer=BOB, seller=CAROL)

    assert triggered(events) == [tp_id]
    assert levels(events)[-1] == ("sell", 10400, 1000, 1)
    assert fills(events) == [(10500, 1)]
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("1"))


def test_cancel_all_takes_pending_take_profits_off_their_lists(at_100: Sim) -> None:
    sim = at_100
    sim.take_profit(ALICE, "sell", "1", "105")
    sim.take_profit(ALICE, "buy", "1", "95", price="96")

    events = sim.cancel_all(ALICE)

    assert len(of_type(events, OrderCancelled)) == 2
    inst = sim.engine.instruments[SYMBOL]
    assert (inst.buy_stops, inst.sell_stops) == ([], [])
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)


def test_the_self_check_finds_a_take_profit_in_the_wrong_list(at_100: Sim) -> None:
    """A sell take-profit waits with the buy stops (for a rise): in the sell stops it would
    never trigger, and `check()` says so."""
    sim = at_100
    tp_id = accepted_id(sim.take_profit(ALICE, "sell", "1", "105"))
    inst = sim.engine.instruments[SYMBOL]
    assert inst.buy_stops == [(px("105"), tp_id)]
    inst.sell_stops, inst.buy_stops = inst.buy_stops, []

    with pytest.raises(InvariantError, match="belongs to another list"):
        sim.engine.check()
