"""The order book: orders, price levels, the two sides of a book, and matching.

A level is an intrusive doubly linked list of orders (O(1) append, O(1) removal from anywhere,
FIFO matching from the head). A side maps price to level and keeps a sorted list of keys whose
last element is the best price, so the best price is read without scanning and an emptied best
level is dropped with `list.pop()`. Keys are `price * sign`: bids use sign 1 (ascending prices,
best = highest at the end), asks sign -1 (best = lowest at the end).

Matching (`match`) walks the opposite side in price-time priority and reports each fill to a
`FillSink`; the book keeps the levels, the orders' `filled` and the book events, and knows
nothing of balances: what a market order can afford and what a fill costs is the sink's
(settlement's) business.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING, Any, Protocol

from exchange.engine.codes import CloseReason
from exchange.engine.names import (
    BUY,
    EXPIRED_STP,
    P_PRICE,
    P_QUANTITY,
    P_QUOTE_QUANTITY,
    P_SELF_TRADE_PREVENTION,
    P_SIDE,
    P_STOP_LOSS_PRICE,
    P_TAKE_PROFIT_PRICE,
    P_TIME_IN_FORCE,
    P_TYPE,
    SELL,
    STP_CANCEL_NEWEST,
    STP_CANCEL_OLDEST,
    STP_NONE,
    BookLevelChanged,
    astuple,
)

if TYPE_CHECKING:
    from exchange.engine.accounts import Account, Balance
    from exchange.engine.commands import PlaceOrder
    from exchange.engine.context import Context
    from exchange.engine.instruments import Instrument


class Order:
    """An open order's mutable state inside the engine (never leaves it)."""

    __slots__ = (
        "account",
        "base_balance",
        "bracket",
        "command",
        "fee_num",
        "fee_paid",
        "filled",
        "hold",
        "holds_for_sibling",
        "instrument",
        "is_buy",
        "is_market",
        "kind",
        "level",
        "next",
        "order_id",
        "parent_order_id",
        "pending",
        "prev",
        "price",
        "priority",
        "quantity",
        "quote_balance",
        "quote_left",
        "sibling",
        "stp",
        "tif",
    )

    def __init__(
        self,
        order_id: int,
        command: PlaceOrder,
        account: Account,
        instrument: Instrument,
        base_balance: Balance,
        quote_balance: Balance,
        fields: tuple[Any, ...] | None = None,
    ) -> None:
        """`fields`: `astuple(command)` when the caller has it already."""
        # Boxed once (see `accounts.Balance`): the key of the open-order dicts and a field
        # of each of its events.
        self.order_id: Any = order_id
        self.command = command
        self.account = account
        self.instrument = instrument
        self.base_balance = base_balance
        self.quote_balance = quote_balance
        # The command's fields read once, in one call (see `names.astuple`), and the codes
        # the hot path tests kept here as `str`s.
        if fields is None:
            fields = astuple(command)
        side: str = fields[P_SIDE]
        self.is_buy = side == "buy"
        self.kind: str = fields[P_TYPE]
        self.tif: str = fields[P_TIME_IN_FORCE]
        self.stp: str = fields[P_SELF_TRADE_PREVENTION]
        self.bracket: bool = (fields[P_TAKE_PROFIT_PRICE] is not None
                              or fields[P_STOP_LOSS_PRICE] is not None)
        self.is_market = False
        self.price: int | None = fields[P_PRICE]
        self.quantity: int = fields[P_QUANTITY] or 0
        self.quote_left: int | None = fields[P_QUOTE_QUANTITY]
        self.filled = 0
        self.hold = 0  # asset units this order holds (quote for a buy, base for a sell)
        self.fee_num = 0  # sum of notional * rate over its fills (ticks*lots*RATE_SCALE)
        self.fee_paid = 0  # fees charged so far, in quote increments: ceil(fee_num / RATE)
        self.priority = 0
        self.parent_order_id = 0
        self.sibling: Order | None = None  # the other half of a bracket pair
        self.holds_for_sibling = False  # a bracket take-profit sell holding for both halves
        self.pending = False  # a stop waiting for its trigger
        self.level: Level | None = None
        self.prev: Order | None = None
        self.next: Order | None = None

    @property
    def stop_price(self) -> int | None:
        return self.command.stop_price

    @property
    def expire_time(self) -> int | None:
        return self.command.expire_time

    @property
    def remaining(self) -> int:
        return self.quantity - self.filled

    def __repr__(self) -> str:
        side = "buy" if self.is_buy else "sell"
        return f"<Order {self.order_id} {side} {self.filled}/{self.quantity}@{self.price}>"


class Level:
    __slots__ = ("count", "head", "price", "quantity", "tail")

    def __init__(self, price: int) -> None:
        # Boxed once (see `accounts.Balance`): a field of every book event and trade at it.
        self.price: Any = price
        self.head: Order | None = None
        self.tail: Order | None = None
        self.quantity = 0  # remaining lots of all its orders
        self.count = 0

    def append(self, order: Order) -> None:
        order.level = self
        tail = self.tail
        order.prev = tail
        order.next = None
        if tail is None:
            self.head = order
        else:
            tail.next = order
        self.tail = order
        self.quantity += order.quantity - order.filled
        self.count += 1

    def remove(self, order: Order) -> None:
        """Unlinks `order`; the caller has already taken its remaining quantity off `quantity`."""
        prev = order.prev
        nxt = order.next
        if prev is None:
            self.head = nxt
        else:
            prev.next = nxt
        if nxt is None:
            self.tail = prev
        else:
            nxt.prev = prev
        order.level = None
        order.prev = order.next = None
        self.count -= 1

    def orders(self) -> list[Order]:
        out = []
        order = self.head
        while order is not None:
            out.append(order)
            order = order.next
        return out


