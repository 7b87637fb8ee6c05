"""Admin routes: the token, accounts, deposits and withdrawals, instruments, halts."""

from __future__ import annotations

import httpx
import pytest
import trio

from exchange.client import ExchangeClient, ExchangeError

from .support import Exchange, start_exchange


async def test_admin_needs_the_token(exchange: Exchange) -> None:
    trader = await exchange.trader("t")
    async with httpx.AsyncClient(base_url=exchange.url) as http:
        for headers, status in (({}, 401), ({"Authorization": "Bearer wrong-token"}, 401),
                                ({"Authorization": f"Bearer {trader.api_key}"}, 403)):
            response = await http.post("/v1/admin/accounts", json={"name": "x"},
                                       headers=headers)
            assert response.status_code == status
            assert response.json()["error"]["code"] in ("unauthorized", "forbidden")


async def test_admin_routes_are_403_without_a_configured_token(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, admin_token=None)
    async with ExchangeClient(running.url, admin_token="anything-at-all") as client:
        with pytest.raises(ExchangeError) as caught:
            await client.create_account("x")
        assert (caught.value.status, caught.value.code) == (403, "forbidden")
    running.server.shutdown()


async def test_accounts_and_deposits(exchange: Exchange) -> None:
    created = await exchange.admin.create_account("carol")
    assert created["name"] == "carol"
    key_id, _, secret = created["api_key"].partition(".")
    assert key_id
    assert len(secret) >= 32
    account_id = created["account_id"]
    first = await exchange.admin.request(
        "POST", f"/v1/admin/accounts/{account_id}/deposits", auth="admin",
        json={"asset": "USD", "amount": "100.5", "deposit_id": "d-1"},
    )
    assert first["balances"] == [{"asset": "USD", "total": "100.5", "available": "100.5",
                                  "held": "0"}]
    response = await exchange.admin.http.post(
        f"/v1/admin/accounts/{account_id}/deposits",
        json={"asset": "USD", "amount": "100.5", "deposit_id": "d-1"},
        headers={"Authorization": "Bearer test-admin-token"},
    )
    assert response.status_code == 200  # the retry changes nothing
    assert response.json()["balances"][0]["total"] == "100.5"
    withdrawn = await exchange.admin.deposit(account_id, "USD", "-0.5")
    assert withdrawn["balances"][0]["total"] == "100"
    with pytest.raises(ExchangeError) as caught:
        await exchange.admin.deposit(account_id, "USD", "-100.01")
    assert (caught.value.status, caught.value.code) == (422, "insufficient_funds")
    for amount in ("0", "0.0000000000001"):
        with pytest.raises(ExchangeError) as caught:
            await exchange.admin.deposit(account_id, "USD", amount)
        assert caught.value.status == 400
    with pytest.raises(ExchangeError) as caught:
        await exchange.admin.deposit(999, "USD", "1")
    assert caught.value.status == 404


async def test_instruments_admin(exchange: Exchange) -> None:
    await exchange.instrument()
    with pytest.raises(ExchangeError) as caught:
        await exchange.instrument()
    assert (caught.value.status, caught.value.code) == (409, "conflict")
    for bad in ({"taker_fee_rate": "0.1"}, {"maker_fee_rate": "-0.001"},
                {"min_quantity": "0.0015"}):
        with pytest.raises(ExchangeError) as caught:
            await exchange.admin.create_instrument("ETH-USD", "ETH", "USD", tick_size="0.01",
                                                   lot_size="0.001", **bad)
        assert caught.value.status == 400, bad
    halted = await exchange.admin.set_instrument_status("BTC-USD", "halted")
    assert halted["status"] == "halted"
    resumed = await exchange.admin.set_instrument_status("BTC-USD", "trading")
    assert resumed["status"] == "trading"
    with pytest.raises(ExchangeError) as caught:
        await exchange.admin.set_instrument_status("NOPE-USD", "halted")
    assert caught.value.status == 404


async def test_unstorable_values_are_refused_at_the_edge(exchange: Exchange) -> None:
    """A NUL in a name was accepted, then wedged PostgreSQL's writer; sizes past what the
    columns hold raised DivisionImpossible (500) or overflowed a BIGINT."""
    for name in ("a\x00b", "\x01", "x" * 201, ""):
        with pytest.raises(ExchangeError) as caught:
            await exchange.admin.create_account(name)
        assert (caught.value.status, caught.value.code) == (400, "invalid_request"), name
    assert (await exchange.admin.create_account("Zoë 😀"))["name"] == "Zoë 😀"
    for bad in ({"tick_size": "1e20"}, {"lot_size": "1e20"}, {"tick_size": "1e-19"},
                {"tick_size": "1.23456789012345"}, {"min_quantity": "1e16"},
                {"lot_size": "0.000000000001", "min_quantity": "99999999999999999999"}):
        fields = {"tick_size": "0.01", "lot_size": "0.001", **bad}
        with pytest.raises(ExchangeError) as caught:
            await exchange.admin.create_instrument("ETH-USD", "ETH", "USD", **fields)
        assert caught.value.status == 400, bad
    account = (await exchange.admin.create_account("big"))["account_id"]
    for amount in ("1e20", "99999999999999999999.999999999999", "1e16"):
        with pytest.raises(ExchangeError) as caught:
            await exchange.admin.deposit(account, "USD", amount)
        assert caught.value.status == 400, amount
    await exchange.admin.deposit(account, "USD", "999999999999999")  # 10^15 - 1: fits
    created = await exchange.admin.create_instrument(
        "ETH-USD", "ETH", "USD", tick_size="0.000000000000000001", lot_size="1000000")
    assert created["tick_size"] == "0.000000000000000001"


async def test_large_quote_quantity_is_refused_not_500(exchange: Exchange) -> None:
    await exchange.instrument()
    trader = await exchange.trader("t", USD="1000")
    for value in ("1e16", "1e20", "99999999999999999999.999999999999"):
        with pytest.raises(ExchangeError) as caught:
            await trader.client.place_order("BTC-USD", "buy", type="market",
                                            quote_quantity=value)
        assert caught.value.status == 422, value
