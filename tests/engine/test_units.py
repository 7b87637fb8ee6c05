"""The decimal ⇄ integer conversions at any magnitude the edges accept (|value| < 10²¹, down
to 10⁻³⁰): exact, never `decimal.DivisionImpossible`, never silently rounded."""

from __future__ import annotations

from decimal import Decimal, Inexact
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.engine.units import exact_mul, from_steps, to_steps, to_units

EDGE = [Decimal("1e20"), Decimal("99999999999999999999.999999999999"), Decimal("1e16"),
        Decimal("123456789012345678901"), Decimal("1e-30"), Decimal("0.000000000001")]


@pytest.mark.parametrize("value", EDGE)
def test_large_and_small_values_convert_exactly(value: Decimal) -> None:
    units = to_units(value)
    if value.normalize().as_tuple().exponent >= -12:  # type: ignore[operator]
        assert units is not None
        assert Fraction(units, 10**12) == Fraction(value)
    else:
        assert units is None


def test_quotients_beyond_28_digits() -> None:
    # Decimal's divmod raised DivisionImpossible here: the quotient has 33 digits.
    assert to_steps(Decimal("1e20"), Decimal("1e-12")) == 10**32
    assert to_steps(Decimal("100000000000000000000.0000000000001"), Decimal("1e-12")) is None
    assert to_steps(Decimal("-3.5"), Decimal("0.5")) == -7
    assert to_steps(Decimal("NaN"), Decimal("1")) is None


def test_products_are_exact_or_refused() -> None:
    a = Decimal("0.123456789012345678")
    b = Decimal("1234567.89012345678")
    # 32 significant digits: the default context would round it.
    assert Fraction(exact_mul(a, b)) == Fraction(a) * Fraction(b)
    assert a * b != exact_mul(a, b)
    with pytest.raises(Inexact):
        exact_mul(Decimal("1" * 150), Decimal("1" * 150))
    step = Decimal("0.123456789012345678")
    num, den = step.as_integer_ratio()
    # 33 significant digits: the default context would round the last five away.
    assert from_steps(10**15 - 1, step).as_integer_ratio() == _reduced(num * (10**15 - 1), den)


def _reduced(num: int, den: int) -> tuple[int, int]:
    from math import gcd

    g = gcd(num, den)
    return num // g, den // g


@given(st.integers(min_value=-(10**33), max_value=10**33),
       st.integers(min_value=1, max_value=10**12), st.integers(min_value=-30, max_value=8))
def test_to_steps_inverts_from_steps(steps: int, mantissa: int, exponent: int) -> None:
    step = Decimal(mantissa).scaleb(exponent)
    value = from_steps(steps, step)
    assert to_steps(value, step) == steps
