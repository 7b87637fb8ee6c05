"""Stop-market and stop-limit orders: triggers, cascades, holds and rejections at trigger.

What take-profits do alike (holds, rejections at trigger, cancels, expiry, amends, the fields
they need) is tested here for both kinds, through the `trigger` fixture; what is their own
(the direction of the trigger) in `test_take_profit.py`."""

import pytest

from exchange.engine.events import (
    BookLevelChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    RequestRejected,
    TradeExecuted,
)

from .conftest import Trigger
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
    triggered,
    usd,
)


def test_buy_stop_triggers_when_the_last_price_reaches_it(
    at_100: Sim, trigger: Trigger
) -> None:
    """A buy stop when the price rises to it, a buy take-profit when it falls to it."""
    sim = at_100
    placed = trigger.place(sim, ALICE, "buy", "1")
    stop_id = accepted_id(placed)

    short = sim.trade_at(trigger.buy_near, buyer=BOB, seller=CAROL)
    reached = sim.trade_at(trigger.buy_at, buyer=BOB, seller=CAROL)

    assert one(placed, OrderAccepted).pending is True
    assert triggered(placed) == triggered(short) == []
    assert triggered(reached) == [stop_id]
    trade = of_type(reached, TradeExecuted)[1]
    assert (trade.price, trade.quantity, trade.taker_order_id) == (10600, 1000, stop_id)
    assert stop_id in [e.order_id for e in of_type(reached, OrderFilled)]
    assert sim.balance(ALICE, "BTC") == (btc("101"), 0)
    assert sim.balance(ALICE, "USD") == (usd("1000000") - usd("106.212"), 0)


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_stop_triggers_when_the_last_price_jumps_past_it(
    at_100: Sim, trigger: Trigger, side: str
) -> None:
    sim = at_100
    stop_id = accepted_id(trigger.place(sim, ALICE, side, "1"))

    events = sim.trade_at(trigger.buy_past if side == "buy" else trigger.sell_past,
                          buyer=BOB, seller=CAROL)

    assert triggered(events) == [stop_id]


def test_sell_stop_triggers_when_the_last_price_falls_to_it(
    at_100: Sim, trigger: Trigger
) -> None:
    """A sell stop when the price falls to it, a sell take-profit when it rises to it."""
    sim = at_100
    placed = trigger.place(sim, ALICE, "sell", "1")
    stop_id = accepted_id(placed)

    short = sim.trade_at(trigger.sell_near, buyer=BOB, seller=CAROL)
    reached = sim.trade_at(trigger.sell_at, buyer=BOB, seller=CAROL)

    assert triggered(placed) == triggered(short) == []
    assert triggered(reached) == [stop_id]
    trade = of_type(reached, TradeExecuted)[1]
    assert (trade.price, trade.quantity, trade.taker_order_id) == (9400, 1000, stop_id)
    assert sim.balance(ALICE, "BTC") == (btc("99"), 0)
    assert sim.balance(ALICE, "USD") == (usd("1000000") + usd("94") - usd("0.188"), 0)


def test_stops_on_the_wrong_side_of_the_move_stay_pending(
    at_100: Sim, trigger: Trigger
) -> None:
    sim = at_100
    trigger.place(sim, ALICE, "buy", "1")
    trigger.place(sim, ALICE, "sell", "1")

    events = sim.trade_at("99", buyer=BOB, seller=CAROL)
    events += sim.trade_at("101", buyer=BOB, seller=CAROL)

    assert triggered(events) == []
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("1"))
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)  # a market buy holds nothing


@pytest.mark.parametrize(("side", "beyond", "price"), [("buy", 0, 10600), ("buy", 1, 10600),
                                                        ("sell", 0, 9400), ("sell", 1, 9400)])
def test_stop_whose_condition_holds_when_placed_triggers_at_once(
    at_100: Sim, trigger: Trigger, side: str, beyond: int, price: int
) -> None:
    """At the last price (100), or `beyond` it on the side where it is due: triggered in the
    placement, never refused."""
    sim = at_100
    stop = str(100 - beyond if trigger.rises(side) else 100 + beyond)
    place = sim.stop if trigger.name == "stop" else sim.take_profit
    events = place(ALICE, side, "1", stop)

    stop_id = accepted_id(events)
    assert kinds(events)[:3] == ["OrderAccepted", "OrderTriggered", "TradeExecuted"]
    assert triggered(events) == [stop_id]
    assert fills(events) == [(price, 1000)]


