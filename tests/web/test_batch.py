"""`POST /v1/orders/batch`: each order answered on its own, the valid ones in one engine
batch and one commit, idempotent per client_order_id."""

from __future__ import annotations

from typing import Any

import trio

from exchange.engine.events import OrderAccepted
from exchange.pipeline.journal import MemoryJournal

from .support import Exchange, start_exchange

LIMIT = {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.01"}


def _order(price: str, **extra: Any) -> dict[str, Any]:
    return {**LIMIT, "price": price, **extra}


async def _batch(exchange: Exchange, key: str, orders: list[Any]) -> tuple[int, Any]:
    response = await exchange.admin.http.post(
        "/v1/orders/batch", json={"orders": orders}, headers={"Authorization": f"Bearer {key}"})
    return response.status_code, response.json()


async def test_mixed_orders_each_answered_and_committed_together(nursery: trio.Nursery
                                                                 ) -> None:
    journal = MemoryJournal()
    running = await start_exchange(nursery, journal=journal)
    await running.instrument()
    trader = await running.trader("t", USD="100000")
    orders = [
        _order("100"),
        _order("101", side="up"),  # invalid: 400
        _order("102", client_order_id="b-1"),
        {**LIMIT, "symbol": "NOPE-USD", "price": "1"},  # unknown symbol: 422
        _order("103.001"),  # off the tick: 422
        "not an object",  # 400
        _order("104", quantity="1000000"),  # insufficient funds: 422 from the engine
        _order("105"),
    ]
    status, answer = await _batch(running, trader.api_key, orders)
    assert status == 200
    results = answer["results"]
    assert [r["status"] for r in results] == [201, 400, 201, 422, 422, 400, 422, 201]
    assert results[1]["error"]["code"] == "invalid_request"
    assert results[1]["error"]["details"][0]["path"] == "$.side"
    assert results[3]["error"]["code"] == "unknown_symbol"
    assert results[4]["error"]["code"] == "price_not_on_tick"
    assert results[6]["error"]["code"] == "insufficient_funds"
    placed = [results[i]["order"] for i in (0, 2, 7)]
    assert [o["price"] for o in placed] == ["100", "102", "105"]
    assert placed[1]["client_order_id"] == "b-1"
    # Durable, and in one engine batch (one commit): the four valid ones together.
    batches = [
        [e.order_id for e in batch.events if type(e) is OrderAccepted]
        for batch in journal.batches
    ]
    together = [ids for ids in batches if set(ids) & {o["order_id"] for o in placed}]
    assert len(together) == 1
    assert {o["order_id"] for o in placed} <= set(together[0])
    listed = await trader.client.orders(status="open")
    assert sorted(o["order_id"] for o in listed) == sorted(o["order_id"] for o in placed)
    await running.admin.aclose()
    running.server.shutdown()


async def test_batch_is_idempotent_per_client_order_id(exchange: Exchange) -> None:
    await exchange.instrument()
    trader = await exchange.trader("t", USD="100000")
    first = [_order("100", client_order_id="x-1"), _order("101", client_order_id="x-2")]
    _, answer = await _batch(exchange, trader.api_key, first)
    assert [r["status"] for r in answer["results"]] == [201, 201]
    ids = [r["order"]["order_id"] for r in answer["results"]]
    # Again, with one changed and one new, and a repeat inside the batch itself.
    again = [first[0], _order("109", client_order_id="x-2"),
             _order("102", client_order_id="x-3"), _order("102", client_order_id="x-3")]
    _status, answer = await _batch(exchange, trader.api_key, again)
    results = answer["results"]
    assert [r["status"] for r in results] == [200, 409, 201, 200]
    assert results[0]["order"]["order_id"] == ids[0]
    assert results[1]["error"]["code"] == "duplicate_client_order_id"
    assert results[3]["order"]["order_id"] == results[2]["order"]["order_id"]
    assert len(await trader.client.orders()) == 3


async def test_batch_body_errors(exchange: Exchange) -> None:
    await exchange.instrument()
    trader = await exchange.trader("t", USD="100000")
    for body in ([], [_order("100")] * 21):
        status, answer = await _batch(exchange, trader.api_key, body)
        assert status == 400
        assert answer["error"]["code"] == "invalid_request"
    response = await exchange.admin.http.post("/v1/orders/batch",
                                              json={"orders": [_order("100")]})
    assert response.status_code == 401
    response = await exchange.admin.http.post(
        "/v1/orders/batch", content=b'{"orders": [', headers={
            "Authorization": f"Bearer {trader.api_key}"})
    assert response.status_code == 400
    assert await trader.client.orders() == []
