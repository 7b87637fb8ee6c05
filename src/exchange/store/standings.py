"""An account's standing in a symbol since its round began: its average-cost position, the
fees it paid and how many trades it made.

The writer keeps every standing (`exchange.store.ledger`) and stores the changed ones with
each write set, so start-up reads them back instead of replaying every trade; the read model
keeps the same numbers live with the same `Position`. A round's start clears its accounts'
standings: they count from its first trade on.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from exchange.engine.events import TradeExecuted


def signed_lots(trade: TradeExecuted, maker: bool) -> int:
    """The trade's quantity as the maker (`maker`) or the taker saw it: + bought, - sold."""
    buying = (trade.taker_side == "buy") != maker
    return trade.quantity if buying else -trade.quantity


class Position:
    """Average-cost position in one symbol: `quantity` signed lots, `cost` the open quantity's
    cost (ticks x lots, same sign), `realized` PnL in ticks x lots. Fees are not included.

    `cost` and `realized` stay ints while they are whole (opening never makes a fraction;
    closing part of a position at an uneven average does) and are Fractions only then:
    Fraction arithmetic costs microseconds on every trade."""

    __slots__ = ("cost", "quantity", "realized")

    def __init__(self) -> None:
        self.quantity = 0
        self.cost: int | Fraction = 0
        self.realized: int | Fraction = 0

    def trade(self, signed_lots: int, price: int) -> None:
        qty = self.quantity
        if qty == 0 or (qty > 0) == (signed_lots > 0):
            self.cost += signed_lots * price
            self.quantity = qty + signed_lots
            return
        closing = min(abs(signed_lots), abs(qty))
        # Selling a long (or buying back a short) realizes (price - average) per lot.
        sign = 1 if qty > 0 else -1
        remaining = qty + signed_lots
        if remaining == 0 or (remaining > 0) != (qty > 0):  # closed, or flipped
            self.realized = _whole(self.realized + price * closing * sign - self.cost)
            self.cost = remaining * price  # the rest (if any) opens at `price`
        else:
            cost = self.cost
            closed_cost = Fraction(cost * closing, abs(qty))
            self.realized = _whole(self.realized + price * closing * sign - closed_cost)
            self.cost = _whole(cost - closed_cost)
        self.quantity = remaining

    def average_price(self) -> Fraction | int | None:
        if not self.quantity:
            return None
        return _whole(Fraction(self.cost) / self.quantity)


def _whole(value: int | Fraction) -> int | Fraction:
    if type(value) is int:
        return value
    assert isinstance(value, Fraction)
    return value.numerator if value.denominator == 1 else value


class Standing:
    """One account's standing in one symbol (fees in units of the symbol's quote)."""

    __slots__ = ("fees", "position", "trades")

    def __init__(self, position: Position | None = None, fees: int = 0, trades: int = 0
                 ) -> None:
        self.position = Position() if position is None else position
        self.fees = fees
        self.trades = trades

    def record(self, trade: TradeExecuted, maker: bool) -> None:
        self.trades += 1
        self.fees += trade.maker_fee if maker else trade.taker_fee
        self.position.trade(signed_lots(trade, maker), trade.price)

    def as_tuple(self, account_id: int, symbol: str, ts: int) -> tuple[object, ...]:
        """The row, in `STANDING_COLUMNS` order."""
        position = self.position
        cost, realized = Fraction(position.cost), Fraction(position.realized)
        return (account_id, symbol, position.quantity, str(cost.numerator),
                str(cost.denominator), str(realized.numerator), str(realized.denominator),
                self.fees, self.trades, ts)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Standing:
        """From a stored row."""
        position = Position()
        position.quantity = int(row["quantity"])
        position.cost = _whole(Fraction(int(row["cost_num"]), int(row["cost_den"])))
        position.realized = _whole(Fraction(int(row["realized_num"]),
                                            int(row["realized_den"])))
        return cls(position, int(row["fees"]), int(row["trades"]))
