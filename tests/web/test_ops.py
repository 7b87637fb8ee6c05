"""Health, readiness, metrics, the OpenAPI document and its page."""

from __future__ import annotations

import httpx
import trio

from exchange.pipeline.journal import MemoryJournal

from .support import Exchange, start_exchange


async def test_operations(exchange: Exchange) -> None:
    await exchange.instrument()
    trader = await exchange.trader("t", USD="1000")
    await trader.client.place_order("BTC-USD", "buy", quantity="1", price="100")
    async with httpx.AsyncClient(base_url=exchange.url) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200
        metrics = (await http.get("/metrics")).text
        for name in ("exchange_orders_total 1.0", "exchange_inbox_depth",
                     "exchange_batch_size_bucket", "exchange_commit_seconds_bucket",
                     "exchange_request_seconds_bucket", "exchange_trades_total"):
            assert name in metrics, name
        spec = (await http.get("/openapi.json")).json()
        assert spec["openapi"].startswith("3.")
        assert "post" in spec["paths"]["/v1/orders"]
        body = spec["components"]["schemas"]["PlaceOrderBody"]
        assert body["additionalProperties"] is False
        docs = await http.get("/docs")
        assert docs.status_code == 200
        assert "openapi.json" in docs.text


async def test_readyz_is_503_while_the_database_is_unreachable(nursery: trio.Nursery) -> None:
    class Unreachable(MemoryJournal):
        async def ready(self) -> bool:
            return False

    running = await start_exchange(nursery, journal=Unreachable())
    async with httpx.AsyncClient(base_url=running.url) as http:
        response = await http.get("/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert "retry-after" in response.headers
        assert (await http.get("/healthz")).status_code == 200
    await running.admin.aclose()
    running.server.shutdown()


async def test_readyz_says_when_the_writer_has_stopped(nursery: trio.Nursery) -> None:
    class Stopped(MemoryJournal):
        @property
        def stopped(self) -> bool:
            return True

    running = await start_exchange(nursery, journal=Stopped())
    async with httpx.AsyncClient(base_url=running.url) as http:
        response = await http.get("/readyz")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "unavailable"
        assert "the writer stopped on a permanent write error" in error["message"]
    await running.admin.aclose()
    running.server.shutdown()
