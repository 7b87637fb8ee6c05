"""Orders in motion: taking liquidity, settling fills, resting, and closing orders.

This is the hot path. It reads like C on purpose: locals instead of repeated attribute
lookups, one pass over each level, events appended directly.
"""

from __future__ import annotations

from bisect import bisect_left

from exchange.engine.accounts import FEE_ACCOUNT_ID, Balance
from exchange.engine.book import Level, Order
from exchange.engine.codes import (
    BUY,
    CLOSED_BY_OCO,
    CLOSED_BY_USER,
    EXPIRED_FOK,
    EXPIRED_IOC,
    EXPIRED_MARKET,
    EXPIRED_STP,
    FOK,
    IOC,
    SELL,
    STP_CANCEL_NEWEST,
    STP_CANCEL_OLDEST,
    STP_NONE,
    CloseReason,
)
from exchange.engine.events import (
    BookLevelChanged,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    TradeExecuted,
)
from exchange.engine.instruments import Instrument
from exchange.engine.state import EngineState
from exchange.engine.units import RATE_SCALE


class Matcher(EngineState):
    # -- TAKING --

    def activate(self, order: Order, inst: Instrument) -> None:
        """Runs an accepted (or triggered, or re-priced) order against the book, then rests
        what is left of a GTC/GTD limit order or closes the order."""
        tif = order.command.time_in_force
        if not order.is_market:
            # A limit order that does not cross rests at once (the common, passive case).
            opp = inst.asks if order.is_buy else inst.bids
            keys = opp.keys
            if not keys or keys[-1] < (order.price or 0) * opp.sign:
                if tif in (IOC, FOK):
                    self.close(order, EXPIRED_IOC if tif == IOC else EXPIRED_FOK)
                else:
                    self.rest(order, inst)
                return
        if tif == FOK and not self._fok_fillable(order, inst):
            self.close(order, EXPIRED_FOK)
            return
        reason = self._match(order, inst)
        if order.is_market:
            if order.quote_left is not None:
                if order.filled and reason is None and self._quote_spent(order, inst):
                    self.close(order, None)
                else:
                    self.close(order, reason or EXPIRED_MARKET)
            elif order.filled == order.quantity:
                self.close(order, None)
            else:
                self.close(order, reason or EXPIRED_MARKET)
        elif order.filled == order.quantity:
            self.close(order, None)
        elif reason is not None:
            self.close(order, reason)
        elif tif in (IOC, FOK):
            self.close(order, EXPIRED_IOC if tif == IOC else EXPIRED_FOK)
        else:
            self.rest(order, inst)

    def _match(self, taker: Order, inst: Instrument) -> CloseReason | None:
        """Fills `taker` against the opposite side while prices cross. Returns STP when
        self-trade prevention ended it early, else None."""
        is_buy = taker.is_buy
        opp = inst.asks if is_buy else inst.bids
        keys = opp.keys
        if not keys:
            return None
        levels = opp.levels
        sign = opp.sign
        market = taker.is_market
        limit_key = None if market or taker.price is None else taker.price * sign
        stp = taker.command.self_trade_prevention
        account = taker.account
        events = self.events
        symbol = inst.symbol
        opp_side = SELL if is_buy else BUY
        fill = self._fill
        stopped: CloseReason | None = None
        while keys:
            key = keys[-1]
            if limit_key is not None and key < limit_key:
                break
            price = key * sign
            if market:
                want = self._market_want(taker, inst, price)
            else:
                want = taker.quantity - taker.filled
            if want <= 0:
                break
            level = levels[price]
            maker = level.head
            changed = False
            while maker is not None:
                nxt = maker.next
                if maker.account is account and stp != STP_NONE:
                    if stp != STP_CANCEL_NEWEST:  # cancel_oldest or cancel_both
                        level.quantity -= maker.quantity - maker.filled
                        level.remove(maker)
                        changed = True
                        self.close(maker, EXPIRED_STP)
                    if stp != STP_CANCEL_OLDEST:  # cancel_newest or cancel_both
                        stopped = EXPIRED_STP
                        break
                    maker = nxt
                    continue
                avail = maker.quantity - maker.filled
                qty = want if want < avail else avail
                fill(inst, maker, taker, price, qty)
                level.quantity -= qty
                changed = True
                if qty == avail:
                    level.remove(maker)
                    self.close(maker, None)
                maker = nxt
                if market:
                    want = self._market_want(taker, inst, price)
                else:
                    want = taker.quantity - taker.filled
                if want <= 0:
                    break
            if changed:
                seq = inst.sequence + 1
                inst.sequence = seq
                events.append(
                    BookLevelChanged(symbol, opp_side, price, level.quantity, level.count, seq)
                )
                if not level.count:
                    opp.drop(level)
            if stopped is not None or maker is not None:
                break
        return stopped

    def _market_want(self, taker: Order, inst: Instrument, price: int) -> int:
        """Lots a market order can still take at `price` within its quantity, its quote budget
        and the funds it holds."""
        if taker.is_buy:
            qty = self._affordable(taker, inst, price)
            if taker.quote_left is None:
                rest = taker.quantity - taker.filled
                if rest < qty:
                    qty = rest
            return qty
        qty = taker.hold // inst.base_mult
        if taker.quote_left is None:
            rest = taker.quantity - taker.filled
            return rest if rest < qty else qty
        budget = taker.quote_left // (price * inst.quote_mult)
        return budget if budget < qty else qty

    def _affordable(self, taker: Order, inst: Instrument, price: int) -> int:
        """The most lots a buy can pay for at `price` (fee included) from what it holds."""
        budget = taker.hold // inst.quote_mult  # in quote increments
        rate = inst.taker_rate
        if not rate:
            return budget // price
        fee_num = taker.fee_num
        paid = taker.fee_paid
        qty = ((budget + paid) * RATE_SCALE - fee_num) // (price * (RATE_SCALE + rate))
        qty = max(qty, 0)

        def cost(q: int) -> int:
            return price * q - (-(fee_num + price * q * rate) // RATE_SCALE) - paid

        while qty > 0 and cost(qty) > budget:
            qty -= 1
        while cost(qty + 1) <= budget:
            qty += 1
        return qty

    def _quote_spent(self, order: Order, inst: Instrument) -> bool:
        """Whether a quote-quantity market order stopped because its quote budget (not the
        book, nor the account's funds) cannot pay for another lot: then it is filled."""
        best = (inst.asks if order.is_buy else inst.bids).best_price()
        if best is None or self._market_want(order, inst, best) > 0:
            return False
        if order.is_buy:
            return order.hold >= (order.quote_left or 0)
        return order.hold >= inst.base_mult

    def crosses(self, inst: Instrument, is_buy: bool, price: int) -> bool:
        """Whether a limit at `price` on that side would trade against the book now."""
        best = (inst.asks if is_buy else inst.bids).best_price()
        return best is not None and (best <= price if is_buy else best >= price)

    def buys_a_lot(self, inst: Instrument, budget: int) -> bool:
        """Whether `budget` quote units pay for one lot at the best ask (true on an empty
        book: such a market order is accepted and expires)."""
        best = inst.asks.best_price()
        if best is None:
            return True
        return self.buy_hold(inst, best, 1, 0, 0) <= budget

    def _fok_fillable(self, taker: Order, inst: Instrument) -> bool:
        """Whether the book can fill all of `taker` now, counting self-trade prevention."""
        need = taker.quantity - taker.filled
        opp = inst.asks if taker.is_buy else inst.bids
        sign = opp.sign
        limit_key = None if taker.price is None else taker.price * sign
        stp = taker.command.self_trade_prevention
        account = taker.account
        for key in reversed(opp.keys):
            if limit_key is not None and key < limit_key:
                return False
            order = opp.levels[key * sign].head
            while order is not None:
                if order.account is account and stp != STP_NONE:
                    if stp != STP_CANCEL_OLDEST:
                        return False
                else:
                    need -= order.quantity - order.filled
                    if need <= 0:
                        return True
                order = order.next
        return False

    # -- SETTLING --

    def _fill(self, inst: Instrument, maker: Order, taker: Order, price: int, qty: int) -> None:
        """One trade at the maker's price: fees, balances, holds and the trade event."""
        notional = price * qty  # quote increments
        maker_fee = self._charge(maker, notional, inst.maker_rate)
        taker_fee = self._charge(taker, notional, inst.taker_rate)
        maker.filled += qty
        taker.filled += qty
        qm = inst.quote_mult
        base = qty * inst.base_mult
        if taker.is_buy:
            buyer, seller, buyer_fee, seller_fee = taker, maker, taker_fee, maker_fee
        else:
            buyer, seller, buyer_fee, seller_fee = maker, taker, maker_fee, taker_fee
        cost = (notional + buyer_fee) * qm
        if taker.quote_left is not None:
            taker.quote_left -= cost if taker.is_buy else notional * qm
        spend = self._spend
        credit = self._credit
        spend(buyer, buyer.quote_balance, cost)
        credit(buyer.base_balance, base)
        spend(seller, seller.base_balance, base)
        credit(seller.quote_balance, (notional - seller_fee) * qm)
        if maker_fee or taker_fee:
            credit(self.fee_balance(inst), (maker_fee + taker_fee) * qm)
        if buyer is maker and maker.filled < maker.quantity:
            # Keep a resting buy's hold exact for what is left: releases price improvement
            # and the unused part of the fee bound.
            keep = self.buy_hold(inst, maker.price or 0, maker.quantity - maker.filled,
                                 maker.fee_num, maker.fee_paid)
            excess = maker.hold - keep
            if excess:
                maker.hold = keep
                buyer.quote_balance.held -= excess
        trade_id = self.next_trade_id
        self.next_trade_id = trade_id + 1
        inst.last_price = price
        self.events.append(
            TradeExecuted(
                trade_id,
                inst.symbol,
                price,
                qty,
                BUY if taker.is_buy else SELL,
                maker.order_id,
                taker.order_id,
                maker.account.account_id,
                taker.account.account_id,
                maker_fee * qm,
                taker_fee * qm,
                self.ts,
            )
        )
        if maker.sibling is not None:
            self._reduce_sibling(maker, qty)
        if taker.sibling is not None:
            self._reduce_sibling(taker, qty)

    @staticmethod
    def _charge(order: Order, notional: int, rate: int) -> int:
        """The fee of a fill in quote increments: the rise of the order's rounded-up total
        fee (README: "Balances, holds and fees")."""
        if not rate:
            return 0
        fee_num = order.fee_num + notional * rate
        order.fee_num = fee_num
        paid = -(-fee_num // RATE_SCALE)
        fee = paid - order.fee_paid
        order.fee_paid = paid
        return fee

    def _spend(self, order: Order, bal: Balance, amount: int) -> None:
        """Takes `amount` out of what `order` holds in `bal`."""
        bal.total -= amount
        bal.held -= amount
        order.hold -= amount
        if not bal.dirty:
            bal.dirty = True
            self.touched.append(bal)

    def _credit(self, bal: Balance, amount: int) -> None:
        bal.total += amount
        if not bal.dirty:
            bal.dirty = True
            self.touched.append(bal)

    def fee_balance(self, inst: Instrument) -> Balance:
        return self.accounts[FEE_ACCOUNT_ID].balance(inst.quote)

    # -- RESTING AND CLOSING --

    def rest(self, order: Order, inst: Instrument) -> None:
        """Puts the rest of a limit order at the back of its price level."""
        price = order.price or 0
        is_buy = order.is_buy
        if is_buy:
            side = inst.bids
            if order.filled:
                # Fills below the limit, and the fee bound on what was filled, free some hold.
                keep = self.buy_hold(inst, price, order.quantity - order.filled,
                                     order.fee_num, order.fee_paid)
                excess = order.hold - keep
                if excess:
                    order.hold = keep
                    bal = order.quote_balance
                    bal.held -= excess
                    self.touch(bal)
        else:
            side = inst.asks
        level = side.levels.get(price)
        if level is None:
            level = side.level_for(price)
        level.append(order)
        seq = inst.sequence + 1
        inst.sequence = seq
        self.events.append(
            BookLevelChanged(inst.symbol, BUY if is_buy else SELL, price, level.quantity,
                             level.count, seq)
        )

    def level_changed(self, inst: Instrument, level: Level, is_bid: bool) -> None:
        seq = inst.sequence + 1
        inst.sequence = seq
        self.events.append(
            BookLevelChanged(
                inst.symbol, BUY if is_bid else SELL, level.price, level.quantity,
                level.count, seq,
            )
        )

    def unlink(self, order: Order) -> None:
        """Takes an open order off its level (with the book event) or off the stop list."""
        level = order.level
        inst = order.instrument
        if level is not None:
            level.quantity -= order.quantity - order.filled
            level.remove(order)
            self.level_changed(inst, level, order.is_buy)
            if not level.count:
                (inst.bids if order.is_buy else inst.asks).drop(level)
        elif order.pending:
            stops = inst.buy_stops if order.is_buy else inst.sell_stops
            del stops[bisect_left(stops, (order.stop_price or 0, order.order_id))]
            order.pending = False

    def close(self, order: Order, reason: CloseReason | None) -> None:
        """Ends an order that is no longer on the book: `reason` None means filled; USER and
        OCO cancel, the others expire. Releases what it still holds."""
        order_id = order.order_id
        account = order.account
        del self.orders[order_id]
        del account.orders[order_id]
        hold = order.hold
        if hold:
            bal = order.quote_balance if order.is_buy else order.base_balance
            bal.held -= hold
            order.hold = 0
            self.touch(bal)
        if reason is None:
            self.events.append(OrderFilled(order_id, account.account_id, self.ts))
        elif reason is CLOSED_BY_USER or reason is CLOSED_BY_OCO:
            self.events.append(OrderCancelled(order_id, account.account_id, reason, self.ts))
        else:
            self.events.append(OrderExpired(order_id, account.account_id, reason, self.ts))
        if order.sibling is not None:
            self._sibling_closed(order, completed=reason is None)
        command = order.command
        if order.filled and (
            command.take_profit_price is not None or command.stop_loss_price is not None
        ):
            self.spawn.append(order)

    # -- BRACKET PAIRS --

    def _reduce_sibling(self, order: Order, qty: int) -> None:
        """A fill of one half of a bracket pair takes the same quantity off the other."""
        sibling = order.sibling
        if sibling is None or order.filled >= order.quantity:
            return  # completing: close() cancels the sibling instead
        sibling.quantity -= qty
        self.events.append(
            OrderAmended(
                sibling.order_id, sibling.account.account_id, sibling.price, sibling.quantity,
                sibling.priority, self.ts,
            )
        )

    def _sibling_closed(self, order: Order, *, completed: bool) -> None:
        sibling = order.sibling
        assert sibling is not None
        order.sibling = sibling.sibling = None
        if sibling.order_id not in self.orders:
            return
        if completed:
            self.unlink(sibling)
            self.close(sibling, CLOSED_BY_OCO)
        elif order.holds_for_sibling:
            # The shared hold went with `order`: the stop-loss sell now holds its own base.
            need = (sibling.quantity - sibling.filled) * sibling.instrument.base_mult
            bal = sibling.base_balance
            bal.held += need
            sibling.hold += need
            self.touch(bal)

