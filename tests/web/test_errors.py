"""Every failure answers the contract's envelope with its status; junk never gives a 5xx."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from exchange.client import ExchangeError

from .support import Exchange, Trader

ORDER = {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "1",
         "price": "100"}


async def _setup(exchange: Exchange) -> tuple[Trader, httpx.AsyncClient]:
    await exchange.instrument()
    trader = await exchange.trader("t", USD="1000", BTC="1")
    http = httpx.AsyncClient(base_url=exchange.url,
                             headers={"Authorization": f"Bearer {trader.api_key}"})
    return trader, http


def _envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    return error  # type: ignore[no-any-return]


async def test_http_level_errors(exchange: Exchange) -> None:
    _, http = await _setup(exchange)
    async with http:
        _envelope(await http.get("/nowhere"), 404, "not_found")
        _envelope(await http.get("/v1/orders/abc"), 404, "not_found")
        response = await http.put("/v1/orders")
        _envelope(response, 405, "method_not_allowed")
        assert "allow" in response.headers
        _envelope(await http.post("/v1/instruments"), 405, "method_not_allowed")
        big = b"{" + b" " * (64 * 1024) + b"}"
        _envelope(await http.post("/v1/orders", content=big), 413, "payload_too_large")
        _envelope(await http.post("/v1/admin/accounts", content=big,
                                  headers={"Authorization": "Bearer test-admin-token"}),
                  413, "payload_too_large")
        _envelope(await http.post("/v1/orders", content=b"{nope"), 400, "invalid_request")
        _envelope(await http.post("/v1/orders", content=b"[1]"), 400, "invalid_request")
        _envelope(await http.get("/v1/instruments/BTC-USD/book?depth=0"), 400,
                  "invalid_request")
        _envelope(await http.get("/v1/instruments/BTC-USD/book?depth=1001"), 400,
                  "invalid_request")
        _envelope(await http.get("/v1/instruments/BTC-USD/trades?limit=x"), 400,
                  "invalid_request")
        _envelope(await http.get("/v1/instruments/NOPE-USD/book"), 404, "not_found")


async def test_authentication(exchange: Exchange) -> None:
    trader, authed = await _setup(exchange)
    await authed.aclose()
    async with httpx.AsyncClient(base_url=exchange.url) as http:
        for headers in ({}, {"Authorization": "Bearer nope"},
                        {"Authorization": f"Bearer {trader.api_key}x"},
                        {"Authorization": f"Basic {trader.api_key}"},
                        {"Authorization": "Bearer " + trader.api_key.split(".")[0] + ".x"}):
            response = await http.post("/v1/orders", json=ORDER, headers=headers)
            _envelope(response, 401, "unauthorized")
            _envelope(await http.get("/v1/account", headers=headers), 401, "unauthorized")


INVALID = [
    ({"price": None}, "$"),  # a limit needs a price
    ({"type": "stop_limit"}, "$"),  # and a stop price
    ({"quantity": None}, "$"),
    ({"time_in_force": "gtd"}, "$"),  # needs expire_time
    ({"surprise": 1}, "$.surprise"),
    ({"side": "long"}, "$.side"),
    ({"quantity": "-1"}, "$.quantity"),
    ({"quantity": "0"}, "$.quantity"),
    ({"quantity": "NaN"}, "$.quantity"),
    ({"quantity": "Infinity"}, "$.quantity"),
    ({"quantity": "1e400"}, "$.quantity"),
    ({"quantity": True}, "$.quantity"),
    ({"quantity": [1]}, "$.quantity"),
    ({"price": 10**30}, "$.price"),
    ({"client_order_id": "has space"}, "$.client_order_id"),
    ({"client_order_id": "x" * 37}, "$.client_order_id"),
    ({"post_only": "yes"}, "$.post_only"),
    ({"expire_time": "tomorrow", "time_in_force": "gtd"}, "$.expire_time"),
    ({"time_in_force": "gtd", "expire_time": "9999-12-31T23:59:59-05:00"}, "$.expire_time"),
    ({"time_in_force": "gtd", "expire_time": "1969-12-31T23:59:59Z"}, "$.expire_time"),
]


async def test_invalid_bodies_are_400(exchange: Exchange) -> None:
    _, http = await _setup(exchange)
    async with http:
        for change, path in INVALID:
            body = {**ORDER, **change}
            body = {name: value for name, value in body.items() if value is not None}
            response = await http.post("/v1/orders", json=body)
            error = _envelope(response, 400, "invalid_request")
            assert any(detail["path"] == path for detail in error["details"]), (change, error)


async def test_json_numbers_are_exact(exchange: Exchange) -> None:
    _, http = await _setup(exchange)
    async with http:
        # 0.1 + float noise would be off the tick; parsed exactly it is the tick itself.
        raw = b'{"symbol":"BTC-USD","side":"buy","type":"limit","quantity":0.001,"price":100.01}'
        response = await http.post("/v1/orders", content=raw)
        assert response.status_code == 201, response.text
        assert response.json()["price"] == "100.01"
        raw = raw.replace(b"100.01", b"100.0100000000000000001")
        _envelope(await http.post("/v1/orders", content=raw), 422, "price_not_on_tick")


async def test_business_rejections_are_422_and_change_nothing(exchange: Exchange) -> None:
    trader, http = await _setup(exchange)
    await http.aclose()
    cases = [
        ({"symbol": "NOPE-USD"}, "unknown_symbol"),
        ({"price": "100.001"}, "price_not_on_tick"),
        ({"quantity": "0.0001"}, "quantity_not_on_lot"),
        ({"quantity": "50"}, "insufficient_funds"),
        ({"type": "market", "price": None, "post_only": True}, "invalid_order"),
    ]
    for change, code in cases:
        body = {name: value for name, value in {**ORDER, **change}.items() if value is not None}
        with pytest.raises(ExchangeError) as caught:
            await trader.client.request("POST", "/v1/orders", json=body)
        assert (caught.value.status, caught.value.code) == (422, code)
    assert await trader.client.orders() == []
    account = await trader.client.account()
    assert {b["asset"]: b["held"] for b in account["balances"]} == {"BTC": "0", "USD": "0"}
    await exchange.admin.set_instrument_status("BTC-USD", "halted")
    with pytest.raises(ExchangeError) as caught:
        await trader.client.place_order("BTC-USD", "buy", quantity="1", price="100")
    assert caught.value.code == "instrument_halted"


def _junk(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["int", "float", "str", "bool", "null", "bignum", "longstr", "list", "dict"]
    kind = rng.choice(kinds if depth < 3 else kinds[:7])
    if kind == "int":
        return rng.randint(-10**6, 10**6)
    if kind == "float":
        return rng.uniform(-1e6, 1e6)
    if kind == "str":
        return rng.choice(["", "buy", "limit", "BTC-USD", "1.5", "-0", "1e99999", "é\u0000"])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "bignum":
        return int("9" * rng.randint(20, 400))
    if kind == "longstr":
        return "x" * 10_000
    if kind == "list":
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    fields = [*ORDER, "stop_price", "expire_time", "time_in_force", "post_only",
                            "client_order_id", "quote_quantity", "take_profit_price", "x"]
    return {rng.choice(fields): _junk(rng, depth + 1) for _ in range(rng.randint(0, 6))}


async def test_junk_never_gives_5xx(exchange: Exchange) -> None:
    trader, http = await _setup(exchange)
    rng = random.Random(7)
    bodies: list[bytes] = [
        b"", b"null", b"NaN", b'{"quantity": NaN}', b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000, b"\xff\xfe", b'{"symbol": "\xed\xa0\x80"}',
        json.dumps({**ORDER, "quantity": "1" * 10_000}).encode(),
        json.dumps({**ORDER, "price": 1e308}).encode(),
        json.dumps({**ORDER, "price": "0." + "0" * 60 + "1"}).encode(),
        json.dumps({**ORDER, "expire_time": "9999-12-31T23:59:59Z",
                    "time_in_force": "gtd"}).encode(),
        json.dumps({**ORDER, "expire_time": "0001-01-01T00:00:00+14:00",
                    "time_in_force": "gtd"}).encode(),
    ]
    for _ in range(150):
        body = _junk(rng)
        if rng.random() < 0.6:
            body = {**ORDER, **(body if isinstance(body, dict) else {"quantity": body})}
        bodies.append(json.dumps(body).encode())
    targets = [("POST", "/v1/orders"), ("PATCH", "/v1/orders/1"),
               ("POST", "/v1/admin/accounts"), ("POST", "/v1/admin/instruments"),
               ("POST", "/v1/admin/accounts/1/deposits"),
               ("PATCH", "/v1/admin/instruments/BTC-USD")]
    await trader.client.place_order("BTC-USD", "buy", quantity="0.001", price="1")
    admin_headers = {"Authorization": "Bearer test-admin-token"}
    async with http:
        for index, body in enumerate(bodies):
            method, path = targets[index % len(targets)]
            headers = admin_headers if "admin" in path else {}
            response = await http.request(method, path, content=body, headers=headers)
            assert 400 <= response.status_code < 500 or response.status_code in (200, 201), (
                body[:200], response.status_code, response.text[:300],
            )
            assert "error" in response.json() or response.status_code < 300
        for path in ("/v1/orders?limit=99999999999999999999999", "/v1/orders?before=-1",
                     "/v1/fills?order_id=%00", "/v1/instruments/%ff/book",
                     "/v1/instruments/BTC-USD/candles?start=garbage",
                     "/v1/instruments/BTC-USD/candles?interval=7m",
                     "/v1/orders/99999999999999999999999999",
                     "/v1/orders?start_time=junk", "/v1/fills?after=-1",
                     "/v1/orders?start_time=2026-01-02T00:00:00Z&end_time=2026-01-01T00:00:00Z"):
            response = await http.get(path)
            assert 400 <= response.status_code < 500, (path, response.text)
        # Strings no order or instrument has, NUL among them, never reach the database.
        for path in ("/v1/orders?symbol=%00", "/v1/fills?symbol=%00",
                     "/v1/orders?status=closed&symbol=a%00b", "/v1/orders/by-client-id/a%00b",
                     "/v1/instruments/BTC-USD/trades?end_time=1970-01-02T00:00:00Z"):
            response = await http.get(path)
            assert response.status_code in (200, 404), (path, response.text)


async def test_several_authorization_headers(exchange: Exchange) -> None:
    """Neither the first nor the last counts: a 400 on the fast path, on every Quart route
    (public ones too), whichever header holds the right key."""
    trader, authed = await _setup(exchange)
    await authed.aclose()
    good, bad = f"Bearer {trader.api_key}", "Bearer nope"
    admin = "Bearer test-admin-token"
    routes = [("POST", "/v1/orders", ORDER), ("DELETE", "/v1/orders/1", None),
              ("PATCH", "/v1/orders/1", {"quantity": "2"}), ("GET", "/v1/account", None),
              ("GET", "/v1/orders", None), ("POST", "/v1/orders/batch", {"orders": [ORDER]}),
              ("POST", "/v1/admin/accounts", {"name": "x"}), ("GET", "/v1/instruments", None)]
    async with httpx.AsyncClient(base_url=exchange.url) as http:
        for method, path, body in routes:
            key = admin if "/admin/" in path else good
            for pair in ([key, bad], [bad, key], [key, key]):
                headers = [("Authorization", value) for value in pair]
                response = await http.request(method, path, json=body, headers=headers)
                error = _envelope(response, 400, "invalid_request")
                assert "Authorization" in error["message"], (method, path)
            # and one header still works
            response = await http.request(method, path, json=body,
                                          headers={"Authorization": key})
            assert response.status_code < 500
            assert response.status_code not in (400, 401), (method, path, response.text)
