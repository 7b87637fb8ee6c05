"""The fair-price process: seeded, positive, on whole ticks, with jumps."""

from __future__ import annotations

import math
import random

import pytest

from exchange.simulate.fair import FairParams, FairPrice


def path(seed: int, steps: int = 2_000, ticks: int = 5_000_000,
         params: FairParams | None = None) -> list[int]:
    fair = FairPrice(ticks, random.Random(seed), params)
    return [fair.step(0.2) for _ in range(steps)]


def test_a_seed_replays_the_same_path() -> None:
    assert path(7) == path(7)
    assert path(7) != path(8)


def test_prices_are_whole_ticks_and_move() -> None:
    prices = path(1)
    assert all(isinstance(price, int) for price in prices)
    assert len(set(prices)) > len(prices) // 2  # it does walk


def test_the_price_stays_positive_however_wild() -> None:
    wild = FairParams(volatility=0.5, jump_rate=2.0, jump_size=0.5, reversion=0.0)
    prices = path(3, steps=5_000, ticks=3, params=wild)
    assert min(prices) >= 1
    assert min(prices) == 1  # it did hit the floor, and came back up
    assert prices[-1] > 1 or max(prices) > 1


def test_jumps_happen_and_are_large_moves() -> None:
    calm = FairParams(volatility=1e-6, jump_rate=0.5, jump_size=0.01, reversion=0.0)
    fair = FairPrice(1_000_000, random.Random(5), calm)
    moves = []
    for _ in range(500):
        before = fair.ticks
        after = fair.step(0.2)
        moves.append(abs(math.log(after / before)))
    assert fair.jumps > 20  # about 0.5/s * 100 s
    big = [move for move in moves if move > 0.004]  # jumps are 0.5% to 1.5%
    assert len(big) == fair.jumps


def test_the_walk_reverts_towards_its_start() -> None:
    params = FairParams(volatility=2e-3, jump_rate=0.0, reversion=0.05)
    ends = [path(seed, steps=3_000, ticks=10_000, params=params)[-1] for seed in range(20)]
    # Without reversion the spread of log prices after 600 s would be 0.05; with it, ~0.006.
    spread = max(abs(math.log(end / 10_000)) for end in ends)
    assert spread < 0.03


def test_zero_time_changes_nothing() -> None:
    fair = FairPrice(100, random.Random(1))
    assert fair.step(0) == 100


def test_a_price_below_one_tick_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one tick"):
        FairPrice(0, random.Random(1))
