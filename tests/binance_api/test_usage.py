"""The `X-MBX-*` usage headers, the 429 `-1003` with `Retry-After` through ccxt and
python-binance, and Binance's client order id characters on both surfaces."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import ccxt
import httpx
import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from exchange.binance.usage import RequestWeight, weight
from exchange.web.ratelimit import RateLimiter
from web.support import threaded_exchange

from .test_ccxt import Venue, binance, serve_venue

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
BURST = 3


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_request_weight_per_ip_and_minute() -> None:
    clock = Clock(120.0)
    weights = RequestWeight(clock)
    assert [weights.add("a", 1), weights.add("a", 20), weights.add("b", 5)] == [1, 21, 5]
    clock.now = 179.9
    assert weights.add("a", 2) == 23
    clock.now = 180.0  # a new minute: everyone starts again
    assert (weights.add("a", 1), weights.add("b", 1)) == (1, 1)


def test_binance_weights() -> None:
    assert weight("GET", "/api/v3/ping", {}) == 1
    assert weight("GET", "/api/v3/exchangeInfo", {}) == 20
    assert weight("POST", "/api/v3/order", {}) == 1
    assert weight("GET", "/api/v3/order", {}) == 4
    assert [weight("GET", "/api/v3/depth", {"limit": limit})
            for limit in ("", "100", "101", "500", "1000", "5000", "x")] == [
        5, 5, 25, 25, 50, 250, 5]
    assert (weight("GET", "/api/v3/openOrders", {"symbol": "BTCUSD"}),
            weight("GET", "/api/v3/openOrders", {})) == (6, 80)
    assert (weight("GET", "/api/v3/ticker/24hr", {"symbol": "BTCUSD"}),
            weight("GET", "/api/v3/ticker/24hr", {})) == (2, 80)


def test_order_counts_per_10_seconds_and_utc_day() -> None:
    clock = Clock(86400.0 * 100 + 5)
    for limiter in (RateLimiter(0, 1, clock), RateLimiter(1000, 1000, clock)):  # off, on
        clock.now = 86400.0 * 100 + 5
        assert limiter.orders(1) == (0, 0)
        limiter.take(1, 1)
        limiter.take(1, 2)
        limiter.take(2, 1)
        assert (limiter.orders(1), limiter.orders(2)) == ((3, 3), (1, 1))
        clock.now += 5  # the next 10 s window
        assert limiter.orders(1) == (0, 3)
        limiter.take(1, 1)
        assert limiter.orders(1) == (1, 4)
        clock.now = 86400.0 * 101  # the next day
        assert limiter.orders(1) == (0, 0)
    empty = RateLimiter(1, 1, clock)
    empty.take(1, 1)
    empty.take(1, 1)  # no token left: not counted
    assert empty.orders(1) == (1, 1)


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    yield from serve_venue("0.01", "0.0001", "0", "0")


@pytest.fixture(scope="module")
def limited() -> Iterator[Venue]:
    """Order entry limited to a burst of three, refilled once in 100 s (not during a test)."""
    with threaded_exchange(rate_limit=0.01, rate_burst=BURST) as url:
        made = Venue(url)
        made.call("POST", "/v1/admin/instruments", json={
            "symbol": "BTC-USD", "base": "BTC", "quote": "USD", "tick_size": "0.01",
            "lot_size": "0.0001", "maker_fee_rate": "0", "taker_fee_rate": "0"})
        yield made
        made.admin.close()


def test_every_answer_carries_the_weight_and_signed_ones_the_order_counts(limited: Venue
                                                                          ) -> None:
    venue = limited
    _, _, key, secret = venue.trader("counted", USD="10000")
    http = httpx.Client(base_url=venue.url)
    answers = [http.get("/api/v3/ping"), http.get("/api/v3/exchangeInfo"),
               http.get("/api/v3/nothing"), http.get("/sapi/v1/asset/tradeFee"),
               http.get("/api/v3/depth", params={"symbol": "BTCUSD", "limit": 1000})]
    assert [a.status_code for a in answers] == [200, 200, 404, 401, 200]
    used = [int(a.headers["X-MBX-USED-WEIGHT-1M"]) for a in answers]
    # From one IP, each adds its weight to the minute's (or starts the next minute's).
    for before, after, added in zip(used[:-1], used[1:], (20, 1, 1, 50), strict=True):
        assert after in (before + added, added)
    assert all(a.headers.get("X-MBX-ORDER-COUNT-10S") is None for a in answers)
    assert "X-MBX-USED-WEIGHT-1M" not in http.get("/v1/instruments").headers
    http.close()
    exchange = binance(venue.url, key, secret)
    exchange.fetch_balance()
    headers = exchange.last_response_headers
    assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == ("0", "0")
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 20
    for placed in range(1, BURST + 1):
        exchange.create_order("BTC/USD", "limit", "buy", 0.01, 10 + placed)
        headers = exchange.last_response_headers
        assert headers["X-MBX-ORDER-COUNT-1D"] == str(placed)
        assert 1 <= int(headers["X-MBX-ORDER-COUNT-10S"]) <= placed
    with pytest.raises(ccxt.DDoSProtection) as limited:  # ccxt's class for any 429
        exchange.create_order("BTC/USD", "limit", "buy", 0.01, 10)
    assert '"code":-1003' in str(limited.value)
    # ccxt's own map of the code agrees (it answers a 429 before reading the body).
    assert exchange.exceptions["exact"]["-1003"] is ccxt.RateLimitExceeded
    headers = exchange.last_response_headers
    assert 1 <= int(headers["Retry-After"]) <= 100
    assert headers["X-MBX-ORDER-COUNT-1D"] == str(BURST)  # a refused one takes no token

    async def python_binance() -> None:
        client = AsyncClient(key, secret)
        client.API_URL = venue.url + "/api"
        try:
            with pytest.raises(BinanceAPIException) as refused:
                await client.order_limit_buy(symbol="BTCUSD", quantity="0.01", price="10")
            assert (refused.value.status_code, refused.value.code) == (429, -1003)
            assert refused.value.response.headers["Retry-After"]
        finally:
            await client.close_connection()

    asyncio.run(python_binance())


def test_binance_client_order_ids_on_both_surfaces(venue: Venue) -> None:
    _, bearer, key, secret = venue.trader("ids", USD="10000")
    exchange = binance(venue.url, key, secret)
    client_id = "a.b:c/d_e-F9"
    order = exchange.create_order("BTC/USD", "limit", "buy", 0.01, 10,
                                  {"clientOrderId": client_id})
    assert order["clientOrderId"] == client_id
    found = exchange.fetch_order(None, "BTC/USD", {"origClientOrderId": client_id})
    assert found["id"] == order["id"]
    v1 = httpx.Client(base_url=venue.url, headers={"Authorization": f"Bearer {bearer}"})
    for path in (quote(client_id, safe=""), client_id):  # %2F, or the "/" itself
        answer = v1.get("/v1/orders/by-client-id/" + path)
        assert answer.status_code == 200, answer.text
        assert answer.json()["order_id"] == int(order["id"])
    cancelled = exchange.cancel_order(None, "BTC/USD", {"origClientOrderId": client_id})
    assert cancelled["status"] == "canceled"
    placed = v1.post("/v1/orders", json={  # /v1 takes the same characters
        "symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.01",
        "price": "10", "client_order_id": "v1:x/y.z"})
    assert placed.status_code == 201, placed.text
    mine = exchange.fetch_order(None, "BTC/USD", {"origClientOrderId": "v1:x/y.z"})
    assert mine["id"] == str(placed.json()["order_id"])
    bad: list[Any] = []
    for refused_id in ("has space", "x" * 37, "semi;colon", ""):
        with pytest.raises(ccxt.BadRequest) as refused:
            exchange.create_order("BTC/USD", "limit", "buy", 0.01, 10,
                                  {"clientOrderId": refused_id} if refused_id else
                                  {"newClientOrderId": "é"})
        bad.append(str(refused.value))
    assert all('"code":-1100' in text for text in bad)
    too_long = v1.post("/v1/orders", json={
        "symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.01",
        "price": "10", "client_order_id": "x" * 37})
    assert (too_long.status_code, too_long.json()["error"]["code"]) == (400, "invalid_request")
    v1.close()
