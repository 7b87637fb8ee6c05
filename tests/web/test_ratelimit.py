"""The per-account token bucket on order entry."""

from __future__ import annotations

import httpx
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


def test_headers_say_where_the_bucket_stands() -> None:
    limiter = RateLimiter(rate=2, burst=4)
    assert limiter.check(1, now=0.0) == {
        "X-RateLimit-Limit": "4", "X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "1",
    }
    limiter.check(1, now=0.0)
    assert limiter.headers(1, now=0.0)["X-RateLimit-Reset"] == "1"  # 2 tokens at 2/s
    limiter.check(1, now=0.0)
    assert limiter.headers(1, now=0.0)["X-RateLimit-Reset"] == "2"  # 3 at 2/s: 1.5 s
    limiter.check(1, now=0.0)
    with pytest.raises(ApiError) as caught:
        limiter.check(1, now=0.0)
    assert caught.value.headers["X-RateLimit-Remaining"] == "0"
    assert caught.value.headers["X-RateLimit-Reset"] == "2"
    assert limiter.headers(1, now=10.0)["X-RateLimit-Remaining"] == "4"
    assert limiter.headers(1, now=10.0)["X-RateLimit-Reset"] == "0"
    assert limiter.take(2, 10, now=0.0) == 4  # a batch takes what is there
    off = RateLimiter(rate=0, burst=4)
    assert off.check(1) == {}
    assert off.headers(1) == {}
    assert off.take(1, 5) == 5


def _limits(response: httpx.Response) -> tuple[int, int, int]:
    return (int(response.headers["x-ratelimit-limit"]),
            int(response.headers["x-ratelimit-remaining"]),
            int(response.headers["x-ratelimit-reset"]))


async def test_every_order_entry_answer_carries_the_headers(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, rate_limit=1, rate_burst=6)
    await running.instrument()
    trader = await running.trader("t", USD="100000")
    http = running.admin.http
    key = {"Authorization": f"Bearer {trader.api_key}"}
    order = {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.001",
             "price": "1"}
    # The fast path: place, amend, cancel, and an error answer.
    placed = await http.post("/v1/orders", json=order, headers=key)
    assert placed.status_code == 201
    assert _limits(placed)[:2] == (6, 5)
    order_id = placed.json()["order_id"]
    amended = await http.patch(f"/v1/orders/{order_id}", json={"price": "2"}, headers=key)
    assert amended.status_code == 200
    assert _limits(amended)[:2] == (6, 4)
    bad = await http.post("/v1/orders", json={**order, "side": "up"}, headers=key)
    assert bad.status_code == 400
    assert _limits(bad)[:2] == (6, 3)
    cancelled = await http.delete(f"/v1/orders/{order_id}", headers=key)
    assert cancelled.status_code == 200
    assert _limits(cancelled)[:2] == (6, 2)
    assert _limits(cancelled)[2] >= 4  # four tokens to refill at one a second
    # The Quart routes: cancel-all, and the batch (a token per order).
    every = await http.delete("/v1/orders", headers=key)
    assert every.status_code == 200
    assert _limits(every)[:2] == (6, 1)
    batch = await http.post("/v1/orders/batch", json={"orders": [order, order]}, headers=key)
    assert batch.status_code == 200
    assert _limits(batch)[:2] == (6, 0)
    assert [r["status"] for r in batch.json()["results"]] == [201, 429]
    # A 429 carries them too.
    refused = await http.post("/v1/orders", json=order, headers=key)
    assert refused.status_code == 429
    assert _limits(refused)[:2] == (6, 0)
    assert int(refused.headers["retry-after"]) >= 1
    # Reads carry none.
    assert "x-ratelimit-limit" not in (await http.get("/v1/orders", headers=key)).headers
    await running.admin.aclose()
    running.server.shutdown()


async def test_no_headers_when_the_limit_is_off(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, rate_limit=0)
    await running.instrument()
    trader = await running.trader("t", USD="100000")
    key = {"Authorization": f"Bearer {trader.api_key}"}
    placed = await running.admin.http.post("/v1/orders", headers=key, json={
        "symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.001",
        "price": "1"})
    assert placed.status_code == 201
    assert not any(name.startswith("x-ratelimit") for name in placed.headers)
    await running.admin.aclose()
    running.server.shutdown()


async def test_quart_routes_behind_the_fast_path_carry_them(nursery: trio.Nursery) -> None:
    """The Quart place/amend/cancel routes (the app without the fast path) answer the same
    headers, errors included."""
    running = await start_exchange(nursery, rate_limit=1, rate_burst=3)
    await running.instrument()
    trader = await running.trader("t", USD="100000")
    from exchange.web.app import create_app

    client = create_app(running.server.services).test_client()
    key = {"Authorization": f"Bearer {trader.api_key}"}
    order = {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.001",
             "price": "1"}
    placed = await client.post("/v1/orders", json=order, headers=key)
    assert placed.status_code == 201
    assert placed.headers["X-RateLimit-Remaining"] == "2"
    order_id = (await placed.get_json())["order_id"]
    bad = await client.patch(f"/v1/orders/{order_id}", json={"price": "x"}, headers=key)
    assert bad.status_code == 400
    assert bad.headers["X-RateLimit-Remaining"] == "1"
    gone = await client.delete(f"/v1/orders/{order_id}", headers=key)
    assert gone.status_code == 200
    assert gone.headers["X-RateLimit-Remaining"] == "0"
    refused = await client.delete(f"/v1/orders/{order_id}", headers=key)
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Limit"] == "3"
    await running.admin.aclose()
    running.server.shutdown()
