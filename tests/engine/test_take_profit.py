"""Take-profit market and take-profit limit orders: stops that trigger the other way (a sell
when the last price rises to its stop price, a buy when it falls to it), then run exactly as
a triggered stop does: holds, cascades with stops, rejections at trigger, cancels, expiry,
amends and the self-check."""

import pytest

from exchange.engine import InvariantError
from exchange.engine.events import (
    BookLevelChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    OrderTriggered,
    RequestRejected,
    TradeExecuted,
)

from .helpers import (
    ALICE,
    BOB,
    CAROL,
    SYMBOL,
    Sim,
    accepted_id,
    btc,
    fills,
    kinds,
    levels,
    of_type,
    one,
    px,
    usd,
)


def triggered(events: list) -> list[int]:
    return [e.order_id for e in of_type(events, OrderTriggered)]


@pytest.fixture
def at_100(sim: Sim) -> Sim:
    """Last price 100 (BOB bought 0.001 from CAROL); ask 1 @ 106 and bid 1 @ 94 (BOB)."""
    sim.trade_at("100", buyer=BOB, seller=CAROL)
    sim.limit(BOB, "sell", "1", "106")
    sim.limit(BOB, "buy", "1", "94")
    return sim


def test_sell_take_profit_triggers_when_the_last_price_rises_to_it(at_100: Sim) -> None:
    sim = at_100
    placed = sim.take_profit(ALICE, "sell", "1", "105")
    tp_id = accepted_id(placed)

    below = sim.trade_at("104.99", buyer=BOB, seller=CAROL)
    reached = sim.trade_at("105", buyer=BOB, seller=CAROL)

    assert one(placed, OrderAccepted).pending is True
    assert triggered(placed) == triggered(below) == []
    assert triggered(reached) == [tp_id]
    trade = of_type(reached, TradeExecuted)[1]
    assert (trade.price, trade.quantity, trade.taker_order_id) == (9400, 1000, tp_id)
    assert sim.balance(ALICE, "BTC") == (btc("99"), 0)
    assert sim.balance(ALICE, "USD") == (usd("1000000") + usd("94") - usd("0.188"), 0)


def test_buy_take_profit_triggers_when_the_last_price_falls_to_it(at_100: Sim) -> None:
    sim = at_100
    placed = sim.take_profit(ALICE, "buy", "1", "95")
    tp_id = accepted_id(placed)

    above = sim.trade_at("95.01", buyer=BOB, seller=CAROL)
    reached = sim.trade_at("95", buyer=BOB, seller=CAROL)

    assert triggered(placed) == triggered(above) == []
    assert triggered(reached) == [tp_id]
    trade = of_type(reached, TradeExecuted)[1]
    assert (trade.price, trade.quantity, trade.taker_order_id) == (10600, 1000, tp_id)
    assert sim.balance(ALICE, "BTC") == (btc("101"), 0)
    assert sim.balance(ALICE, "USD") == (usd("1000000") - usd("106.212"), 0)


def test_take_profit_triggers_when_the_last_price_jumps_past_it(at_100: Sim) -> None:
    sim = at_100
    tp_id = accepted_id(sim.take_profit(ALICE, "sell", "1", "105"))

    events = sim.trade_at("105.5", buyer=BOB, seller=CAROL)

    assert triggered(events) == [tp_id]


def test_take_profits_on_the_wrong_side_of_the_move_stay_pending(at_100: Sim) -> None:
    sim = at_100
    sim.take_profit(ALICE, "sell", "1", "105")
    sim.take_profit(ALICE, "buy", "1", "95")

    events = sim.trade_at("99", buyer=BOB, seller=CAROL)
    events += sim.trade_at("101", buyer=BOB, seller=CAROL)

    assert triggered(events) == []
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("1"))  # the sell's base
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)  # a market buy holds nothing


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


@pytest.mark.parametrize(("side", "stop", "price"), [("sell", "100", 9400),
                                                      ("sell", "99", 9400),
                                                      ("buy", "100", 10600),
                                                      ("buy", "101", 10600)])
def test_take_profit_whose_condition_holds_when_placed_triggers_at_once(
    at_100: Sim, side: str, stop: str, price: int
) -> None:
    """As a stop does: a trigger already due is not refused, it runs in the placement."""
    sim = at_100
    events = sim.take_profit(ALICE, side, "1", stop)

    tp_id = accepted_id(events)
    assert kinds(events)[:3] == ["OrderAccepted", "OrderTriggered", "TradeExecuted"]
    assert triggered(events) == [tp_id]
    assert fills(events) == [(price, 1000)]


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


def test_take_profit_limit_holds_like_a_limit(at_100: Sim) -> None:
    sim = at_100
    buy = sim.take_profit(ALICE, "buy", "1", "95", price="96")
    assert kinds(buy) == ["OrderAccepted"]  # nothing on the book
    assert sim.balance(ALICE, "USD") == (usd("1000000"), usd("96.192"))

    sell = sim.take_profit(ALICE, "sell", "2", "105", price="104")
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("2"))

    sim.cancel(ALICE, accepted_id(buy))
    cancelled = sim.cancel(ALICE, accepted_id(sell))
    assert one(cancelled, OrderCancelled).reason == "user"
    assert of_type(cancelled, BookLevelChanged) == []
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)


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


