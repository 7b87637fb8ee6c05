"""A token bucket per account for order entry (place, amend, cancel), and the headers that
tell a client where its bucket stands.

    X-RateLimit-Limit      the burst: tokens in a full bucket
    X-RateLimit-Remaining  whole tokens left after this request
    X-RateLimit-Reset      whole seconds until the bucket is full again (0: it is full)

`headers` is the one place they are computed; with the limit off (`rate` 0) there are none.
`orders` counts the requests that took a token (all of them with the limit off) in the
current 10-second window and UTC day, for the Binance surface's `X-MBX-ORDER-COUNT-*`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from exchange.web.errors import ApiError


class RateLimiter:
    """`rate` requests per second on average, bursts of up to `burst`; `rate` 0 is off."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.time
                 ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock  # UTC seconds: the order counts' windows
        self._buckets: dict[int, list[float]] = {}  # account -> [tokens, last refill]
        # account -> [10 s window, its count, UTC day, its count]
        self._counts: dict[int, list[int]] = {}

    def _bucket(self, account_id: int, now: float | None) -> list[float]:
        """The account's bucket, refilled up to `now`."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(account_id)
        if bucket is None:
            bucket = self._buckets[account_id] = [float(self.burst), now]
        bucket[0] = min(float(self.burst), bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        return bucket

    def take(self, account_id: int, count: int, now: float | None = None) -> int:
        """Takes up to `count` tokens and returns how many it took (all when off)."""
        if self.rate <= 0:
            self._count(account_id, count)
            return count
        bucket = self._bucket(account_id, now)
        taken = min(count, int(bucket[0]))
        bucket[0] -= taken
        if taken:
            self._count(account_id, taken)
        return taken

    def _count(self, account_id: int, taken: int) -> None:
        counts = self._counts.get(account_id)
        if counts is None:
            counts = self._counts[account_id] = [0, 0, 0, 0]
        second = int(self.clock())
        if counts[0] != second // 10:
            counts[0], counts[1] = second // 10, 0
        if counts[2] != second // 86400:
            counts[2], counts[3] = second // 86400, 0
        counts[1] += taken
        counts[3] += taken

    def orders(self, account_id: int) -> tuple[int, int]:
        """The account's counted requests in the current 10 s window and UTC day."""
        counts = self._counts.get(account_id)
        if counts is None:
            return 0, 0
        second = int(self.clock())
        return (counts[1] if counts[0] == second // 10 else 0,
                counts[3] if counts[2] == second // 86400 else 0)

    def check(self, account_id: int, now: float | None = None) -> dict[str, str]:
        """Takes one token and returns the headers, or raises 429 with them and
        `Retry-After`."""
        if self.take(account_id, 1, now) == 0:
            raise self.refusal(account_id, now)
        return self.headers(account_id, now)

    def refusal(self, account_id: int, now: float | None = None) -> ApiError:
        """The 429 for a request that found no token."""
        tokens = self._bucket(account_id, now)[0]
        wait = math.ceil((1.0 - tokens) / self.rate)
        return ApiError(429, "rate_limited", "too many order requests",
                        headers={**self.headers(account_id, now),
                                 "Retry-After": str(max(1, wait))})

    def headers(self, account_id: int, now: float | None = None) -> dict[str, str]:
        """The `X-RateLimit-*` headers of the account's bucket now (none when off)."""
        if self.rate <= 0:
            return {}
        tokens = self._bucket(account_id, now)[0]
        return {
            "X-RateLimit-Limit": str(self.burst),
            "X-RateLimit-Remaining": str(int(tokens)),
            "X-RateLimit-Reset": str(math.ceil((self.burst - tokens) / self.rate)),
        }
