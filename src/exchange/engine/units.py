"""Integer units and their conversion from and to decimals (used at the edges).

- A price is an integer number of ticks of its instrument, a quantity an integer number of lots.
- An amount of an asset (balances, fees, deposits) is an integer number of units of
  `10**-ASSET_DECIMALS` of that asset, the same scale for every asset.
- A fee rate is an integer number of `10**-RATE_DECIMALS`.

The converters return None for a value that is off its grid, so a caller can answer with the
matching reason code (`price_not_on_tick`, `quantity_not_on_lot`, ...).
"""

from decimal import Context, Decimal, Inexact
from typing import Final

ASSET_DECIMALS = 12
ASSET_UNIT = Decimal(1).scaleb(-ASSET_DECIMALS)
RATE_DECIMALS = 8
RATE_SCALE: Final[int] = 10**RATE_DECIMALS
# Products of decimals from the edges (at most 64 digits each) are exact in this context; one
# that is not raises `Inexact` (an ArithmeticError) instead of being silently rounded, as the
# default context (28 digits) would.
_EXACT = Context(prec=200, traps=[Inexact])


def to_steps(value: Decimal, step: Decimal) -> int | None:
    """`value / step` as an int, or None when `value` is not a whole multiple of `step`.

    On integers, so it is exact at any magnitude (Decimal's `divmod` raises
    `DivisionImpossible` once the quotient has more than 28 digits)."""
    if not value.is_finite():
        return None
    value_num, value_den = value.as_integer_ratio()
    step_num, step_den = step.as_integer_ratio()
    steps, rest = divmod(value_num * step_den, value_den * step_num)
    if rest != 0:
        return None
    return steps


def exact_mul(a: Decimal, b: Decimal) -> Decimal:
    """`a * b` without rounding (`Inexact` if it would need more than 200 digits)."""
    return _EXACT.multiply(a, b)


def from_steps(steps: int, step: Decimal) -> Decimal:
    return _EXACT.normalize(_EXACT.multiply(step, Decimal(steps))) if steps else Decimal(0)


def to_units(amount: Decimal) -> int | None:
    """An asset amount in units, or None when it has more than ASSET_DECIMALS decimals."""
    return to_steps(amount, ASSET_UNIT)


def rate_to_int(rate: Decimal) -> int | None:
    return to_steps(rate, Decimal(1).scaleb(-RATE_DECIMALS))


def fee_ceil(numerator: int) -> int:
    """`ceil(numerator / RATE_SCALE)` on integers: fees round in the exchange's favour."""
    return -(-numerator // RATE_SCALE)
