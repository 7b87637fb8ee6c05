"""Settlement: what orders hold, what fills cost and pay, and releasing holds when orders end.

Every rule about balances is written here once: the hold an order needs (placement, amends,
triggers, bracket children, recovery and the self-check all ask `required_hold` or
`buy_hold`), the fee of a fill, moving units between the two sides of a trade, and giving
back what a closed order still holds. The book never sees a balance; this part never sees a
price level.
"""

from __future__ import annotations

from exchange.engine.accounts import FEE_ACCOUNT_ID, Account, Balance
from exchange.engine.book import Order
from exchange.engine.context import Context
from exchange.engine.instruments import Instrument
from exchange.engine.names import MARKET, STOP_MARKET, TAKE_PROFIT_MARKET
from exchange.engine.units import RATE_SCALE, fee_ceil


def buy_hold(inst: Instrument, price: int, remaining: int, fee_num: int, fee_paid: int) -> int:
    """Quote units a buy must hold to pay for `remaining` lots at `price` with the highest
    fee. Fees are charged cumulatively per order (each fill pays the rise of
    `ceil(sum(notional * rate))`), so this bound never falls short of what later fills
    take, whatever prices and rates they get."""
    notional = price * remaining
    rate = inst.hold_rate
    if rate:
        return (notional + fee_ceil(fee_num + notional * rate) - fee_paid) * inst.quote_mult
    return notional * inst.quote_mult


def required_hold(order: Order, price: int | None, quantity: int) -> int:
    """What an open (resting or pending) order must hold at `price` for a total of
    `quantity`: the one rule behind placement, amends, recovery and the self-check. A
    stop-market (or take-profit market) buy holds nothing until it triggers; a bracket
    stop-loss sell shares its take-profit's hold; a buy holds `buy_hold`, a sell its
    remaining base."""
    remaining = quantity - order.filled
    inst = order.instrument
    if order.is_buy:
        kind = order.kind
        if kind in (STOP_MARKET, TAKE_PROFIT_MARKET):
            return 0
        return buy_hold(inst, price or 0, remaining, order.fee_num, order.fee_paid)
    if order.sibling is not None and not order.holds_for_sibling:
        return 0
    return remaining * inst.base_mult


