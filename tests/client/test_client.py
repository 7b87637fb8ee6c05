"""The Python client against a real server: results as JSON objects, errors as one type."""

from __future__ import annotations

import pytest
import trio

from exchange.client import ExchangeClient, ExchangeError
from web.support import ADMIN_TOKEN, start_exchange


async def test_client_round_trip(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    async with ExchangeClient(running.url, admin_token=ADMIN_TOKEN) as admin:
        assert await admin.healthz() == {"status": "ok"}
        assert await admin.readyz() == {"status": "ready"}
        await admin.create_instrument("BTC-USD", "BTC", "USD", tick_size="0.01",
                                      lot_size="0.001")
        created = await admin.create_account("client")
        balances = await admin.deposit(created["account_id"], "USD", "500", deposit_id="x")
        assert balances["balances"][0]["total"] == "500"
        trader = admin.with_key(created["api_key"])
        order = await trader.place_order("BTC-USD", "buy", quantity="1", price="100",
                                         client_order_id="c-1")
        assert (await trader.order_by_client_id("c-1"))["order_id"] == order["order_id"]
        assert [o["order_id"] for o in await trader.orders(status="open")] == [
            order["order_id"]
        ]
        with pytest.raises(ExchangeError) as caught:
            await trader.place_order("BTC-USD", "buy", quantity="10", price="100")
        error = caught.value
        assert (error.status, error.code) == (422, "insufficient_funds")
        assert error.message
        with pytest.raises(ExchangeError) as caught:
            await ExchangeClient(running.url, http=admin.http).account()
        assert caught.value.code == "unauthorized"
        assert await trader.cancel_all() == [order["order_id"]]
        assert await trader.positions() == []
        assert await trader.fills() == []
    running.server.shutdown()
