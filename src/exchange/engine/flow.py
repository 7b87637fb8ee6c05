"""Orders in motion: registering, matching, resting, triggering and closing them.

The order flow joins the parts for one command: the book (`exchange.engine.book`) matches
and reports fills, settlement (`exchange.engine.settlement`) moves balances and holds, and
the contingent-orders rules (`exchange.engine.contingent`) say what stops and bracket pairs
do next. Everything a command produces goes into its `Context`.
"""

from __future__ import annotations

from typing import Any

from exchange.engine import book, contingent
from exchange.engine.accounts import Account, Balance
from exchange.engine.book import Order
from exchange.engine.codes import CloseReason, RejectReason
from exchange.engine.commands import PlaceOrder
from exchange.engine.context import Context
from exchange.engine.instruments import Instrument
from exchange.engine.names import (
    BUY,
    CLOSED_BY_OCO,
    CLOSED_BY_USER,
    EXPIRED_FOK,
    EXPIRED_IOC,
    EXPIRED_MARKET,
    FOK,
    IOC,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    TRIGGER_LIMITS,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    TradeExecuted,
)
from exchange.engine.settlement import Settlement
from exchange.engine.state import EngineState


class OrderFlow:
    """The order life cycle; it is also the book's `FillSink`."""

    __slots__ = ("settlement", "state")

    def __init__(self, state: EngineState, settlement: Settlement) -> None:
        self.state = state
        self.settlement = settlement

    # -- REGISTERING --

    def register(self, ctx: Context, cmd: PlaceOrder, account: Account, inst: Instrument,
                 base_bal: Balance, quote_bal: Balance, hold: int, parent_id: int,
                 fields: tuple[Any, ...] | None = None) -> Order:
        """Gives an accepted order its id and priority, its hold, and its place among the
        open orders (with its event): the one way an order comes into being. `fields`:
        `astuple(cmd)`, when the caller has read it already."""
        state = self.state
        next_id = state.next_order_id
        state.next_order_id = next_id + 1
        order = Order(next_id, cmd, account, inst, base_bal, quote_bal, fields)
        order_id = order.order_id  # the boxed id, for the dicts and the event
        order.parent_order_id = parent_id
        priority = state.next_priority
        state.next_priority = priority + 1
        order.priority = priority
        if hold:
            self.settlement.hold(ctx, order, hold)
        state.orders[order_id] = order
        account.orders[order_id] = order
        kind = order.kind
        pending = kind in (STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT)
        ctx.events.append(OrderAccepted(order_id, cmd, pending,
                                        priority, parent_id, ctx.ts))
        return order

    # -- TAKING --

    def activate(self, ctx: Context, order: Order, inst: Instrument) -> None:
        """Runs an accepted (or triggered, or re-priced) order against the book, then rests
        what is left of a GTC/GTD limit order or closes the order."""
        tif = order.tif
        if not order.is_market:
            # A limit order that does not cross rests at once (the common, passive case).
            opp = inst.asks if order.is_buy else inst.bids
            keys = opp.keys
            if not keys or keys[-1] < (order.price or 0) * opp.sign:
                if tif in (IOC, FOK):
                    self.close(ctx, order, EXPIRED_IOC if tif == IOC else EXPIRED_FOK)
                else:
                    self.rest(ctx, order, inst)
                return
        if tif == FOK and not book.fok_fillable(inst, order):
            self.close(ctx, order, EXPIRED_FOK)
            return
        reason = book.match(ctx, inst, order, self)
        if order.is_market:
            if order.quote_left is not None:
                if (order.filled and reason is None
                        and self.settlement.quote_spent(order, inst)):
                    self.close(ctx, order, None)
                else:
                    self.close(ctx, order, reason or EXPIRED_MARKET)
            elif order.filled == order.quantity:
                self.close(ctx, order, None)
            else:
                self.close(ctx, order, reason or EXPIRED_MARKET)
        elif order.filled == order.quantity:
            self.close(ctx, order, None)
        elif reason is not None:
            self.close(ctx, order, reason)
        elif tif in (IOC, FOK):
            self.close(ctx, order, EXPIRED_IOC if tif == IOC else EXPIRED_FOK)
        else:
            self.rest(ctx, order, inst)

    # The book's FillSink:

    def want(self, taker: Order, price: int) -> int:
        return self.settlement.market_want(taker, taker.instrument, price)

    def trade(self, ctx: Context, inst: Instrument, maker: Order, taker: Order, price: int,
              qty: int) -> None:
        maker_fee, taker_fee = self.settlement.fill(ctx, inst, maker, taker, price, qty)
        state = self.state
        trade_id = state.next_trade_id
        state.next_trade_id = trade_id + 1
        inst.last_price = price
        qm = inst.quote_mult
        ctx.events.append(
            TradeExecuted(
                trade_id, inst.symbol, price, qty, BUY if taker.is_buy else SELL,
                maker.order_id, taker.order_id, maker.account.account_id,
                taker.account.account_id, maker_fee * qm, taker_fee * qm, ctx.ts,
            )
        )
        if maker.sibling is not None:
            contingent.reduce_sibling(ctx, maker, qty)
        if taker.sibling is not None:
            contingent.reduce_sibling(ctx, taker, qty)

    def taken(self, ctx: Context, maker: Order, reason: CloseReason | None) -> None:
        self.close(ctx, maker, reason)

    # -- RESTING AND CLOSING --

    def rest(self, ctx: Context, order: Order, inst: Instrument) -> None:
        if order.is_buy and order.filled:
            # Fills below the limit, and the fee bound on what was filled, free some hold.
            self.settlement.trim_buy(ctx, order)
        book.rest(ctx, inst, order)

    @staticmethod
    def unlink(ctx: Context, order: Order) -> None:
        """Takes an open order off its level (with the book event) or off the stop list."""
        if order.level is not None:
            book.take(ctx, order)
        else:
            contingent.unpend(order)

    def _forget(self, ctx: Context, order: Order) -> None:
        """Drops an order that ended from the open orders, releasing what it held."""
        order_id = order.order_id
        del self.state.orders[order_id]
        del order.account.orders[order_id]
        self.settlement.release(ctx, order)

    def close(self, ctx: Context, order: Order, reason: CloseReason | None) -> None:
        """Ends an order that is no longer on the book: `reason` None means filled; USER and
        OCO cancel, the others expire."""
        self._forget(ctx, order)
        order_id = order.order_id
        account_id = order.account.account_id
        if reason is None:
            ctx.events.append(OrderFilled(order_id, account_id, ctx.ts))
        elif reason is CLOSED_BY_USER or reason is CLOSED_BY_OCO:
            ctx.events.append(OrderCancelled(order_id, account_id, reason, ctx.ts))
        else:
            ctx.events.append(OrderExpired(order_id, account_id, reason, ctx.ts))
        if order.sibling is not None:
            self._sibling_closed(ctx, order, completed=reason is None)
        if order.filled and contingent.is_bracket_parent(order):
            ctx.spawn.append(order)

    def _reject_active(self, ctx: Context, order: Order, reason: RejectReason) -> None:
        """A stop refused when it triggers: it ends `rejected`, releasing what it held."""
        self._forget(ctx, order)
        ctx.events.append(
            OrderRejected(order.account.account_id, reason, order.command.client_order_id,
                          order.order_id, ctx.ts)
        )
        if order.filled:
            ctx.spawn.append(order)

    def _sibling_closed(self, ctx: Context, order: Order, *, completed: bool) -> None:
        sibling = contingent.unlink_pair(order)
        assert sibling is not None
        if sibling.order_id not in self.state.orders:
            return
        if completed:
            self.unlink(ctx, sibling)
            self.close(ctx, sibling, CLOSED_BY_OCO)
        elif order.holds_for_sibling:
            # The shared hold went with `order`: the stop-loss sell now holds its own base.
            self.settlement.hold(
                ctx, sibling, (sibling.quantity - sibling.filled) * sibling.instrument.base_mult
            )

    # -- STOPS AND BRACKET CHILDREN --

    def add_stop(self, ctx: Context, order: Order, inst: Instrument) -> None:
        """Keeps a stop (or take-profit) pending, or triggers it at once when its condition
        already holds: a trigger is never refused for being due at placement."""
        if contingent.triggers_now(order, inst):
            self.trigger(ctx, order, inst)
        else:
            contingent.pend(order, inst)

    def trigger(self, ctx: Context, order: Order, inst: Instrument) -> None:
        """Turns a stop or take-profit into a market or limit order and runs it. A stop-loss
        of a bracket pair first cancels its take-profit (one-cancels-other) and takes over
        the hold."""
        order.pending = False
        order.priority = self.state.take_priority()
        ctx.events.append(OrderTriggered(order.order_id, order.priority, ctx.ts))
        sibling = contingent.unlink_pair(order)
        if sibling is not None:
            self.unlink(ctx, sibling)
            self.close(ctx, sibling, CLOSED_BY_OCO)
        if order.kind in TRIGGER_LIMITS:
            if order.command.post_only and book.crosses(inst, order.is_buy, order.price or 0):
                self._reject_active(ctx, order, RejectReason.POST_ONLY_WOULD_TAKE)
                return
            self.activate(ctx, order, inst)
            return
        order.is_market = True
        if not self.settlement.trigger_hold(ctx, order, inst):
            self._reject_active(ctx, order, RejectReason.INSUFFICIENT_FUNDS)
            return
        self.activate(ctx, order, inst)

    def needs_settle(self, ctx: Context, inst: Instrument) -> bool:
        return bool(ctx.spawn) or contingent.stops_due(inst)

    def settle(self, ctx: Context, inst: Instrument) -> None:
        """Runs what the command's trades set off, until nothing more happens: bracket children
        of parents that finished, then stops whose trigger condition holds, in placement order.
        Stops found due together all trigger, each in turn. A child can trade on another
        instrument than `inst` (cancel-all), whose stops are then checked too."""
        orders = self.state.orders
        instruments = [inst]
        while instruments:
            inst = instruments.pop()
            while True:
                if ctx.spawn:
                    parents, ctx.spawn = ctx.spawn, []
                    for parent in parents:
                        if parent.instrument is not inst:
                            instruments.append(parent.instrument)
                        self._spawn_children(ctx, parent)
                    continue
                due = [] if inst.halted else contingent.take_due(inst, orders)
                if not due:
                    break
                for order in due:
                    if order.order_id in orders:
                        self.trigger(ctx, order, inst)

    def _spawn_children(self, ctx: Context, parent: Order) -> None:
        """Creates a finished parent's take-profit and stop-loss for its filled quantity,
        sharing one hold, unless the account or the instrument refuses them now."""
        inst = parent.instrument
        tp_cmd, sl_cmd = contingent.children_commands(parent, ctx.ts)
        need = self.settlement.children_hold(parent, parent.command.take_profit_price)
        buy_children = not parent.is_buy
        bal = parent.quote_balance if buy_children else parent.base_balance
        children = (tp_cmd is not None) + (sl_cmd is not None)
        refusal = None
        if inst.halted and tp_cmd is not None and book.crosses(
            inst, buy_children, tp_cmd.price or 0
        ):
            # No trade while halted, and a take-profit that crosses cannot rest either.
            refusal = RejectReason.INSTRUMENT_HALTED
        elif len(parent.account.orders) + children > self.state.max_open_orders:
            refusal = RejectReason.TOO_MANY_OPEN_ORDERS
        elif need > bal.total - bal.held:
            refusal = RejectReason.INSUFFICIENT_FUNDS
        if refusal is not None:
            ctx.events.append(
                OrderRejected(parent.account.account_id, refusal, None, 0, ctx.ts)
            )
            return
        account = parent.account
        base_bal = parent.base_balance
        quote_bal = parent.quote_balance
        tp = sl = None
        if tp_cmd is not None:
            tp = self.register(ctx, tp_cmd, account, inst, base_bal, quote_bal, need,
                               parent.order_id)
        if sl_cmd is not None:
            sl = self.register(ctx, sl_cmd, account, inst, base_bal, quote_bal,
                               0 if tp is not None or buy_children else need,
                               parent.order_id)
        if tp is not None and sl is not None:
            contingent.link(tp, sl)
        if sl is not None:
            contingent.pend(sl, inst)
        if tp is not None:
            self.activate(ctx, tp, inst)
