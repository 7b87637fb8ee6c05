"""Contingent orders alone: the bracket pairing rule, bracket children, and stop lists."""

from __future__ import annotations

import pytest

from exchange.engine import contingent
from exchange.engine.accounts import Account
from exchange.engine.codes import OrderType, Side
from exchange.engine.context import Context
from exchange.engine.events import OrderAmended

from .parts import instrument, order


def test_pair_of_puts_the_first_accepted_child_first() -> None:
    assert contingent.pair_of([7, 5], int) == (5, 7)
    assert contingent.pair_of([5], int) is None
    assert contingent.pair_of([], int) is None
    with pytest.raises(contingent.PairError):
        contingent.pair_of([1, 2, 3], int)


def test_link_and_unlink_pair_a_sell_take_profit_holding_for_both() -> None:
    inst = instrument()
    alice = Account(1)
    take_profit = order(1, alice, inst, "sell", 3, 110)
    stop_loss = order(2, alice, inst, "sell", 3, type=OrderType.STOP_MARKET, stop_price=90)
    contingent.link(take_profit, stop_loss)
    assert take_profit.sibling is stop_loss
    assert stop_loss.sibling is take_profit
    assert take_profit.holds_for_sibling
    assert contingent.unlink_pair(stop_loss) is take_profit
    assert take_profit.sibling is None
    assert stop_loss.sibling is None
    assert contingent.unlink_pair(stop_loss) is None


def test_children_commands_are_on_the_other_side_for_the_filled_quantity() -> None:
    inst = instrument()
    parent = order(1, Account(1), inst, "buy", 5, 100, take_profit_price=120,
                   stop_loss_price=90)
    parent.filled = 4
    take_profit, stop_loss = contingent.children_commands(parent, 9)
    assert take_profit is not None
    assert stop_loss is not None
    assert (take_profit.side, take_profit.type, take_profit.price, take_profit.quantity) == (
        Side.SELL, OrderType.LIMIT, 120, 4)
    assert (stop_loss.type, stop_loss.stop_price, stop_loss.ts) == (OrderType.STOP_MARKET, 90, 9)
    assert contingent.is_bracket_parent(parent)
    assert not contingent.is_bracket_parent(order(2, Account(1), inst, "buy", 5, 100))


def test_a_partial_fill_of_one_half_shrinks_the_other() -> None:
    inst = instrument()
    alice = Account(1)
    take_profit = order(1, alice, inst, "sell", 3, 110)
    stop_loss = order(2, alice, inst, "sell", 3, type=OrderType.STOP_MARKET, stop_price=90)
    contingent.link(take_profit, stop_loss)
    ctx = Context(4)
    take_profit.filled = 1
    contingent.reduce_sibling(ctx, take_profit, 1)
    assert stop_loss.quantity == 2
    assert [(ev.order_id, ev.quantity) for ev in ctx.events
            if isinstance(ev, OrderAmended)] == [(2, 2)]


def test_stops_pend_come_due_in_placement_order_and_unpend() -> None:
    inst = instrument()
    alice = Account(1)
    orders = {
        1: order(1, alice, inst, "sell", 1, type=OrderType.STOP_MARKET, stop_price=95),
        2: order(2, alice, inst, "sell", 1, type=OrderType.STOP_MARKET, stop_price=98),
        3: order(3, alice, inst, "buy", 1, type=OrderType.STOP_MARKET, stop_price=105),
        4: order(4, alice, inst, "sell", 1, type=OrderType.STOP_MARKET, stop_price=90),
    }
    for made in orders.values():
        contingent.pend(made, inst)
    contingent.unpend(orders[4])
    assert not orders[4].pending
    assert inst.sell_stops == [(95, 1), (98, 2)]
    assert not contingent.stops_due(inst)  # no trade yet
    inst.last_price = 95
    assert contingent.stops_due(inst)
    assert [made.order_id for made in contingent.take_due(inst, orders)] == [1, 2]
    assert inst.sell_stops == []
    assert inst.buy_stops == [(105, 3)]
    assert contingent.triggers_now(orders[1], inst)
    assert not contingent.triggers_now(orders[3], inst)
