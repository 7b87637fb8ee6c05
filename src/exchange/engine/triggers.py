"""Stop orders and bracket children: work that follows trades within the same command."""

from __future__ import annotations

from bisect import insort

from exchange.engine.book import Order
from exchange.engine.codes import CloseReason, OrderType, RejectReason, Side, TimeInForce
from exchange.engine.commands import PlaceOrder
from exchange.engine.events import OrderAccepted, OrderRejected, OrderTriggered
from exchange.engine.instruments import Instrument
from exchange.engine.matching import Matcher


class Triggers(Matcher):
    def settle(self, inst: Instrument) -> None:
        """Runs what the command's trades set off, until nothing more happens: bracket children
        of parents that finished, then stops whose trigger condition holds, in placement order.
        Stops found due together all trigger, each in turn. A child can trade on another
        instrument than `inst` (cancel-all), whose stops are then checked too."""
        instruments = [inst]
        while instruments:
            inst = instruments.pop()
            while True:
                if self.spawn:
                    parents, self.spawn = self.spawn, []
                    for parent in parents:
                        if parent.instrument is not inst:
                            instruments.append(parent.instrument)
                        self._spawn_children(parent)
                    continue
                due = [] if inst.halted else self._due_stops(inst)
                if not due:
                    break
                for order in due:
                    if order.order_id in self.orders:
                        self.trigger(order, inst)

    def needs_settle(self, inst: Instrument) -> bool:
        if self.spawn:
            return True
        last = inst.last_price
        if last is None:
            return False
        buys = inst.buy_stops
        sells = inst.sell_stops
        return bool((buys and buys[0][0] <= last) or (sells and sells[-1][0] >= last))

    def _due_stops(self, inst: Instrument) -> list[Order]:
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
        for _, order_id in sorted(due, key=lambda key: key[1]):
            order = self.orders[order_id]
            order.pending = False
            out.append(order)
        return out

    def add_stop(self, order: Order, inst: Instrument) -> None:
        """Keeps a stop pending, or triggers it at once when its condition already holds."""
        stop = order.stop_price or 0
        last = inst.last_price
        if last is not None and (last >= stop if order.is_buy else last <= stop):
            self.trigger(order, inst)
            return
        order.pending = True
        insort(inst.buy_stops if order.is_buy else inst.sell_stops, (stop, order.order_id))

    def trigger(self, order: Order, inst: Instrument) -> None:
        """Turns a stop into a market or limit order and runs it. A stop-loss of a bracket
        pair first cancels its take-profit (one-cancels-other) and takes over the hold."""
        order.pending = False
        order.priority = self.take_priority()
        self.events.append(OrderTriggered(order.order_id, order.priority, self.ts))
        sibling = order.sibling
        if sibling is not None:
            order.sibling = sibling.sibling = None
            self.unlink(sibling)
            self.close(sibling, CloseReason.OCO)
        if order.command.type == OrderType.STOP_LIMIT:
            if order.command.post_only and self.crosses(inst, order.is_buy, order.price or 0):
                self._reject_active(order, RejectReason.POST_ONLY_WOULD_TAKE)
                return
            self.activate(order, inst)
            return
        order.is_market = True
        if order.is_buy:
            bal = order.quote_balance
            budget = bal.total - bal.held
            if budget <= 0 or not self.buys_a_lot(inst, budget):
                self._reject_active(order, RejectReason.INSUFFICIENT_FUNDS)
                return
        else:
            bal = order.base_balance
            need = (order.quantity - order.filled) * inst.base_mult
            budget = need - order.hold
            if budget > bal.total - bal.held:
                self._reject_active(order, RejectReason.INSUFFICIENT_FUNDS)
                return
        bal.held += budget
        order.hold += budget
        self.touch(bal)
        self.activate(order, inst)

    def _reject_active(self, order: Order, reason: RejectReason) -> None:
        """A stop refused when it triggers: it ends `rejected`, releasing what it held."""
        order_id = order.order_id
        account = order.account
        del self.orders[order_id]
        del account.orders[order_id]
        if order.hold:
            bal = order.quote_balance if order.is_buy else order.base_balance
            bal.held -= order.hold
            order.hold = 0
            self.touch(bal)
        self.events.append(
            OrderRejected(account.account_id, reason, order.command.client_order_id, order_id,
                          self.ts)
        )
        if order.filled:
            self.spawn.append(order)

    # -- BRACKETS --

    def _spawn_children(self, parent: Order) -> None:
        """Creates a finished parent's take-profit limit and stop-loss stop-market for its
        filled quantity, on the other side, sharing one hold."""
        inst = parent.instrument
        cmd = parent.command
        filled = parent.filled
        take_profit = cmd.take_profit_price
        stop_loss = cmd.stop_loss_price
        buy_children = not parent.is_buy
        if buy_children:
            bal = parent.quote_balance
            need = 0 if take_profit is None else self.buy_hold(inst, take_profit, filled, 0, 0)
        else:
            bal = parent.base_balance
            need = filled * inst.base_mult
        children = (take_profit is not None) + (stop_loss is not None)
        refusal = None
        if inst.halted and take_profit is not None and self.crosses(
            inst, buy_children, take_profit
        ):
            # No trade while halted, and a take-profit that crosses cannot rest either.
            refusal = RejectReason.INSTRUMENT_HALTED
        elif len(parent.account.orders) + children > self.max_open_orders:
            refusal = RejectReason.TOO_MANY_OPEN_ORDERS
        elif need > bal.total - bal.held:
            refusal = RejectReason.INSUFFICIENT_FUNDS
        if refusal is not None:
            self.events.append(
                OrderRejected(parent.account.account_id, refusal, None, 0, self.ts)
            )
            return
        side = Side.BUY if buy_children else Side.SELL
        common = {
            "ts": self.ts,
            "account_id": parent.account.account_id,
            "symbol": inst.symbol,
            "side": side,
            "quantity": filled,
            "self_trade_prevention": cmd.self_trade_prevention,
        }
        tp = sl = None
        if take_profit is not None:
            tp = self.new_order(
                PlaceOrder(type=OrderType.LIMIT, price=take_profit, **common),  # type: ignore[arg-type]
                parent, hold=need,
            )
        if stop_loss is not None:
            sl = self.new_order(
                PlaceOrder(type=OrderType.STOP_MARKET, stop_price=stop_loss,
                           time_in_force=TimeInForce.GTC, **common),  # type: ignore[arg-type]
                parent, hold=0 if tp is not None or buy_children else need,
            )
        if tp is not None and sl is not None:
            tp.sibling = sl
            sl.sibling = tp
            tp.holds_for_sibling = not buy_children
        if sl is not None:
            sl.pending = True
            insort(inst.buy_stops if sl.is_buy else inst.sell_stops,
                   (sl.stop_price or 0, sl.order_id))
        if tp is not None:
            self.activate(tp, inst)

    def new_order(self, command: PlaceOrder, parent: Order, *, hold: int) -> Order:
        """Registers a bracket child of `parent` holding `hold` units (with its event)."""
        inst = parent.instrument
        account = parent.account
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        order = Order(order_id, command, account, inst, parent.base_balance,
                      parent.quote_balance)
        order.parent_order_id = parent.order_id
        order.priority = self.take_priority()
        if hold:
            bal = order.quote_balance if order.is_buy else order.base_balance
            bal.held += hold
            order.hold = hold
            self.touch(bal)
        self.orders[order_id] = order
        account.orders[order_id] = order
        self.events.append(
            OrderAccepted(order_id, command, command.type == OrderType.STOP_MARKET,
                          order.priority, parent.order_id, self.ts)
        )
        return order
