"""Positions keep exact average-cost arithmetic while they stay on integers when they can."""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from exchange.pipeline.readmodel import Position
from exchange.web.render import dec, quotient, ratio


class Reference:
    """The textbook average-cost position, all in Fractions."""

    def __init__(self) -> None:
        self.quantity = 0
        self.cost = Fraction(0)
        self.realized = Fraction(0)

    def trade(self, signed_lots: int, price: int) -> None:
        qty = self.quantity
        if qty == 0 or (qty > 0) == (signed_lots > 0):
            self.cost += signed_lots * price
            self.quantity = qty + signed_lots
            return
        closing = min(abs(signed_lots), abs(qty))
        average = self.cost / qty
        sign = 1 if qty > 0 else -1
        self.realized += (price - average) * closing * sign
        self.cost -= average * closing * sign
        self.quantity = qty + signed_lots
        if self.quantity == 0:
            self.cost = Fraction(0)
        elif (self.quantity > 0) != (qty > 0):
            self.cost = Fraction(self.quantity * price)


def exact_text(value: Fraction, step: Decimal) -> str:
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(value.numerator) / Decimal(value.denominator) * step
        return dec(exact.quantize(Decimal(1).scaleb(-12)))


STEPS = st.sampled_from([Decimal("0.01"), Decimal("1E-7"), Decimal("0.5"), Decimal("3"),
                         Decimal("1E-14")])
TRADES = st.lists(st.tuples(st.integers(-60, 60).filter(bool), st.integers(1, 10**6)),
                  max_size=40)


@given(TRADES, STEPS)
def test_positions_equal_the_fraction_reference(trades: list[tuple[int, int]],
                                                step: Decimal) -> None:
    position, reference = Position(), Reference()
    for lots, price in trades:
        position.trade(lots, price)
        reference.trade(lots, price)
        assert position.quantity == reference.quantity
        assert position.cost == reference.cost
        assert position.realized == reference.realized
        assert ratio(position.realized, step) == exact_text(reference.realized, step)
        average = position.average_price()
        if reference.quantity:
            assert average == reference.cost / reference.quantity
            assert average is not None
            assert ratio(average, step) == exact_text(reference.cost / reference.quantity,
                                                      step)
        else:
            assert average is None


@given(st.integers(0, 10**18), st.integers(1, 10**9), STEPS)
def test_quotients_render_exactly_to_twelve_places(numerator: int, denominator: int,
                                                   step: Decimal) -> None:
    assert quotient(numerator, denominator, step) == exact_text(
        Fraction(numerator, denominator), step)
