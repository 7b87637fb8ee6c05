"""Cancel-replace (`ReplaceOrder`): cancel an order and place another in one step.

`allow_failure` false (Binance's STOP_ON_FAILURE): both or neither. A cancel that fails
places nothing; a placement that would be refused once the order is gone leaves the order
exactly as it was, and the refusal is the only event. True (ALLOW_FAILURE): each half on its
own.
"""

from __future__ import annotations

from typing import Any

import pytest

from exchange.engine.codes import CloseReason, OrderType, RejectReason, Side
from exchange.engine.commands import PlaceOrder, ReplaceOrder
from exchange.engine.events import (
    AnyEvent,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    RequestRejected,
    TradeExecuted,
)

from .helpers import (
    ALICE,
    BOB,
    SYMBOL,
    Sim,
    accepted_id,
    btc,
    kinds,
    make_sim,
    one,
    px,
    qty,
    usd,
)


def new_order(side: str, quantity: str, price: str | None = None, **fields: Any
              ) -> PlaceOrder:
    fields.setdefault("symbol", SYMBOL)
    return PlaceOrder(account_id=0, side=Side(side), quantity=qty(quantity),
                      price=None if price is None else px(price), **fields)


def replace(sim: Sim, account_id: int, order_id: int, order: PlaceOrder, *,
            allow_failure: bool = False) -> list[AnyEvent]:
    return sim.handle(ReplaceOrder(account_id=account_id, order_id=order_id, order=order,
                                   allow_failure=allow_failure))


def snapshot(sim: Sim) -> tuple[str, Any]:
    return sim.engine.state_hash(), sim.depth()


def test_both_halves_in_one_step(sim: Sim) -> None:
    first = sim.limit(ALICE, "buy", "1", "99")
    events = replace(sim, ALICE, first, new_order("buy", "2", "98", client_order_id="n"))
    assert kinds(events) == ["BookLevelChanged", "OrderCancelled", "OrderAccepted",
                             "BookLevelChanged"]
    assert one(events, OrderCancelled).order_id == first
    placed = one(events, OrderAccepted)
    assert placed.order.account_id == ALICE  # the command's account, whatever `order` said
    assert placed.order.client_order_id == "n"
    assert placed.order.ts == placed.ts == sim.ts
    assert sim.depth() == ([(px("98"), qty("2"), 1)], [])
    assert sim.balance(ALICE, "USD")[1] == usd("196.392")  # 2 x 98, plus the fee bound
    sim.assert_conserved()


def test_the_released_hold_pays_for_the_new_order() -> None:
    sim = make_sim()
    poor = sim.new_account(USD="100.2")  # 1 at 100 with the 0.002 fee bound: all of it
    first = sim.limit(poor, "buy", "1", "100")
    assert sim.balance(poor, "USD") == (usd("100.2"), usd("100.2"))
    events = replace(sim, poor, first, new_order("buy", "1", "99"))
    assert one(events, OrderCancelled).order_id == first
    assert accepted_id(events) == first + 1
    assert sim.balance(poor, "USD") == (usd("100.2"), usd("99.198"))


def test_a_placement_refused_leaves_the_order_as_it_was() -> None:
    sim = make_sim()
    poor = sim.new_account(USD="100.2")
    first = sim.limit(poor, "buy", "1", "100")
    sim.limit(BOB, "buy", "1", "100")  # behind it in time
    before = snapshot(sim)
    events = replace(sim, poor, first, new_order("buy", "1", "101", client_order_id="x"))
    assert events == [OrderRejected(poor, RejectReason.INSUFFICIENT_FUNDS, "x", 0, sim.ts)]
    assert snapshot(sim) == before
    # Still first in line at 100.
    taken = sim.place(BOB, "sell", "1", "100")
    assert one(taken, TradeExecuted).maker_order_id == first


@pytest.mark.parametrize(("order", "reason"), [
    (new_order("buy", "1", "0"), RejectReason.INVALID_ORDER),
    (new_order("buy", "1", "101", post_only=True), RejectReason.POST_ONLY_WOULD_TAKE),
    (new_order("buy", "1", "100", symbol="NOPE-USD"), RejectReason.UNKNOWN_SYMBOL),
    (new_order("buy", "100000", "100"), RejectReason.INSUFFICIENT_FUNDS),
])
def test_each_refusal_of_the_placement_changes_nothing(
        sim: Sim, order: PlaceOrder, reason: RejectReason) -> None:
    first = sim.limit(ALICE, "buy", "1", "99")
    sim.limit(BOB, "sell", "1", "101")
    before = snapshot(sim)
    events = replace(sim, ALICE, first, order)
    assert [type(e) for e in events] == [OrderRejected]
    assert one(events, OrderRejected).reason == reason
    assert snapshot(sim) == before
    assert sim.engine.orders[first].quantity == qty("1")


def test_a_halted_market_refuses_the_whole_replace(sim: Sim) -> None:
    from exchange.engine.commands import HaltInstrument

    first = sim.limit(ALICE, "sell", "1", "105")
    sim.handle(HaltInstrument(symbol=SYMBOL))
    before = snapshot(sim)
    events = replace(sim, ALICE, first, new_order("sell", "1", "104"))
    assert one(events, OrderRejected).reason == RejectReason.INSTRUMENT_HALTED
    assert snapshot(sim) == before
    # Allowing failure: the cancel stands alone.
    events = replace(sim, ALICE, first, new_order("sell", "1", "104"), allow_failure=True)
    assert one(events, OrderCancelled).order_id == first
    assert one(events, OrderRejected).reason == RejectReason.INSTRUMENT_HALTED
    assert first not in sim.engine.orders


