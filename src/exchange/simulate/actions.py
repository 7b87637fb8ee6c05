"""What a bot decides to do, in the instrument's integers, and the grid that turns it into
the contract's decimal strings.

Bots think in ticks and lots (like the engine); `Grid` converts at the edge. Every action
names the error codes it provokes knowingly (`expected`), so the runner can tell an intended
refusal (a post-only order that would take, a cancel racing a fill) from a bug.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

# A cancel or amend may race a fill (or an expiry, or the other half of a bracket): the
# order was open when the bot last looked and is finished now. That is a race, not a bug.
RACED = frozenset({"order_not_open"})
# A post-only order is sent knowing the book may have moved under it.
POST_ONLY = frozenset({"post_only_would_take"})


@dataclass(frozen=True, slots=True)
class Grid:
    """An instrument's price and quantity grid (`tick_size`, `lot_size`, `min_quantity`)."""

    symbol: str
    base: str
    quote: str
    tick: Decimal
    lot: Decimal
    min_lots: int = 1

    @classmethod
    def of(cls, instrument: dict[str, Any]) -> Grid:
        """The grid of a contract `Instrument` object."""
        tick, lot = Decimal(instrument["tick_size"]), Decimal(instrument["lot_size"])
        minimum = Decimal(instrument.get("min_quantity") or lot)
        return cls(instrument["symbol"], instrument["base"], instrument["quote"], tick, lot,
                   max(1, math.ceil(minimum / lot)))

    def price(self, ticks: int) -> str:
        return _plain(self.tick * ticks)

    def quantity(self, lots: int) -> str:
        return _plain(self.lot * lots)

    def ticks(self, price: str | Decimal) -> int:
        """A price in whole ticks (rounded down if off the grid)."""
        return int(Decimal(price) / self.tick)

    def lots(self, quantity: str | Decimal) -> int:
        return int(Decimal(quantity) / self.lot)

    def value(self, ticks: int) -> float:
        """The price of one base unit at `ticks`, in quote (a float, for sizing only)."""
        return float(self.tick) * ticks

    def lots_worth(self, notional: float, ticks: int) -> int:
        """How many lots cost about `notional` of quote at `ticks`; at least the minimum."""
        per_lot = self.value(ticks) * float(self.lot)
        return max(self.min_lots, round(notional / per_lot)) if per_lot > 0 else self.min_lots


def _plain(value: Decimal) -> str:
    """A decimal string without exponent: `Decimal('1E+2')` is sent as "100"."""
    text = f"{value.normalize():f}"
    return text


# -- ACTIONS --


@dataclass(frozen=True, slots=True)
class Place:
    """Place one order. Prices are ticks, quantities lots; `expire_after` (seconds) makes it
    GTD. `kind` names the bot's intent for the statistics."""

    side: str
    type: str
    kind: str
    quantity: int | None = None
    price: int | None = None
    stop_price: int | None = None
    quote_quantity: Decimal | None = None
    time_in_force: str | None = None
    expire_after: float | None = None
    post_only: bool = False
    take_profit_price: int | None = None
    stop_loss_price: int | None = None
    expected: frozenset[str] = field(default=frozenset())

    def body(self, grid: Grid) -> dict[str, Any]:
        """Keyword arguments for `ExchangeClient.place_order` (without `expire_time`,
        which needs the clock: the runner adds it)."""
        def price(ticks: int | None) -> str | None:
            return None if ticks is None else grid.price(ticks)

        return {
            "quantity": None if self.quantity is None else grid.quantity(self.quantity),
            "price": price(self.price), "stop_price": price(self.stop_price),
            "quote_quantity": self.quote_quantity, "time_in_force": self.time_in_force,
            "post_only": True if self.post_only else None,
            "take_profit_price": price(self.take_profit_price),
            "stop_loss_price": price(self.stop_loss_price),
        }


@dataclass(frozen=True, slots=True)
class Cancel:
    order_id: int
    kind: str = "cancel"
    expected: frozenset[str] = RACED


@dataclass(frozen=True, slots=True)
class Amend:
    """Move an order (`price`) or raise its size (`quantity`, the new total). The bots never
    lower a size: the new total must exceed what is filled, which they may not know yet."""

    order_id: int
    price: int | None = None
    quantity: int | None = None
    kind: str = "amend"
    expected: frozenset[str] = RACED


Action = Place | Cancel | Amend


@dataclass(slots=True)
class Resting:
    """A bot's view of one of its open orders (ticks and lots; `seen` is when the bot first
    saw it, on its own clock)."""

    order_id: int
    side: str
    price: int | None
    quantity: int
    seen: float = 0.0

    @classmethod
    def of(cls, order: dict[str, Any], grid: Grid, seen: float) -> Resting:
        price = order.get("price")
        return cls(order["order_id"], order["side"],
                   None if price is None else grid.ticks(price),
                   grid.lots(order["quantity"]), seen)


OPEN_STATUSES = frozenset({"pending", "new", "partially_filled"})
