"""Rendering integers as the contract's strings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.web.render import dec, time_us

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LAST = int((datetime(9999, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()) * 1_000_000


@given(st.lists(st.integers(min_value=0, max_value=LAST), min_size=1, max_size=20))
def test_times_render_like_strftime_whatever_came_before(moments: list[int]) -> None:
    for us in moments:  # the cached second must never leak into another one
        for value in (us, us + 1, max(0, us - 1_000_000)):
            expected = (_EPOCH + timedelta(microseconds=value)).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ")
            assert time_us(value) == expected


@pytest.mark.parametrize("text", [
    "11275739295405274.333333333333",  # 29 digits: an average price a 28-digit context cut
    "123456789012345678901234567890.123456789012345678",
    "0.000000000000000001",
    "100.25",
])
def test_decimals_render_every_digit(text: str) -> None:
    assert dec(Decimal(text)) == text