class BookSide:
    __slots__ = ("is_bids", "keys", "levels", "sign")

    def __init__(self, is_bids: bool) -> None:
        self.is_bids = is_bids
        self.sign = 1 if is_bids else -1
        self.levels: dict[int, Level] = {}
        self.keys: list[int] = []  # price * sign, ascending: the best level is last

    def level_for(self, price: int) -> Level:
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = Level(price)
            key = price * self.sign
            keys = self.keys
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                keys.insert(bisect_left(keys, key), key)
        return level

    def drop(self, level: Level) -> None:
        """Forgets an empty level."""
        del self.levels[level.price]
        key = level.price * self.sign
        keys = self.keys
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]

    def best_price(self) -> int | None:
        keys = self.keys
        return keys[-1] * self.sign if keys else None

    def depth(self, limit: int | None = None) -> list[tuple[int, int, int]]:
        """`(price, quantity, order_count)` from the best level outwards."""
        out = []
        for key in reversed(self.keys):
            level = self.levels[key * self.sign]
            out.append((level.price, level.quantity, level.count))
            if limit is not None and len(out) >= limit:
                break
        return out


# -- MATCHING --


class FillSink(Protocol):
    """What the book tells while it matches (the engine's order flow is one). A protocol,
    not a base class: a compiled class cannot be subclassed by interpreted code (tests)."""

    def want(self, taker: Order, price: int) -> int:
        """Lots a market order can still take at `price`."""
        ...

    def trade(self, ctx: Context, inst: Instrument, maker: Order, taker: Order, price: int,
              qty: int) -> None:
        """One fill, already counted in both orders' `filled`."""
        ...

    def taken(self, ctx: Context, maker: Order, reason: CloseReason | None) -> None:
        """A maker left the book: filled (`reason` None) or cancelled by self-trade
        prevention."""
        ...


def level_changed(ctx: Context, inst: Instrument, level: Level, is_bid: bool) -> None:
    """The book event of a level whose total or count changed."""
    seq = inst.sequence + 1
    inst.sequence = seq
    ctx.events.append(
        BookLevelChanged(inst.symbol, BUY if is_bid else SELL, level.price, level.quantity,
                         level.count, seq)
    )


def match(ctx: Context, inst: Instrument, taker: Order, sink: FillSink) -> CloseReason | None:
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
    stp = taker.stp
    account = taker.account
    stopped: CloseReason | None = None
    while keys:
        key = keys[-1]
        if limit_key is not None and key < limit_key:
            break
        level = levels[key * sign]
        price = level.price  # the boxed price, passed on as it is
        want = sink.want(taker, price) if market else taker.quantity - taker.filled
        if want <= 0:
            break
        maker = level.head
        changed = False
        while maker is not None:
            nxt = maker.next
            if maker.account is account and stp != STP_NONE:
                if stp != STP_CANCEL_NEWEST:  # cancel_oldest or cancel_both
                    level.quantity -= maker.quantity - maker.filled
                    level.remove(maker)
                    changed = True
                    sink.taken(ctx, maker, EXPIRED_STP)
                if stp != STP_CANCEL_OLDEST:  # cancel_newest or cancel_both
                    stopped = EXPIRED_STP
                    break
                maker = nxt
                continue
            avail = maker.quantity - maker.filled
            qty = want if want < avail else avail
            maker.filled += qty
            taker.filled += qty
            sink.trade(ctx, inst, maker, taker, price, qty)
            level.quantity -= qty
            changed = True
            if qty == avail:
                level.remove(maker)
                sink.taken(ctx, maker, None)
            maker = nxt
            want = sink.want(taker, price) if market else taker.quantity - taker.filled
            if want <= 0:
                break
        if changed:
            level_changed(ctx, inst, level, not is_buy)
            if not level.count:
                opp.drop(level)
        if stopped is not None or maker is not None:
            break
    return stopped


def rest(ctx: Context, inst: Instrument, order: Order) -> None:
    """Puts the rest of a limit order at the back of its price level."""
    price = order.price or 0
    side = inst.bids if order.is_buy else inst.asks
    level = side.levels.get(price)
    if level is None:
        level = side.level_for(price)
    level.append(order)
    level_changed(ctx, inst, level, order.is_buy)


def take(ctx: Context, order: Order) -> None:
    """Takes a resting order off its level (with the book event)."""
    level = order.level
    if level is None:
        return
    inst = order.instrument
    level.quantity -= order.quantity - order.filled
    level.remove(order)
    level_changed(ctx, inst, level, order.is_buy)
    if not level.count:
        (inst.bids if order.is_buy else inst.asks).drop(level)


def crosses(inst: Instrument, is_buy: bool, price: int) -> bool:
    """Whether a limit at `price` on that side would trade against the book now."""
    best = (inst.asks if is_buy else inst.bids).best_price()
    return best is not None and (best <= price if is_buy else best >= price)


def fok_fillable(inst: Instrument, taker: Order) -> bool:
    """Whether the book can fill all of `taker` now, counting self-trade prevention."""
    need = taker.quantity - taker.filled
    opp = inst.asks if taker.is_buy else inst.bids
    sign = opp.sign
    limit_key = None if taker.price is None else taker.price * sign
    stp = taker.stp
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
