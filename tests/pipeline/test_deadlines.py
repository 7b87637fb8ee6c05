"""Deterministic outcomes under time-outs: a request whose deadline passes before the engine
takes it is withdrawn and never executes (503 `unavailable`, safe to retry); one the engine
executed but the journal has not made durable is 504 `outcome_unknown`, and becomes durable
when the journal catches up. The same for WebSocket requests, each of which has a deadline."""

from __future__ import annotations

from typing import Any

import httpx
import trio

from exchange.engine.events import OrderAccepted, OrderCancelled
from pipeline.journals import GatedJournal
from web.support import Exchange, Trader, start_exchange
from web.wsclient import connect

TIMEOUT = 0.5


ORDER = {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.001"}


async def _started(nursery: trio.Nursery) -> tuple[Exchange, GatedJournal, Trader]:
    journal = GatedJournal()
    journal.open()
    running = await start_exchange(nursery, journal=journal, request_timeout=TIMEOUT,
                                   batch_limit=1)
    await running.instrument()
    trader = await running.trader("t", USD="1000000")
    journal.close_gate()
    return running, journal, trader


def _placed_prices(journal: GatedJournal) -> list[str]:
    return sorted(str(event.order.price) for event in journal.events()
                  if isinstance(event, OrderAccepted))


async def test_rest_withdrawn_requests_never_execute_and_taken_ones_become_durable(
        nursery: trio.Nursery) -> None:
    running, journal, trader = await _started(nursery)
    answers: dict[int, tuple[int, str]] = {}

    async def place(http: httpx.AsyncClient, price: int) -> None:
        response = await http.post("/v1/orders", json={**ORDER, "price": str(price)})
        answers[price] = (response.status_code, response.json()["error"]["code"])

    headers = {"Authorization": f"Bearer {trader.api_key}"}
    async with httpx.AsyncClient(base_url=running.url, headers=headers, timeout=10) as http:
        with trio.fail_after(10):
            async with trio.open_nursery() as clients:
                # One command a batch: the first batch waits at the gate, the second in the
                # journal's queue, the third in the engine task's hands; the rest stay in
                # the inbox.
                for price in range(100, 106):
                    clients.start_soon(place, http, price)
                    await trio.sleep(0.02)
        started = trio.current_time()
        assert sorted(answers) == list(range(100, 106))
        unknown = sorted(p for p, answer in answers.items()
                         if answer == (504, "outcome_unknown"))
        withdrawn = sorted(p for p, answer in answers.items()
                           if answer == (503, "unavailable"))
        assert unknown == [100, 101, 102], answers
        assert withdrawn == [103, 104, 105], answers
        journal.open()
        for _ in range(100):  # the executed ones are made durable, and only they
            if len(await trader.client.orders()) >= 3:
                break
            await trio.sleep(0.05)
        await trio.sleep(0.3)
        assert trio.current_time() - started < 5
        orders = await trader.client.orders()
        assert sorted(int(float(o["price"])) for o in orders) == unknown
        assert _placed_prices(journal) == [str(p * 100) for p in unknown]
        metrics = (await http.get("/metrics")).text
        assert 'exchange_request_deadlines_total{outcome="unknown"} 3.0' in metrics
        assert 'exchange_request_deadlines_total{outcome="withdrawn"} 3.0' in metrics
    await running.admin.aclose()
    running.server.shutdown()


async def test_a_withdrawn_cancel_leaves_the_order_open(nursery: trio.Nursery) -> None:
    running, journal, trader = await _started(nursery)
    journal.open()
    order = await trader.client.place_order("BTC-USD", "buy", quantity="0.001", price="100")
    journal.close_gate()
    headers = {"Authorization": f"Bearer {trader.api_key}"}
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=running.url, headers=headers, timeout=10) as http:

        async def place(price: int) -> None:
            await http.post("/v1/orders", json={**ORDER, "price": str(price)})

        async def cancel() -> None:
            response = await http.delete(f"/v1/orders/{order['order_id']}")
            statuses.append(response.status_code)

        with trio.fail_after(10):
            async with trio.open_nursery() as clients:
                for price in (101, 102, 103):  # fill the gate, the queue, the engine
                    clients.start_soon(place, price)
                    await trio.sleep(0.02)
                clients.start_soon(cancel)
    assert statuses == [503]
    journal.open()
    await trio.sleep(0.3)
    assert not any(isinstance(event, OrderCancelled) for event in journal.events())
    assert (await trader.client.order(order["order_id"]))["status"] == "new"
    await running.admin.aclose()
    running.server.shutdown()


async def test_websocket_requests_without_client_order_id_have_a_deadline(
        nursery: trio.Nursery) -> None:
    running, journal, trader = await _started(nursery)
    with trio.fail_after(10):
        async with connect(running.url, api_key=trader.api_key, queue=64) as ws:
            for index, price in enumerate(range(100, 106)):
                await ws.send({"op": "place", "id": f"p{index}",
                               "order": {**ORDER, "price": str(price)}})
                await trio.sleep(0.02)
            sent = trio.current_time()
            replies: dict[int, Any] = {}
            while len(replies) < 6:
                message = await ws.next(within=5)
                if str(message.get("id")).startswith("p"):
                    replies[message["id"]] = message
            # answered at the deadline, not when the journal comes back
            assert trio.current_time() - sent < TIMEOUT + 1.0
            codes = [replies[f"p{i}"]["error"]["code"] for i in range(6)]
            assert codes == ["outcome_unknown"] * 3 + ["unavailable"] * 3, replies
            journal.open()
            # the connection goes on, and the executed requests are not answered twice
            pong = await ws.call("ping")
            assert pong["type"] == "pong"
            await trio.sleep(0.3)
            assert not [m for m in ws.pending if "id" in m and m["id"] in replies]
    assert len(_placed_prices(journal)) == 3
    await running.admin.aclose()
    running.server.shutdown()
