"""An instrument: its trading rules, its book and its pending stop orders."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from exchange.engine.book import BookSide
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
        "halted",
        "hold_rate",
        "last_price",
        "lot_size",
        "maker_fee_rate",
        "maker_rate",
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
        """Whether the definition is usable: positive sizes on the unit grid, rates in [0, 0.1)."""
        try:
            if command.tick_size <= 0 or command.lot_size <= 0 or command.min_quantity < 1:
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

    # -- CONVERSIONS (for the edges) --

    def ticks(self, price: Decimal) -> int | None:
        return to_steps(price, self.tick_size)

    def lots(self, quantity: Decimal) -> int | None:
        return to_steps(quantity, self.lot_size)

    def price_decimal(self, ticks: int) -> Decimal:
        return from_steps(ticks, self.tick_size)

    def quantity_decimal(self, lots: int) -> Decimal:
        return from_steps(lots, self.lot_size)
