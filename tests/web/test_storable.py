"""Nothing unstorable reaches the engine: edge values in every field of every route with a
body go through to a PostgreSQL commit, and none of them answers 5xx or wedges the writer.

A value the engine accepts but the database cannot store (a NUL in a name, an integer past
a column's range) used to stop the writer for good: every later write answered 503. So
after each example the writer must still commit (a deposit with a fresh id is 201).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .support import (
    ADMIN_TOKEN,
    Exchange,
    Templates,
    database_url_for,
    drop_database,
    threaded_exchange,
)
from .wsclient import connect

DECIMALS = [
    "0", "-1", "-0", "1e20", "1E+20", "99999999999999999999", "999999999999999999999",
    "99999999999999999999.999999999999", "1e16", "12345678901234567.89", "1e-30", "1e-31",
    "0.000000000001", "0.0000000000001", "123456789012345678901234567890", "1e400", "NaN",
    "Infinity", "-Infinity", "1" * 64, "1" * 65, "0." + "0" * 29 + "1", "1.5", "0.01",
    "100", " 1", "1_000", "0x10", "",
]
NUMBERS: list[Any] = [0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**20, 10**21, 10**30,
                      1.5, 1e20, 1e-30, True, None]
TEXTS = [
    "", "a", "a\x00b", "\x00", "\x01", "tab\there", "\x7f", "é" * 200, "é" * 201, "x" * 200,
    "x" * 201, "x" * 5000, "😀" * 50, "\u202e" + "rtl", "'; DROP TABLE accounts; --",
    "BTC-USD", "BTC-USD\x00", "A" * 16, "A" * 17, "USD", "usd", "\ufeff", "\ud7ff",
]
IDS: list[Any] = [0, -1, 1, 2**62, 2**63, 2**64, "1", "x", None]

decimal_values = st.sampled_from(DECIMALS) | st.sampled_from(NUMBERS) | st.decimals(
    allow_nan=False, allow_infinity=False).map(str)
text_values = st.sampled_from(TEXTS) | st.text(max_size=40)
any_value = decimal_values | text_values | st.sampled_from(IDS) | st.booleans() | st.lists(
    st.integers(), max_size=2)

# Each route: method, path template, a valid body, and the strategy for each of its fields.
FIELDS_ORDER = {
    "symbol": text_values, "side": text_values, "type": text_values,
    "quantity": decimal_values, "quote_quantity": decimal_values, "price": decimal_values,
    "stop_price": decimal_values, "time_in_force": text_values, "expire_time": text_values,
    "post_only": any_value, "self_trade_prevention": text_values,
    "client_order_id": text_values, "take_profit_price": decimal_values,
    "stop_loss_price": decimal_values,
}
ROUTES: dict[str, tuple[str, str, dict[str, Any], dict[str, st.SearchStrategy[Any]]]] = {
    "account": ("POST", "/v1/admin/accounts", {"name": "a"}, {"name": text_values}),
    "deposit": ("POST", "/v1/admin/accounts/{account}/deposits",
                {"asset": "USD", "amount": "1"},
                {"asset": text_values, "amount": decimal_values, "deposit_id": text_values}),
    "instrument": ("POST", "/v1/admin/instruments",
                   {"symbol": "ETH-USD", "base": "ETH", "quote": "USD", "tick_size": "0.01",
                    "lot_size": "0.001"},
                   {"symbol": text_values, "base": text_values, "quote": text_values,
                    "tick_size": decimal_values, "lot_size": decimal_values,
                    "min_quantity": decimal_values, "maker_fee_rate": decimal_values,
                    "taker_fee_rate": decimal_values, "min_notional": decimal_values,
                    "max_quantity": decimal_values}),
    "status": ("PATCH", "/v1/admin/instruments/BTC-USD", {"status": "trading"},
               {"status": text_values}),
    "place": ("POST", "/v1/orders",
              {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.001",
               "price": "100"}, FIELDS_ORDER),
    "amend": ("PATCH", "/v1/orders/{order}", {"quantity": "0.001"},
              {"quantity": decimal_values, "price": decimal_values}),
}

_fresh = itertools.count()
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(ROUTES)))
    method, path, valid, fields = ROUTES[name]
    body = dict(valid)
    for field in draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3,
                               unique=True)):
        if draw(st.booleans()) or field not in body:
            body[field] = draw(fields[field])
        else:
            del body[field]
    return method, path, body


@pytest.fixture
def pg_url(tmp_path: Path, templates: Templates) -> Iterator[str]:
    url = trio.run(database_url_for, "postgresql", tmp_path, templates)
    yield url
    trio.run(drop_database, url)


def _writer_commits(http: httpx.Client, account: int) -> None:
    ready = http.get("/readyz")
    assert ready.status_code == 200, ready.text
    response = http.post(
        f"/v1/admin/accounts/{account}/deposits",
        json={"asset": "USD", "amount": "1", "deposit_id": f"check-{next(_fresh)}"},
        headers=ADMIN)
    assert response.status_code == 201, response.text


def test_edge_values_never_answer_5xx_nor_wedge_the_writer(pg_url: str) -> None:
    with threaded_exchange(database_url=pg_url) as url, \
            httpx.Client(base_url=url, timeout=10) as http:
        answer = http.post("/v1/admin/instruments", headers=ADMIN, json={
            "symbol": "BTC-USD", "base": "BTC", "quote": "USD", "tick_size": "0.01",
            "lot_size": "0.001"})
        assert answer.status_code == 201, answer.text
        created = http.post("/v1/admin/accounts", headers=ADMIN, json={"name": "t"}).json()
        account = created["account_id"]
        for asset, amount in (("USD", "1000000"), ("BTC", "1000")):
            http.post(f"/v1/admin/accounts/{account}/deposits", headers=ADMIN,
                      json={"asset": asset, "amount": amount}).raise_for_status()
        trader = {"Authorization": f"Bearer {created['api_key']}"}
        resting = http.post("/v1/orders", headers=trader, json={
            "symbol": "BTC-USD", "side": "sell", "type": "limit", "quantity": "1",
            "price": "1000"}).json()

        @settings(max_examples=200, suppress_health_check=list(HealthCheck), deadline=None)
        @given(requests())
        def check(request: tuple[str, str, dict[str, Any]]) -> None:
            method, path, body = request
            headers = ADMIN if path.startswith("/v1/admin") else trader
            target = path.format(account=account, order=resting["order_id"])
            response = http.request(method, target, json=body, headers=headers)
            assert response.status_code < 500, (method, target, body, response.text)
            assert response.headers["content-type"].startswith("application/json")
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}
            _writer_commits(http, account)

        check()


@pytest.mark.parametrize("exchange", ["postgresql"], indirect=True)
async def test_edge_values_over_the_websocket_keep_the_connection(exchange: Exchange) -> None:
    await exchange.instrument()
    trader = await exchange.trader("t", USD="1000000", BTC="1000")
    order = {"symbol": "BTC-USD", "side": "buy", "type": "market"}
    async with connect(exchange.url, api_key=trader.api_key, queue=64) as ws, \
            httpx.AsyncClient(base_url=exchange.url, timeout=10) as http:
        for value in DECIMALS + NUMBERS:
            reply = await ws.call("place", order={**order, "quote_quantity": value})
            assert reply["type"] in ("error", "result"), reply
            if reply["type"] == "error":
                assert reply["error"]["code"] != "internal_error", reply
        assert (await ws.call("ping"))["type"] == "pong"
        ready = await http.get("/readyz")
        assert ready.status_code == 200, ready.text
