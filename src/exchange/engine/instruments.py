"""An instrument: its trading rules, its book and its pending stop orders."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from exchange.engine.book import BookSide
from exchange.engine.codes import RejectReason
from exchange.engine.units import ASSET_UNIT, exact_mul, from_steps, rate_to_int, to_steps

if TYPE_CHECKING:
    from exchange.engine.commands import AddInstrument


class Instrument:
    """Integers derived once from the decimal definition keep the hot path in integers:
    a price times a quantity (ticks x lots) is a number of quote increments
    (`tick_size * lot_size`), worth `quote_mult` quote units; a lot is `base_mult` base units.
    """

    __slots__ = (
        "asks",
        "base",
        "base_mult",
        "bids",
        "buy_stops",
        "filtered",
        "halted",
        "hold_rate",
        "last_price",
        "lot_size",
        "maker_fee_rate",
        "maker_rate",
        "max_quantity",
        "min_notional",
        "min_quantity",
        "quote",
        "quote_mult",
        "sell_stops",
        "sequence",
        "symbol",
        "taker_fee_rate",
        "taker_rate",
        "tick_size",
    )

    def __init__(self, command: AddInstrument) -> None:
        self.symbol = command.symbol
        self.base = command.base
        self.quote = command.quote
        self.tick_size = command.tick_size
        self.lot_size = command.lot_size
        self.min_quantity = command.min_quantity
        self.min_notional = command.min_notional
        self.max_quantity = command.max_quantity
        # One test on the hot path for an instrument without filters.
        self.filtered = bool(command.min_notional or command.max_quantity)
        self.maker_fee_rate = command.maker_fee_rate
        self.taker_fee_rate = command.taker_fee_rate
        maker_rate = rate_to_int(command.maker_fee_rate)
        taker_rate = rate_to_int(command.taker_fee_rate)
        quote_mult = to_steps(exact_mul(command.tick_size, command.lot_size), ASSET_UNIT)
        base_mult = to_steps(command.lot_size, ASSET_UNIT)
        if maker_rate is None or taker_rate is None or quote_mult is None or base_mult is None:
            raise ValueError("instrument off the unit grid")
        self.maker_rate = maker_rate
        self.taker_rate = taker_rate
        # A resting buy holds enough to pay the higher of the two rates on what is left.
        self.hold_rate = max(maker_rate, taker_rate)
        self.quote_mult = quote_mult
        self.base_mult = base_mult
        self.bids = BookSide(is_bids=True)
        self.asks = BookSide(is_bids=False)
        self.sequence = 0
        self.last_price: int | None = None
        self.halted = False
        # Pending stops as sorted (stop_price, order_id) keys: a buy stop triggers when the
        # last price rises to it (a prefix of buy_stops), a sell stop when the last price
        # falls to it (a suffix of sell_stops), so the check after a trade is O(1). A
        # take-profit triggers the other way, so it waits in the other side's list: a sell
        # take-profit in buy_stops, a buy take-profit in sell_stops (`contingent.rises`).
        self.buy_stops: list[tuple[int, int]] = []
        self.sell_stops: list[tuple[int, int]] = []

    @staticmethod
    def valid(command: AddInstrument) -> bool:
        """Whether the definition is usable: positive sizes on the unit grid, rates in [0, 0.1),
        filters not negative and a maximum quantity (if any) not below the minimum."""
        try:
            if command.tick_size <= 0 or command.lot_size <= 0 or command.min_quantity < 1:
                return False
            if command.min_notional < 0 or command.max_quantity < 0 or (
                command.max_quantity and command.max_quantity < command.min_quantity
            ):
                return False
            for rate in (command.maker_fee_rate, command.taker_fee_rate):
                if not (0 <= rate < Decimal("0.1")) or rate_to_int(rate) is None:
                    return False
            return (
                to_steps(exact_mul(command.tick_size, command.lot_size), ASSET_UNIT) is not None
                and to_steps(command.lot_size, ASSET_UNIT) is not None
            )
        except ArithmeticError:
            return False

    # -- FILTERS --

    def refusal(self, price: int | None, stop_price: int | None, quantity: int | None,
                quote_quantity: int | None) -> RejectReason | None:
        """Why an order (as placed, or as amended) breaks the filters, if it does.

        `max_quantity` bounds an order's quantity in lots (a market order by quote quantity
        has none, so it is not bounded). `min_notional` bounds what the order is worth in
        quote units: a market order by quote quantity that amount; any other order its
        quantity at its limit price, else at its stop price (a stop-market order), else at
        the last trade price (a market order by quantity; with no trade yet it is not
        valued, so not refused). Only from the engine's own state, so replay refuses the
        same orders."""
        if quantity is not None and self.max_quantity and quantity > self.max_quantity:
            return RejectReason.QUANTITY_ABOVE_MAXIMUM
        if not self.min_notional:
            return None
        if quote_quantity is not None:
            notional = quote_quantity
        else:
            at = price if price is not None else stop_price
            if at is None:
                at = self.last_price
            if at is None or quantity is None:
                return None
            notional = at * quantity * self.quote_mult
        if notional < self.min_notional:
            return RejectReason.NOTIONAL_BELOW_MINIMUM
        return None

    # -- CONVERSIONS (for the edges) --

    def ticks(self, price: Decimal) -> int | None:
        return to_steps(price, self.tick_size)

    def lots(self, quantity: Decimal) -> int | None:
        return to_steps(quantity, self.lot_size)

    def price_decimal(self, ticks: int) -> Decimal:
        return from_steps(ticks, self.tick_size)

    def quantity_decimal(self, lots: int) -> Decimal:
        return from_steps(lots, self.lot_size)