def test_take_profit_market_sell_holds_its_base_and_buy_holds_nothing(at_100: Sim) -> None:
    sim = at_100
    sell = sim.take_profit(ALICE, "sell", "1.5", "105")
    buy = sim.take_profit(ALICE, "buy", "1", "95")

    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("1.5"))
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)
    assert kinds(buy, balances=True) == ["OrderAccepted"]
    assert one(sell, OrderAccepted).pending is True


def test_take_profit_market_sell_beyond_the_base_balance_is_rejected(at_100: Sim) -> None:
    sim = at_100
    dave = sim.new_account(BTC="0.5")

    events = sim.take_profit(dave, "sell", "1", "105")

    rejected = one(events, OrderRejected)
    assert (rejected.reason, rejected.order_id) == ("insufficient_funds", 0)


def test_take_profit_market_buy_with_nothing_available_is_rejected_when_it_triggers(
    at_100: Sim,
) -> None:
    sim = at_100
    dave = sim.new_account(USD="90.18")
    sim.limit(dave, "buy", "1", "90")  # holds all of it
    tp_id = accepted_id(sim.take_profit(dave, "buy", "1", "95", client_order_id="tp-1"))

    events = sim.trade_at("95", buyer=BOB, seller=CAROL)

    assert triggered(events) == [tp_id]
    rejected = one(events, OrderRejected)
    assert (rejected.account_id, rejected.reason, rejected.order_id) == (
        dave, "insufficient_funds", tp_id,
    )
    assert rejected.client_order_id == "tp-1"
    assert sim.balance(dave, "USD") == (usd("90.18"), usd("90.18"))


def test_triggered_post_only_take_profit_limit_that_would_take_is_rejected(
    at_100: Sim,
) -> None:
    sim = at_100
    tp_id = accepted_id(sim.take_profit(ALICE, "buy", "1", "95", price="106", post_only=True))
    assert sim.balance(ALICE, "USD")[1] == usd("106.212")

    events = sim.trade_at("95", buyer=BOB, seller=CAROL)

    assert triggered(events) == [tp_id]
    rejected = one(events, OrderRejected)
    assert (rejected.order_id, rejected.reason) == (tp_id, "post_only_would_take")
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)


def test_cancelled_take_profit_never_triggers(at_100: Sim) -> None:
    sim = at_100
    tp_id = accepted_id(sim.take_profit(ALICE, "sell", "1", "105"))

    cancelled = sim.cancel(ALICE, tp_id)
    later = sim.trade_at("105", buyer=BOB, seller=CAROL)

    assert kinds(cancelled) == ["OrderCancelled"]
    assert triggered(later) == []
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)
    assert sim.engine.instruments[SYMBOL].buy_stops == []


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


def test_pending_gtd_take_profit_limit_expires_and_releases_its_hold(at_100: Sim) -> None:
    sim = at_100
    expire_time = sim.ts + 100
    tp_id = accepted_id(sim.take_profit(ALICE, "buy", "1", "95", price="96",
                                        time_in_force="gtd", expire_time=expire_time))

    events = sim.expire(expire_time)

    assert [(e.order_id, e.reason) for e in of_type(events, OrderExpired)] == [(tp_id, "gtd")]
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)
    assert triggered(sim.trade_at("95", buyer=BOB, seller=CAROL)) == []


def test_amending_a_pending_take_profit_limit_moves_its_hold(at_100: Sim) -> None:
    sim = at_100
    tp_id = accepted_id(sim.take_profit(ALICE, "buy", "1", "95", price="96"))

    events = sim.amend(ALICE, tp_id, quantity="2", price="97")

    assert [(e.price, e.quantity) for e in of_type(events, OrderAmended)] == [(9700, 2000)]
    assert of_type(events, BookLevelChanged) == []
    assert sim.balance(ALICE, "USD") == (usd("1000000"), usd("194.388"))
    assert sim.engine.orders[tp_id].pending
    # Still waiting for its trigger, then buying at the amended limit.
    reached = sim.trade_at("95", buyer=BOB, seller=CAROL)
    assert triggered(reached) == [tp_id]
    assert levels(reached)[-1] == ("buy", 9700, 2000, 1)


def test_a_take_profit_market_has_no_price_to_amend(at_100: Sim) -> None:
    sim = at_100
    tp_id = accepted_id(sim.take_profit(ALICE, "sell", "1", "105"))

    events = sim.amend(ALICE, tp_id, price="104")
    reduced = sim.amend(ALICE, tp_id, quantity="0.5")

    assert one(events, RequestRejected).reason == "invalid_order"
    assert one(reduced, OrderAmended).quantity == 500
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("0.5"))


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "take_profit_market"},  # no stop_price
        {"type": "take_profit_limit", "stop_price": 9_500},  # no price
        {"type": "take_profit_limit", "price": 9_500},  # no stop_price
        {"type": "take_profit_market", "stop_price": 9_500, "price": 9_600},
        {"type": "take_profit_market", "stop_price": 9_500, "time_in_force": "fok"},
        {"type": "take_profit_market", "stop_price": 0},
        {"type": "take_profit_market", "stop_price": 9_500, "quote_quantity": 10**12},
    ],
)
def test_take_profit_fields_are_checked(at_100: Sim, fields: dict[str, object]) -> None:
    sim = at_100
    quantity = None if "quote_quantity" in fields else "1"
    events = sim.place(ALICE, "buy", quantity, **fields)

    assert one(events, OrderRejected).reason == "invalid_order"


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
