"""The order book's data structures: orders, price levels and the two sides of a book.

A level is an intrusive doubly linked list of orders (O(1) append, O(1) removal from anywhere,
FIFO matching from the head). A side maps price to level and keeps a sorted list of keys whose
last element is the best price, so the best price is read without scanning and an emptied best
level is dropped with `list.pop()`. Keys are `price * sign`: bids use sign 1 (ascending prices,
best = highest at the end), asks sign -1 (best = lowest at the end).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exchange.engine.accounts import Account, Balance
    from exchange.engine.commands import PlaceOrder
    from exchange.engine.instruments import Instrument


class Order:
    """An open order's mutable state inside the engine (never leaves it)."""

    __slots__ = (
        "account",
        "base_balance",
        "command",
        "fee_num",
        "fee_paid",
        "filled",
        "hold",
        "holds_for_sibling",
        "instrument",
        "is_buy",
        "is_market",
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
    )

    def __init__(
        self,
        order_id: int,
        command: PlaceOrder,
        account: Account,
        instrument: Instrument,
        base_balance: Balance,
        quote_balance: Balance,
    ) -> None:
        self.order_id = order_id
        self.command = command
        self.account = account
        self.instrument = instrument
        self.base_balance = base_balance
        self.quote_balance = quote_balance
        self.is_buy = command.side == "buy"
        self.is_market = False
        self.price: int | None = command.price
        self.quantity: int = command.quantity or 0
        self.quote_left: int | None = command.quote_quantity
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
        self.price = price
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
