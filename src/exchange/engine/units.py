"""Integer units and their conversion from and to decimals (used at the edges).

- A price is an integer number of ticks of its instrument, a quantity an integer number of lots.
- An amount of an asset (balances, fees, deposits) is an integer number of units of
  `10**-ASSET_DECIMALS` of that asset, the same scale for every asset.
- A fee rate is an integer number of `10**-RATE_DECIMALS`.

The converters return None for a value that is off its grid, so a caller can answer with the
matching reason code (`price_not_on_tick`, `quantity_not_on_lot`, ...).
"""

from decimal import Decimal

ASSET_DECIMALS = 12
ASSET_UNIT = Decimal(1).scaleb(-ASSET_DECIMALS)
RATE_DECIMALS = 8
RATE_SCALE: int = 10**RATE_DECIMALS


def to_steps(value: Decimal, step: Decimal) -> int | None:
    """`value / step` as an int, or None when `value` is not a whole multiple of `step`."""
    if not value.is_finite():
        return None
    steps, rest = divmod(value, step)
    if rest != 0:
        return None
    return int(steps)


def from_steps(steps: int, step: Decimal) -> Decimal:
    return (step * steps).normalize() if steps else Decimal(0)


def to_units(amount: Decimal) -> int | None:
    """An asset amount in units, or None when it has more than ASSET_DECIMALS decimals."""
    return to_steps(amount, ASSET_UNIT)


def rate_to_int(rate: Decimal) -> int | None:
    return to_steps(rate, Decimal(1).scaleb(-RATE_DECIMALS))


def fee_ceil(numerator: int) -> int:
    """`ceil(numerator / RATE_SCALE)` on integers: fees round in the exchange's favour."""
    return -(-numerator // RATE_SCALE)
