"""Contingent orders: stops and take-profits waiting for their trigger, and bracket pairs.

A bracket parent that finishes with some fill gets two children for its filled quantity on
the other side: a take-profit limit, accepted first, and a stop-loss stop-market, accepted
right after. While both are open they are a pair: a fill of one takes the same quantity off
the other, the end of either cancels the other (one-cancels-other) and the stop-loss
triggering cancels the take-profit. A sell pair shares one hold, kept by the take-profit.
This module is the one place that knows the pairing: the engine, recovery
(`exchange.engine.restore`) and the store's ledger all pair through `pair_of`.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from exchange.engine.book import Order
from exchange.engine.codes import GTC, LIMIT, STOP_MARKET
from exchange.engine.commands import PlaceOrder
from exchange.engine.context import Context
from exchange.engine.instruments import Instrument
from exchange.engine.names import BUY, SELL, TAKE_PROFITS, OrderAmended

T = TypeVar("T")


class PairError(ValueError):
    """Open bracket children that cannot be a pair."""


def pair_of(children: Sequence[T], order_id: Callable[[T], int]) -> tuple[T, T] | None:
    """The (take-profit, stop-loss) pair among the open children of one parent: None while
    fewer than two are open (the pair has ended); the take-profit is the one accepted
    first. More than two open children is an error."""
    if len(children) < 2:
        return None
    if len(children) > 2:
        raise PairError(f"{len(children)} open children")
    first, second = children
    return (first, second) if order_id(first) < order_id(second) else (second, first)


def link(take_profit: Order, stop_loss: Order) -> None:
    """Makes two children a pair; a sell take-profit holds for both halves."""
    take_profit.sibling = stop_loss
    stop_loss.sibling = take_profit
    take_profit.holds_for_sibling = not take_profit.is_buy


def unlink_pair(order: Order) -> Order | None:
    """Ends the pair `order` is half of; returns the other half, if any."""
    sibling = order.sibling
    if sibling is not None:
        order.sibling = sibling.sibling = None
    return sibling


def children_commands(parent: Order, ts: int) -> tuple[PlaceOrder | None, PlaceOrder | None]:
    """The take-profit limit and stop-loss stop-market (each None when the parent asked for
    none) for a finished parent's filled quantity, on the other side."""
    cmd = parent.command
    inst = parent.instrument
    common: dict[str, Any] = {
        "ts": ts,
        "account_id": parent.account.account_id,
        "symbol": inst.symbol,
        "side": SELL if parent.is_buy else BUY,
        "quantity": parent.filled,
        "self_trade_prevention": cmd.self_trade_prevention,
    }
    take_profit = stop_loss = None
    if cmd.take_profit_price is not None:
        take_profit = PlaceOrder(type=LIMIT, price=cmd.take_profit_price,
                                 **common)
    if cmd.stop_loss_price is not None:
        stop_loss = PlaceOrder(type=STOP_MARKET, stop_price=cmd.stop_loss_price,
                               time_in_force=GTC, **common)
    return take_profit, stop_loss


def is_bracket_parent(order: Order) -> bool:
    return order.bracket  # take_profit_price or stop_loss_price set, read at construction


def reduce_sibling(ctx: Context, order: Order, qty: int) -> None:
    """A fill of one half of a bracket pair takes the same quantity off the other."""
    sibling = order.sibling
    if sibling is None or order.filled >= order.quantity:
        return  # completing: closing it cancels the sibling instead
    sibling.quantity -= qty
    ctx.events.append(
        OrderAmended(
            sibling.order_id, sibling.account.account_id, sibling.price, sibling.quantity,
            sibling.priority, ctx.ts,
        )
    )


# -- STOPS --
#
# Stops and take-profits wait in two lists per instrument, by the direction of their trigger:
# `buy_stops` holds those due when the last price rises to their stop price (buy stops, sell
# take-profits), `sell_stops` those due when it falls to it (sell stops, buy take-profits).


def rises(order: Order) -> bool:
    """Whether a pending order triggers when the last price rises to its stop price (a buy
    stop, a sell take-profit) rather than when it falls to it (a sell stop, a buy
    take-profit)."""
    return order.is_buy != (order.kind in TAKE_PROFITS)  # kind: read once at placement


def pend(order: Order, inst: Instrument) -> None:
    """Puts a stop in its instrument's list of pending stops."""
    order.pending = True
    insort(inst.buy_stops if rises(order) else inst.sell_stops,
           (order.stop_price or 0, order.order_id))


def unpend(order: Order) -> None:
    """Takes a pending stop off its list."""
    if order.pending:
        inst = order.instrument
        stops = inst.buy_stops if rises(order) else inst.sell_stops
        del stops[bisect_left(stops, (order.stop_price or 0, order.order_id))]
        order.pending = False


def triggers_now(order: Order, inst: Instrument) -> bool:
    """Whether a new stop's condition already holds at the last trade price."""
    stop = order.stop_price or 0
    last = inst.last_price
    return last is not None and (last >= stop if rises(order) else last <= stop)


def stops_due(inst: Instrument) -> bool:
    """Whether some pending stop of `inst` has come due at the last trade price."""
    last = inst.last_price
    if last is None:
        return False
    buys = inst.buy_stops
    sells = inst.sell_stops
    return bool((buys and buys[0][0] <= last) or (sells and sells[-1][0] >= last))


def take_due(inst: Instrument, orders: dict[int, Order]) -> list[Order]:
    """Takes the stops that came due off their lists, in placement order."""
    last = inst.last_price
    if last is None:
        return []
    due: list[tuple[int, int]] = []
    buys = inst.buy_stops
    if buys and buys[0][0] <= last:
        i = 0
        while i < len(buys) and buys[i][0] <= last:
            i += 1
        due += buys[:i]
        del buys[:i]
    sells = inst.sell_stops
    if sells and sells[-1][0] >= last:
        j = len(sells)
        while j > 0 and sells[j - 1][0] >= last:
            j -= 1
        due += sells[j:]
        del sells[j:]
    if not due:
        return []
    out = []
    for _, order_id in sorted(due, key=_by_order_id):
        order = orders[order_id]
        order.pending = False
        out.append(order)
    return out


def _by_order_id(key: tuple[int, int]) -> int:
    return key[1]
