"""A token bucket per account for order entry (place, amend, cancel)."""

from __future__ import annotations

import math
import time

from exchange.web.errors import ApiError


class RateLimiter:
    """`rate` requests per second on average, bursts of up to `burst`; `rate` 0 is off."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, list[float]] = {}  # account -> [tokens, last refill]

    def check(self, account_id: int, now: float | None = None) -> None:
        """Takes one token, or raises 429 with `Retry-After`."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(account_id)
        if bucket is None:
            bucket = self._buckets[account_id] = [float(self.burst), now]
        tokens = min(float(self.burst), bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            wait = math.ceil((1.0 - tokens) / self.rate)
            raise ApiError(429, "rate_limited", "too many order requests",
                           headers={"Retry-After": str(max(1, wait))})
        bucket[0] = tokens - 1.0