def test_post_only_counts_the_book_without_the_cancelled_order(sim: Sim) -> None:
    # Its own ask is the only one at 101: once cancelled, a post-only bid at 101 rests.
    ask = sim.limit(ALICE, "sell", "1", "101")
    sim.limit(BOB, "sell", "1", "102")
    events = replace(sim, ALICE, ask, new_order("buy", "1", "101", post_only=True))
    assert one(events, OrderCancelled).order_id == ask
    assert one(events, OrderAccepted).order.post_only
    assert sim.depth() == ([(px("101"), qty("1"), 1)], [(px("102"), qty("1"), 1)])
    # Another order at the same price still counts.
    sim.limit(BOB, "buy", "1", "95")
    bid = sim.limit(ALICE, "buy", "1", "96")
    sim.limit(BOB, "buy", "1", "96")
    before = snapshot(sim)
    events = replace(sim, ALICE, bid, new_order("sell", "1", "96", post_only=True))
    assert one(events, OrderRejected).reason == RejectReason.POST_ONLY_WOULD_TAKE
    assert snapshot(sim) == before


def test_the_open_order_limit_counts_the_cancelled_order_as_gone() -> None:
    sim = make_sim(max_open_orders=2)
    sim.limit(ALICE, "buy", "1", "90")
    second = sim.limit(ALICE, "buy", "1", "91")
    assert one(sim.place(ALICE, "buy", "1", "92"), OrderRejected).reason == (
        RejectReason.TOO_MANY_OPEN_ORDERS)
    events = replace(sim, ALICE, second, new_order("buy", "1", "92"))
    assert accepted_id(events) > second


def test_a_cancel_that_fails_places_nothing(sim: Sim) -> None:
    first = sim.limit(ALICE, "buy", "1", "99")
    sim.cancel(ALICE, first)
    before = snapshot(sim)
    for account_id, order_id, reason in ((ALICE, first, RejectReason.ORDER_NOT_OPEN),
                                         (ALICE, 999, RejectReason.NOT_FOUND)):
        events = replace(sim, account_id, order_id, new_order("buy", "1", "98"))
        assert events == [RequestRejected(account_id, reason, order_id, sim.ts)]
        assert snapshot(sim) == before
    other = sim.limit(BOB, "buy", "1", "97")
    events = replace(sim, ALICE, other, new_order("buy", "1", "98"))
    assert one(events, RequestRejected).reason == RejectReason.FORBIDDEN
    assert other in sim.engine.orders


def test_allowing_failure_places_after_a_failed_cancel(sim: Sim) -> None:
    events = replace(sim, ALICE, 999, new_order("buy", "1", "98"), allow_failure=True)
    assert kinds(events) == ["RequestRejected", "OrderAccepted", "BookLevelChanged"]
    events = replace(sim, ALICE, 998, new_order("buy", "1", "0"), allow_failure=True)
    assert kinds(events) == ["RequestRejected", "OrderRejected"]


def test_the_new_order_can_trade(sim: Sim) -> None:
    bid = sim.limit(ALICE, "buy", "1", "99")
    ask = sim.limit(BOB, "sell", "1", "100")
    events = replace(sim, ALICE, bid, new_order("buy", "1", type=OrderType.MARKET))
    assert one(events, TradeExecuted).maker_order_id == ask
    assert sim.balance(ALICE, "BTC") == (btc("101"), 0)
    sim.assert_conserved()


def test_a_bracket_take_profit_hands_its_hold_to_its_stop_loss(sim: Sim) -> None:
    parent = sim.limit(ALICE, "buy", "1", "100", take_profit_price=px("110"),
                       stop_loss_price=px("90"))
    sim.place(BOB, "sell", "1", "100")  # fills the parent: its children are made
    children = [o for o in sim.engine.orders.values() if o.parent_order_id == parent]
    take_profit = next(o for o in children if o.holds_for_sibling)
    held = sim.balance(ALICE, "BTC")[1]
    assert held == btc("1")
    # 100 BTC + 1 bought: 100 free; a sell of 100 fits only if the stop-loss's takeover of
    # the 1 BTC hold is counted.
    refused = replace(sim, ALICE, take_profit.order_id, new_order("sell", "101", "120"))
    assert one(refused, OrderRejected).reason == RejectReason.INSUFFICIENT_FUNDS
    events = replace(sim, ALICE, take_profit.order_id, new_order("sell", "100", "120"))
    assert one(events, OrderCancelled).order_id == take_profit.order_id
    assert sim.balance(ALICE, "BTC")[1] == btc("101")


def test_a_bracket_parent_with_fills_is_refused_whole(sim: Sim) -> None:
    parent = sim.limit(ALICE, "buy", "2", "100", take_profit_price=px("110"))
    sim.place(BOB, "sell", "1", "100")  # half filled: cancelling it makes its children
    before = snapshot(sim)
    events = replace(sim, ALICE, parent, new_order("buy", "1", "99"))
    assert one(events, OrderRejected).reason == RejectReason.INVALID_ORDER
    assert snapshot(sim) == before
    events = replace(sim, ALICE, parent, new_order("buy", "1", "99"), allow_failure=True)
    cancelled = one(events, OrderCancelled)
    assert (cancelled.order_id, cancelled.reason) == (parent, CloseReason.USER)
    assert len([e for e in events if isinstance(e, OrderAccepted)]) == 2  # child, new order
