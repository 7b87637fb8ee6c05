"""The fair price: a seeded random walk in ticks with occasional jumps.

Pure and synchronous: the process draws only from the `random.Random` it is given and
reads no clock (the caller passes the elapsed time), so a seed replays the same path.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FairParams:
    """How the fair price moves. Rates are per second, sizes are fractions of the price."""

    volatility: float = 3e-4  # standard deviation of the log price over one second
    jump_rate: float = 1 / 45  # jumps per second on average
    jump_size: float = 0.004  # typical jump, either way (drawn from 0.5x to 1.5x of it)
    reversion: float = 1 / 600  # pull towards the anchor per second: keeps hours sane


class FairPrice:
    """A log-space random walk (Ornstein-Uhlenbeck towards the starting price, weak) plus
    Poisson jumps, rounded to whole ticks and never below one tick."""

    def __init__(self, ticks: int, rng: random.Random,
                 params: FairParams | None = None) -> None:
        if ticks < 1:
            raise ValueError("the fair price must be at least one tick")
        self.rng = rng
        self.params = params or FairParams()
        self.anchor = math.log(ticks)
        self._log = self.anchor
        self.ticks = ticks
        self.jumps = 0  # how many jumps so far (the status line and tests read it)

    def step(self, dt: float) -> int:
        """Advances the process by `dt` seconds and returns the new fair price in ticks."""
        if dt <= 0:
            return self.ticks
        params, rng = self.params, self.rng
        drift = (self.anchor - self._log) * min(1.0, params.reversion * dt)
        shock = rng.gauss(0.0, params.volatility * math.sqrt(dt))
        self._log += drift + shock
        if rng.random() < 1.0 - math.exp(-params.jump_rate * dt):
            size = params.jump_size * rng.uniform(0.5, 1.5)
            self._log += size if rng.random() < 0.5 else -size
            self.jumps += 1
        self.ticks = max(1, round(math.exp(self._log)))
        if self.ticks == 1:  # do not drift ever lower below the floor
            self._log = max(self._log, 0.0)
        return self.ticks