def test_no_stop_triggers_before_any_trade(sim: Sim) -> None:
    sim.limit(BOB, "sell", "1", "106")

    events = sim.stop(ALICE, "buy", "1", "1")

    assert one(events, OrderAccepted).pending is True
    assert triggered(events) == []


def test_stops_cascade(at_100: Sim) -> None:
    sim = at_100
    sim.limit(BOB, "buy", "1", "99")
    sim.limit(BOB, "buy", "1", "98")
    sim.limit(BOB, "buy", "1", "97")
    first = accepted_id(sim.stop(ALICE, "sell", "1", "99"))
    second = accepted_id(sim.stop(CAROL, "sell", "1", "98"))
    dave = sim.new_account(BTC="1")

    events = sim.market(dave, "sell", "1")  # prints 99: ALICE sells at 98: CAROL at 97

    assert fills(events) == [(9900, 1000), (9800, 1000), (9700, 1000)]
    assert triggered(events) == [first, second]
    takers = [t.taker_order_id for t in of_type(events, TradeExecuted)]
    assert takers == [accepted_id(events), first, second]
    # Each stop triggers after the trade that set it off and before its own trade.
    order = [
        (type(e).__name__, getattr(e, "order_id", None) or getattr(e, "taker_order_id", None))
        for e in events
        if isinstance(e, OrderTriggered | TradeExecuted)
    ]
    assert order == [
        ("TradeExecuted", accepted_id(events)),
        ("OrderTriggered", first),
        ("TradeExecuted", first),
        ("OrderTriggered", second),
        ("TradeExecuted", second),
    ]
    assert sim.depth()[0] == [(9400, 1000, 1)]


def test_stops_due_together_trigger_in_placement_order(at_100: Sim) -> None:
    sim = at_100
    sim.limit(BOB, "buy", "1", "99")
    sim.limit(BOB, "buy", "1", "95")
    placed_first = accepted_id(sim.stop(ALICE, "sell", "1", "97"))
    placed_second = accepted_id(sim.stop(CAROL, "sell", "1", "98"))
    dave = sim.new_account(BTC="2")

    events = sim.market(dave, "sell", "2")  # prints 99 then 95: both stops due at once

    assert triggered(events) == [placed_first, placed_second]
    trades = of_type(events, TradeExecuted)
    assert [(t.price, t.taker_order_id) for t in trades] == [
        (9900, accepted_id(events)),
        (9500, accepted_id(events)),
        (9400, placed_first),
    ]
    # The second stop finds an empty bid side: its market sell expires.
    assert [(e.order_id, e.reason) for e in of_type(events, OrderExpired)] == [
        (placed_second, "market"),
    ]


def test_stop_limit_holds_like_a_limit(at_100: Sim, trigger: Trigger) -> None:
    sim = at_100
    buy = trigger.place(sim, ALICE, "buy", "1", price="106")
    assert kinds(buy) == ["OrderAccepted"]  # nothing on the book
    assert sim.balance(ALICE, "USD") == (usd("1000000"), usd("106.212"))

    sell = trigger.place(sim, ALICE, "sell", "2", price="94")
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("2"))

    sim.cancel(ALICE, accepted_id(buy))
    cancelled = sim.cancel(ALICE, accepted_id(sell))
    assert one(cancelled, OrderCancelled).reason == "user"
    assert of_type(cancelled, BookLevelChanged) == []
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)


def test_triggered_stop_limit_rests_what_it_cannot_fill(at_100: Sim) -> None:
    sim = at_100
    stop_id = accepted_id(sim.stop(ALICE, "buy", "1", "105", price="105.5"))

    events = sim.trade_at("105", buyer=BOB, seller=CAROL)

    assert triggered(events) == [stop_id]
    assert levels(events)[-1] == ("buy", 10550, 1000, 1)
    assert sim.balance(ALICE, "USD") == (usd("1000000"), usd("105.711"))