def buy_cost(order: Order, rate: int, price: int, qty: int) -> int:
    """Quote increments a buy pays for `qty` more lots at `price`, its fee at `rate`
    included (the rise of its rounded-up total fee, as `charge` takes it)."""
    notional = price * qty
    return notional - (-(order.fee_num + notional * rate) // RATE_SCALE) - order.fee_paid


def charge(order: Order, notional: int, rate: int) -> int:
    """The fee of a fill in quote increments: the rise of the order's rounded-up total fee
    (README: "Balances, holds and fees")."""
    if not rate:
        return 0
    fee_num = order.fee_num + notional * rate
    order.fee_num = fee_num
    paid = -(-fee_num // RATE_SCALE)
    fee = paid - order.fee_paid
    order.fee_paid = paid
    return fee


def held_balance(order: Order) -> Balance:
    """The balance an order holds from: quote for a buy, base for a sell."""
    return order.quote_balance if order.is_buy else order.base_balance


class Settlement:
    """Holds, fees and balances. Owns no state of its own: it reads the accounts (for the
    fee account) and changes balances and the holds of orders."""

    __slots__ = ("accounts",)

    def __init__(self, accounts: dict[int, Account]) -> None:
        self.accounts = accounts

    # -- HOLDS --

    def new_order_hold(self, kind: str, is_buy: bool, price: int | None,
                       quantity: int | None, quote_quantity: int | None, inst: Instrument,
                       bal: Balance) -> int:
        """What a new order must hold from `bal` (its `held_balance`), or -1 when the
        account cannot fund it, from the fields the engine has read off the command. A
        market buy holds what is available (up to its quote budget), a market sell by quote
        amount all its available base; a stop-market buy nothing until it triggers."""
        if kind == MARKET:
            if is_buy:
                hold = bal.total - bal.held
                if quote_quantity is not None and quote_quantity < hold:
                    hold = quote_quantity
                elif hold <= 0 or not self.buys_a_lot(inst, hold):
                    return -1
            elif quantity is not None:
                hold = quantity * inst.base_mult
            else:
                hold = bal.total - bal.held
                if hold <= 0:
                    return -1
        elif kind in (STOP_MARKET, TAKE_PROFIT_MARKET):
            hold = 0 if is_buy else (quantity or 0) * inst.base_mult
        elif is_buy:  # limit, stop-limit, take-profit limit
            hold = buy_hold(inst, price or 0, quantity or 0, 0, 0)
        else:
            hold = (quantity or 0) * inst.base_mult
        # `hold + held > total`, not `hold > total - held`: totals pass 64 bits (10**-12
        # units), and a difference of them is an arbitrary-precision result, allocated.
        return -1 if hold + bal.held > bal.total else hold

    @staticmethod
    def hold(ctx: Context, order: Order, amount: int) -> None:
        """Adds `amount` (possibly negative) to what `order` holds."""
        bal = order.quote_balance if order.is_buy else order.base_balance
        bal.held += amount
        order.hold += amount
        ctx.touch(bal)

    @staticmethod
    def release(ctx: Context, order: Order) -> None:
        """Gives back whatever an order that ends still holds."""
        hold = order.hold
        if hold:
            bal = order.quote_balance if order.is_buy else order.base_balance
            bal.held -= hold
            order.hold = 0
            ctx.touch(bal)

    def rehold(self, ctx: Context, order: Order) -> None:
        """Sets an order's hold to what its (amended) remainder needs."""
        need = required_hold(order, order.price, order.quantity)
        if need != order.hold:
            self.hold(ctx, order, need - order.hold)

    @staticmethod
    def trim_buy(ctx: Context, order: Order) -> None:
        """Keeps a resting buy's hold exact for what is left: releases price improvement
        and the unused part of the fee bound once some of it has filled."""
        keep = buy_hold(order.instrument, order.price or 0, order.quantity - order.filled,
                        order.fee_num, order.fee_paid)
        excess = order.hold - keep
        if excess:
            order.hold = keep
            bal = order.quote_balance
            bal.held -= excess
            ctx.touch(bal)

    def trigger_hold(self, ctx: Context, order: Order, inst: Instrument) -> bool:
        """Funds a stop-market that has just triggered: a buy holds all that is available,
        a sell its remaining base. False when the account cannot fund it."""
        if order.is_buy:
            bal = order.quote_balance
            budget = bal.total - bal.held
            if budget <= 0 or not self.buys_a_lot(inst, budget):
                return False
        else:
            bal = order.base_balance
            budget = (order.quantity - order.filled) * inst.base_mult - order.hold
            if budget > bal.total - bal.held:
                return False
        self.hold(ctx, order, budget)
        return True

    @staticmethod
    def children_hold(parent: Order, take_profit: int | None) -> int:
        """What the bracket children of a finished parent hold together: the take-profit
        buy's `buy_hold`, or the filled base for a sell pair (its two halves share it)."""
        inst = parent.instrument
        if parent.is_buy:  # sell children
            return parent.filled * inst.base_mult
        return 0 if take_profit is None else buy_hold(inst, take_profit, parent.filled, 0, 0)

    # -- FILLS --

    def fill(self, ctx: Context, inst: Instrument, maker: Order, taker: Order, price: int,
             qty: int) -> tuple[int, int]:
        """Settles one trade of `qty` lots at `price` (both orders' `filled` already count
        it): fees, balances and holds. Returns the maker's and the taker's fee in quote
        increments."""
        notional = price * qty  # quote increments
        maker_fee = charge(maker, notional, inst.maker_rate)
        taker_fee = charge(taker, notional, inst.taker_rate)
        qm = inst.quote_mult
        base = qty * inst.base_mult
        if taker.is_buy:
            buyer, seller, buyer_fee, seller_fee = taker, maker, taker_fee, maker_fee
        else:
            buyer, seller, buyer_fee, seller_fee = maker, taker, maker_fee, taker_fee
        cost = (notional + buyer_fee) * qm
        if taker.quote_left is not None:
            taker.quote_left -= cost if taker.is_buy else notional * qm
        # ctx.touch called directly: mypyc makes it a native call (a bound method in a
        # local would be a generic one).
        bal = buyer.quote_balance
        bal.total -= cost
        bal.held -= cost
        buyer.hold -= cost
        ctx.touch(bal)
        bal = buyer.base_balance
        bal.total += base
        ctx.touch(bal)
        bal = seller.base_balance
        bal.total -= base
        bal.held -= base
        seller.hold -= base
        ctx.touch(bal)
        bal = seller.quote_balance
        bal.total += (notional - seller_fee) * qm
        ctx.touch(bal)
        if maker_fee or taker_fee:
            bal = self.accounts[FEE_ACCOUNT_ID].balance(inst.quote)
            bal.total += (maker_fee + taker_fee) * qm
            ctx.touch(bal)
        if buyer is maker and maker.filled < maker.quantity:
            self.trim_buy(ctx, maker)
        return maker_fee, taker_fee

    # -- WHAT A MARKET ORDER CAN AFFORD --

    def market_want(self, taker: Order, inst: Instrument, price: int) -> int:
        """Lots a market order can still take at `price` within its quantity, its quote budget
        and the funds it holds."""
        if taker.is_buy:
            if taker.quote_left is None:
                rest = taker.quantity - taker.filled
                # Most market buys can pay for all they want: asking that takes a few
                # operations on small integers, where `affordable` divides the budget
                # (near 64 bits) scaled by the rate, arbitrary-precision arithmetic.
                if buy_cost(taker, inst.taker_rate, price, rest) <= taker.hold // inst.quote_mult:
                    return rest
                qty = self.affordable(taker, inst, price)
                return rest if rest < qty else qty
            return self.affordable(taker, inst, price)
        qty = taker.hold // inst.base_mult
        if taker.quote_left is None:
            rest = taker.quantity - taker.filled
            return rest if rest < qty else qty
        budget = taker.quote_left // (price * inst.quote_mult)
        return budget if budget < qty else qty

    @staticmethod
    def affordable(taker: Order, inst: Instrument, price: int) -> int:
        """The most lots a buy can pay for at `price` (fee included) from what it holds."""
        budget = taker.hold // inst.quote_mult  # in quote increments
        rate = inst.taker_rate
        if not rate:
            return budget // price
        fee_num = taker.fee_num
        paid = taker.fee_paid
        qty = ((budget + paid) * RATE_SCALE - fee_num) // (price * (RATE_SCALE + rate))
        qty = max(qty, 0)
        # The estimate is within a lot or two of the answer.
        while qty > 0 and buy_cost(taker, rate, price, qty) > budget:
            qty -= 1
        while buy_cost(taker, rate, price, qty + 1) <= budget:
            qty += 1
        return qty

    def quote_spent(self, order: Order, inst: Instrument) -> bool:
        """Whether a quote-quantity market order stopped because its quote budget (not the
        book, nor the account's funds) cannot pay for another lot: then it is filled."""
        best = (inst.asks if order.is_buy else inst.bids).best_price()
        if best is None or self.market_want(order, inst, best) > 0:
            return False
        if order.is_buy:
            return order.hold >= (order.quote_left or 0)
        return order.hold >= inst.base_mult

    @staticmethod
    def buys_a_lot(inst: Instrument, budget: int) -> bool:
        """Whether `budget` quote units pay for one lot at the best ask (true on an empty
        book: such a market order is accepted and expires)."""
        best = inst.asks.best_price()
        if best is None:
            return True
        return buy_hold(inst, best, 1, 0, 0) <= budget
