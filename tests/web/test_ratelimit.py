"""The per-account token bucket on order entry."""

from __future__ import annotations

import pytest
import trio

from exchange.client import ExchangeError
from exchange.web.errors import ApiError
from exchange.web.ratelimit import RateLimiter

from .support import start_exchange


def test_token_bucket_refills() -> None:
    limiter = RateLimiter(rate=10, burst=3)
    for _ in range(3):
        limiter.check(1, now=0.0)
    with pytest.raises(ApiError) as caught:
        limiter.check(1, now=0.0)
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "1"
    limiter.check(2, now=0.0)  # per account
    limiter.check(1, now=0.1)  # one token back after 1/rate seconds
    with pytest.raises(ApiError):
        limiter.check(1, now=0.1)


async def test_order_entry_is_rate_limited(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, rate_limit=5, rate_burst=3)
    await running.instrument()
    trader = await running.trader("t", USD="100000")
    codes = []
    refusals: list[ExchangeError] = []
    for _ in range(5):
        try:
            await trader.client.place_order("BTC-USD", "buy", quantity="0.001", price="1")
            codes.append(201)
        except ExchangeError as exc:
            codes.append(exc.status)
            refusals.append(exc)
    assert codes[:3] == [201, 201, 201]
    assert 429 in codes[3:]
    assert {e.code for e in refusals} == {"rate_limited"}
    assert all((e.retry_after or 0) >= 1 for e in refusals)
    # reads are not limited
    for _ in range(5):
        await trader.client.orders()
    await running.admin.aclose()
    running.server.shutdown()