def test_stop_market_sell_holds_its_base_and_buy_holds_nothing(
    at_100: Sim, trigger: Trigger
) -> None:
    sim = at_100
    sell = trigger.place(sim, ALICE, "sell", "1.5")
    buy = trigger.place(sim, ALICE, "buy", "1")

    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("1.5"))
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)
    assert kinds(buy, balances=True) == ["OrderAccepted"]
    assert one(sell, OrderAccepted).pending is True


def test_stop_market_sell_beyond_the_base_balance_is_rejected(
    at_100: Sim, trigger: Trigger
) -> None:
    sim = at_100
    dave = sim.new_account(BTC="0.5")

    events = trigger.place(sim, dave, "sell", "1")

    rejected = one(events, OrderRejected)
    assert (rejected.reason, rejected.order_id) == ("insufficient_funds", 0)


def test_stop_market_buy_with_nothing_available_is_rejected_when_it_triggers(
    at_100: Sim, trigger: Trigger
) -> None:
    sim = at_100
    dave = sim.new_account(USD="90.18")
    sim.limit(dave, "buy", "1", "90")  # holds all of it
    stop_id = accepted_id(trigger.place(sim, dave, "buy", "1", client_order_id="sl-1"))

    events = sim.trade_at(trigger.buy_at, buyer=BOB, seller=CAROL)

    assert triggered(events) == [stop_id]
    rejected = one(events, OrderRejected)
    assert (rejected.account_id, rejected.reason, rejected.order_id) == (
        dave, "insufficient_funds", stop_id,
    )
    assert rejected.client_order_id == "sl-1"
    assert fills(events) == [(px(trigger.buy_at), 1)]
    assert sim.depth()[1] == [(10600, 1000, 1)]
    assert sim.balance(dave, "USD") == (usd("90.18"), usd("90.18"))


def test_stop_market_buy_with_no_funds_triggered_at_once_is_rejected(at_100: Sim) -> None:
    sim = at_100
    dave = sim.new_account()

    events = sim.stop(dave, "buy", "1", "100")

    stop_id = accepted_id(events)
    assert kinds(events) == ["OrderAccepted", "OrderTriggered", "OrderRejected"]
    assert one(events, OrderRejected).order_id == stop_id


def test_triggered_stop_market_buy_fills_what_the_balance_covers(at_100: Sim) -> None:
    sim = at_100
    dave = sim.new_account(USD="53.106")  # 500 lots at 106 with the 0.2% fee
    stop_id = accepted_id(sim.stop(dave, "buy", "1", "105"))

    events = sim.trade_at("105", buyer=BOB, seller=CAROL)

    assert fills(events) == [(10500, 1), (10600, 500)]
    assert [(e.order_id, e.reason) for e in of_type(events, OrderExpired)] == [
        (stop_id, "market"),
    ]
    assert sim.balance(dave, "USD") == (0, 0)
    assert sim.balance(dave, "BTC") == (btc("0.5"), 0)


def test_triggered_stop_market_buy_whose_balance_covers_nothing_is_rejected(
    at_100: Sim,
) -> None:
    sim = at_100
    dave = sim.new_account(USD="0.1")  # one lot at 106 costs 0.106212
    stop_id = accepted_id(sim.stop(dave, "buy", "1", "105"))

    events = sim.trade_at("105", buyer=BOB, seller=CAROL)

    assert triggered(events) == [stop_id]
    rejected = of_type(events, OrderRejected)
    assert [(e.order_id, e.reason) for e in rejected] == [(stop_id, "insufficient_funds")]
    assert of_type(events, OrderExpired) == []


def test_triggered_post_only_stop_limit_that_would_take_is_rejected(
    at_100: Sim, trigger: Trigger
) -> None:
    sim = at_100
    stop_id = accepted_id(trigger.place(sim, ALICE, "buy", "1", price="106", post_only=True))
    assert sim.balance(ALICE, "USD")[1] == usd("106.212")

    events = sim.trade_at(trigger.buy_at, buyer=BOB, seller=CAROL)

    assert triggered(events) == [stop_id]
    rejected = one(events, OrderRejected)
    assert (rejected.order_id, rejected.reason) == (stop_id, "post_only_would_take")
    assert fills(events) == [(px(trigger.buy_at), 1)]
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)


