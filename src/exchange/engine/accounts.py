"""Accounts and their balances. Amounts are integer asset units (`exchange.engine.units`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from exchange.engine.book import Order

FEE_ACCOUNT_ID: Final = 0
"""The account that collects every fee, so that each asset is conserved exactly."""


class Balance:
    """`total` is owned; `held` is the part that open orders may still spend."""

    __slots__ = ("account_id", "asset", "dirty", "held", "total")

    def __init__(self, account_id: int, asset: str) -> None:
        # `Any`, not `int`: compiled, the id is then kept as the Python int object, boxed
        # once, which every `BalanceChanged` takes as it is (an `int` attribute is unboxed
        # and boxed anew, an allocation, for each event). The same for the ids below.
        self.account_id: Any = account_id
        self.asset = asset
        self.total = 0
        self.held = 0
        self.dirty = False  # already listed among the command's changed balances

    @property
    def available(self) -> int:
        return self.total - self.held

    def __repr__(self) -> str:
        return f"<Balance {self.account_id} {self.asset} {self.total} held {self.held}>"


class Account:
    __slots__ = ("account_id", "balances", "closes_at", "house", "opens_at", "orders", "pairs")

    def __init__(self, account_id: int) -> None:
        self.account_id: Any = account_id  # boxed once (see `Balance`)
        self.balances: dict[str, Balance] = {}
        # (base, quote) balances by instrument symbol: what a placement needs, found with one
        # lookup of a key that is the very object stored (two by asset name compared the
        # strings). Balances are never replaced, so the pairs never go stale.
        self.pairs: dict[str, tuple[Balance, Balance]] = {}
        self.orders: dict[int, Order] = {}  # open and pending orders by id
        self.house = False
        # The window of its latest round in which it may place orders, [opens_at, closes_at)
        # in microseconds; 0 leaves that side open.
        self.opens_at = 0
        self.closes_at = 0

    def pair(self, symbol: str, base: str, quote: str) -> tuple[Balance, Balance]:
        """The balances an order on `symbol` (`base`/`quote`) moves, made when first asked."""
        pair = self.pairs.get(symbol)
        if pair is None:
            pair = self.pairs[symbol] = (self.balance(base), self.balance(quote))
        return pair

    def balance(self, asset: str) -> Balance:
        balance = self.balances.get(asset)
        if balance is None:
            balance = self.balances[asset] = Balance(self.account_id, asset)
        return balance
