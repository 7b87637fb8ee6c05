"""client_order_id: the same request answers the original order; a different one is 409."""

from __future__ import annotations

import pytest
import trio

from exchange.client import ExchangeError

from .support import Exchange


async def test_same_body_returns_the_original(exchange: Exchange) -> None:
    await exchange.instrument()
    trader = await exchange.trader("t", USD="10000")
    body = {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "1",
            "price": "100", "client_order_id": "my-order_1"}
    headers = {"Authorization": f"Bearer {trader.api_key}"}
    first = await exchange.admin.http.post("/v1/orders", json=body, headers=headers)
    assert first.status_code == 201
    again = await exchange.admin.http.post("/v1/orders", json=body, headers=headers)
    assert again.status_code == 200
    assert again.json()["order_id"] == first.json()["order_id"]
    # equal after parsing: "100.00" is the same price
    same = await exchange.admin.http.post("/v1/orders", json={**body, "price": "100.00"},
                                          headers=headers)
    assert same.status_code == 200
    different = await exchange.admin.http.post("/v1/orders", json={**body, "price": "101"},
                                               headers=headers)
    assert different.status_code == 409
    assert different.json()["error"]["code"] == "duplicate_client_order_id"
    assert len(await trader.client.orders()) == 1
    # the id stays taken after the order is finished
    await trader.client.cancel_order(first.json()["order_id"])
    with pytest.raises(ExchangeError) as caught:
        await trader.client.place_order("BTC-USD", "sell", quantity="1", price="100",
                                        client_order_id="my-order_1")
    assert caught.value.code == "duplicate_client_order_id"
    # another account may use the same id
    other = await exchange.trader("o", USD="10000")
    placed = await other.client.place_order("BTC-USD", "buy", quantity="1", price="100",
                                            client_order_id="my-order_1")
    assert placed["account_id"] == other.account_id


async def test_concurrent_duplicates_place_one_order(exchange: Exchange) -> None:
    await exchange.instrument()
    trader = await exchange.trader("t", USD="100000")
    results: list[dict] = []  # type: ignore[type-arg]

    async def place() -> None:
        results.append(await trader.client.place_order(
            "BTC-USD", "buy", quantity="1", price="100", client_order_id="once"))

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(place)
    assert len({r["order_id"] for r in results}) == 1
    assert len(await trader.client.orders()) == 1


async def test_rejected_placement_can_be_retried(exchange: Exchange) -> None:
    await exchange.instrument()
    trader = await exchange.trader("t")
    with pytest.raises(ExchangeError):
        await trader.client.place_order("BTC-USD", "buy", quantity="1", price="100",
                                        client_order_id="retry-me")
    await exchange.admin.deposit(trader.account_id, "USD", "1000")
    order = await trader.client.place_order("BTC-USD", "buy", quantity="1", price="100",
                                            client_order_id="retry-me")
    assert order["status"] == "new"