def test_cancelled_stop_never_triggers(at_100: Sim, trigger: Trigger) -> None:
    sim = at_100
    stop_id = accepted_id(trigger.place(sim, ALICE, "sell", "1"))

    cancelled = sim.cancel(ALICE, stop_id)
    later = sim.trade_at(trigger.sell_at, buyer=BOB, seller=CAROL)

    assert kinds(cancelled) == ["OrderCancelled"]
    assert triggered(later) == []
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)
    inst = sim.engine.instruments[SYMBOL]
    assert (inst.buy_stops, inst.sell_stops) == ([], [])


def test_pending_gtd_stop_limit_expires_and_releases_its_hold(
    at_100: Sim, trigger: Trigger
) -> None:
    sim = at_100
    expire_time = sim.ts + 100
    stop_id = accepted_id(trigger.place(sim, ALICE, "buy", "1", price="106",
                                        time_in_force="gtd", expire_time=expire_time))

    events = sim.expire(expire_time)

    assert kinds(events) == ["OrderExpired"]
    assert [(e.order_id, e.reason) for e in of_type(events, OrderExpired)] == [(stop_id, "gtd")]
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)
    assert triggered(sim.trade_at(trigger.buy_at, buyer=BOB, seller=CAROL)) == []


def test_amending_a_pending_stop_limit_moves_its_hold(at_100: Sim, trigger: Trigger) -> None:
    sim = at_100
    stop_id = accepted_id(trigger.place(sim, ALICE, "buy", "1", price="106"))

    events = sim.amend(ALICE, stop_id, quantity="2", price="107")

    assert [(e.price, e.quantity) for e in of_type(events, OrderAmended)] == [(10700, 2000)]
    assert of_type(events, BookLevelChanged) == []
    assert sim.balance(ALICE, "USD") == (usd("1000000"), usd("214.428"))
    assert sim.engine.orders[stop_id].pending
    # Still waiting for its trigger; then it buys at the amended price and quantity.
    reached = sim.trade_at(trigger.buy_at, buyer=BOB, seller=CAROL)
    assert triggered(reached) == [stop_id]
    assert fills(reached) == [(px(trigger.buy_at), 1), (10600, 1000)]
    assert levels(reached)[-1] == ("buy", 10700, 1000, 1)


def test_a_stop_market_has_no_price_to_amend(at_100: Sim, trigger: Trigger) -> None:
    sim = at_100
    stop_id = accepted_id(trigger.place(sim, ALICE, "sell", "1"))

    events = sim.amend(ALICE, stop_id, price="94")
    reduced = sim.amend(ALICE, stop_id, quantity="0.5")

    assert one(events, RequestRejected).reason == "invalid_order"
    assert one(reduced, OrderAmended).quantity == 500
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("0.5"))


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "_market"},  # no stop_price
        {"type": "_limit", "stop_price": 10_500},  # no price
        {"type": "_limit", "price": 10_500},  # no stop_price
        {"type": "_market", "stop_price": 10_500, "price": 10_600},
        {"type": "_market", "stop_price": 10_500, "time_in_force": "fok"},
        {"type": "_market", "stop_price": 0},
        {"type": "_market", "stop_price": 10_500, "quote_quantity": 10**12, "quantity": None},
        {"type": "limit", "price": 10_000, "stop_price": 10_500},
    ],
)
def test_stop_fields_are_checked(at_100: Sim, trigger: Trigger,
                                 fields: dict[str, object]) -> None:
    """`_market`/`_limit`: the trigger kind's types."""
    sim = at_100
    kind = str(fields["type"])
    fields = {**fields, "type": trigger.name + kind if kind.startswith("_") else kind}
    quantity = fields.pop("quantity", "1")
    events = sim.place(ALICE, "buy", quantity, **fields)  # type: ignore[arg-type]

    assert one(events, OrderRejected).reason == "invalid_order"
