"""Chaos mode on a real server: refusals before the engine, latency, dropped WebSocket
connections, stalled market data, the admin route, seeded reproducibility."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import trio

from exchange.client import levels_of, open_exchange_socket, watch_book
from exchange.engine.events import OrderAccepted
from exchange.pipeline.journal import MemoryJournal

from .support import Exchange, Trader, start_exchange

ORDER = {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.001"}


async def _stop(running: Exchange) -> None:
    for trader in running.traders:
        await trader.client.aclose()
    await running.admin.aclose()
    running.server.shutdown()


def _key(trader: Trader) -> dict[str, str]:
    return {"Authorization": f"Bearer {trader.api_key}"}


async def _place_until_placed(http: httpx.AsyncClient, trader: Trader, body: dict[str, Any]
                              ) -> tuple[httpx.Response, int]:
    """What a careful bot does: on 503, the same request again (same client_order_id)."""
    refused = 0
    while True:
        response = await http.post("/v1/orders", json=body, headers=_key(trader))
        if response.status_code != 503:
            return response, refused
        assert response.headers["x-chaos"] == "reject"
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "unavailable"
        refused += 1


def _injections(metrics: str, kind: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(f'exchange_chaos_injections_total{{kind="{kind}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_retrying_refusals_places_every_order_exactly_once(nursery: trio.Nursery
                                                                 ) -> None:
    journal = MemoryJournal()
    running = await start_exchange(nursery, journal=journal, chaos="reject=0.5,seed=42")
    await running.instrument()
    trader = await running.trader("bot", USD="100000")
    http = running.admin.http
    refusals = 0
    for index in range(40):
        body = {**ORDER, "price": str(100 + index), "client_order_id": f"bot-{index}"}
        response, refused = await _place_until_placed(http, trader, body)
        assert response.status_code in (200, 201), response.text
        refusals += refused
    assert 10 < refusals < 70  # about one in two, over 40 placements and their retries
    accepted = Counter(event.order.client_order_id for event in journal.events()
                       if type(event) is OrderAccepted)
    assert accepted == {f"bot-{index}": 1 for index in range(40)}
    orders = await trader.client.orders(limit=1000)
    assert sorted(o["client_order_id"] for o in orders) == sorted(accepted)
    # Every refusal is counted, and nothing refused reached the engine.
    metrics = (await http.get("/metrics")).text
    assert _injections(metrics, "reject") == refusals
    # On the WebSocket, a refusal is an error reply marked as chaos.
    async with open_exchange_socket(running.url, trader.api_key) as socket:
        await socket.send([{"op": "place", "id": f"p{index}",
                            "order": {**ORDER, "price": "1", "client_order_id": f"ws-{index}"}}
                           for index in range(20)])
        replies = []
        with trio.fail_after(10):
            while len(replies) < 20:
                replies.append(await socket.receive())
    errors = [reply for reply in replies if reply["type"] == "error"]
    assert 0 < len(errors) < 20
    for error in errors:
        assert error["chaos"] == "reject"
        assert error["error"]["code"] == "unavailable"
    placed = [o for o in await trader.client.orders(limit=1000)
              if o["client_order_id"].startswith("ws-")]
    assert len(placed) == 20 - len(errors)
    await _stop(running)


async def _statuses(nursery: trio.Nursery, spec: str) -> list[int]:
    running = await start_exchange(nursery, chaos=spec)
    await running.instrument()
    trader = await running.trader("bot", USD="100000")
    statuses = []
    for index in range(30):
        response = await running.admin.http.post(
            "/v1/orders", json={**ORDER, "price": str(100 + index)}, headers=_key(trader))
        statuses.append(response.status_code)
        if index % 3 == 0:  # reads and other routes in between draw nothing
            await running.admin.http.get("/v1/time")
    await _stop(running)
    return statuses


async def test_the_same_seed_gives_the_same_injections(nursery: trio.Nursery) -> None:
    first = await _statuses(nursery, "reject=0.3,seed=7")
    assert set(first) == {201, 503}
    assert await _statuses(nursery, "reject=0.3,seed=7") == first
    assert await _statuses(nursery, "reject=0.3,seed=8") != first


async def test_latency_before_answers(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, chaos="latency=50ms..120ms,seed=1")
    await running.instrument()
    trader = await running.trader("bot", USD="100000")
    http = running.admin.http
    for path in ("/v1/time", "/v1/instruments", "/v1/orders"):
        started = time.perf_counter()
        response = await http.get(path, headers=_key(trader))
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
        assert response.headers["x-chaos"] == "latency"
        assert elapsed >= 0.05
        assert elapsed < 2.0  # at most 120 ms added; the rest is a loaded machine
    # The fast path too, errors included.
    placed = await http.post("/v1/orders", json={**ORDER, "price": "1"}, headers=_key(trader))
    assert placed.status_code == 201
    assert placed.headers["x-chaos"] == "latency"
    bad = await http.post("/v1/orders", json={**ORDER}, headers=_key(trader))
    assert bad.status_code == 400
    assert bad.headers["x-chaos"] == "latency"
    # The WebSocket's order-entry answers too.
    async with open_exchange_socket(running.url, trader.api_key) as socket:
        started = time.perf_counter()
        await socket.place({**ORDER, "price": "2"})
        assert time.perf_counter() - started >= 0.05
    # The operator's routes are spared.
    setting = await http.get("/v1/admin/chaos",
                             headers={"Authorization": f"Bearer {running.admin.admin_token}"})
    assert "x-chaos" not in setting.headers
    assert "x-chaos" not in (await http.get("/healthz")).headers
    metrics = (await http.get("/metrics")).text
    assert _injections(metrics, "latency") == 6
    await _stop(running)


async def test_admin_route_changes_and_validates(exchange: Exchange) -> None:
    await exchange.instrument()
    trader = await exchange.trader("bot", USD="100000")
    admin = exchange.admin
    off = await admin.request("GET", "/v1/admin/chaos", auth="admin")
    assert off == {"enabled": False, "latency": None, "reject": 0.0, "disconnect": 0.0,
                   "stall": 0.0, "seed": 0, "spec": "seed=0"}
    for body in ({"reject": 2}, {"reject": "often"}, {"latency": "fast"},
                 {"latency": "200ms..20ms"}, {"seed": -1}, {"volume": 1}, {"stall": True},
                 {"latency": "1ms\u0000"}):
        response = await admin.http.patch(
            "/v1/admin/chaos", json=body,
            headers={"Authorization": f"Bearer {admin.admin_token}"})
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid_request"
    unauthorized = await admin.http.patch("/v1/admin/chaos", json={"reject": 1},
                                          headers=_key(trader))
    assert unauthorized.status_code in (401, 403)
    assert (await admin.request("GET", "/v1/admin/chaos", auth="admin")) == off
    on = await admin.request("PATCH", "/v1/admin/chaos", auth="admin",
                             json={"reject": 1, "latency": "5ms..10ms", "seed": 9})
    assert on == {"enabled": True, "latency": "5ms..10ms", "reject": 1.0, "disconnect": 0.0,
                  "stall": 0.0, "seed": 9, "spec": "latency=5ms..10ms,reject=1.0,seed=9"}
    refused = await admin.http.post("/v1/orders", json={**ORDER, "price": "1"},
                                    headers=_key(trader))
    assert refused.status_code == 503
    assert refused.headers.get_list("x-chaos") == ["reject", "latency"]  # both injected
    # Keys left out keep their value; null turns one off.
    again = await admin.request("PATCH", "/v1/admin/chaos", auth="admin",
                                json={"reject": 0, "latency": None})
    assert again["latency"] is None
    assert again["seed"] == 9
    assert not again["enabled"]
    placed = await admin.http.post("/v1/orders", json={**ORDER, "price": "1"},
                                   headers=_key(trader))
    assert placed.status_code == 201
    assert "x-chaos" not in placed.headers
    assert [o["order_id"] for o in await trader.client.orders()] == [placed.json()["order_id"]]


async def _random_orders(running: Exchange, traders: list[Trader], count: int) -> None:
    rng = random.Random(3)
    for _ in range(count):
        trader = rng.choice(traders)
        await trader.client.place_order(
            "BTC-USD", rng.choice(["buy", "sell"]), "limit",
            quantity=f"{rng.randint(1, 30) / 10:.1f}",
            price=f"{rng.randint(9_900, 10_100) / 100:.2f}")


@pytest.mark.parametrize("spec", ["disconnect=0.2,seed=5", "stall=0.3,seed=5"])
async def test_watch_book_ends_equal_to_the_rest_book(nursery: trio.Nursery, spec: str
                                                      ) -> None:
    running = await start_exchange(nursery, chaos=spec)
    await running.instrument()
    traders = [await running.trader(f"t{index}", USD="10000000", BTC="100000")
               for index in range(2)]
    async with watch_book(running.url, "BTC-USD") as watcher:
        await _random_orders(running, traders, 120)
        rest = await running.admin.book("BTC-USD", depth=1000)
        with trio.fail_after(20):
            await watcher.wait_for_sequence(rest["sequence"])
        assert watcher.book.sequence == rest["sequence"]
        assert watcher.book.bids() == levels_of(rest["bids"])
        assert watcher.book.asks() == levels_of(rest["asks"])
        metrics = (await running.admin.http.get("/metrics")).text
        if spec.startswith("disconnect"):
            assert watcher.reconnects >= 1
            assert _injections(metrics, "disconnect") >= watcher.reconnects
        else:  # held, then delivered in order: no gap, no new connection
            assert _injections(metrics, "stall") >= 1
            assert watcher.reconnects == 0
            assert watcher.resubscribes == 0
    await _stop(running)


async def test_a_stall_holds_channel_messages_not_replies(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, chaos="stall=1,seed=1")
    await running.instrument()
    maker = await running.trader("maker", USD="100000", BTC="10")
    taker = await running.trader("taker", USD="100000")
    async with open_exchange_socket(running.url) as socket:
        await socket.subscribe(["trades.BTC-USD"])
        await maker.client.place_order("BTC-USD", "sell", "limit", quantity="0.5", price="100")
        sent = time.perf_counter()
        await taker.client.place_order("BTC-USD", "buy", "limit", quantity="0.2", price="100")
        await taker.client.place_order("BTC-USD", "buy", "limit", quantity="0.3", price="100")
        await socket.ping()
        pinged = time.perf_counter()
        with trio.fail_after(10):
            trades = [await socket.receive(), await socket.receive()]
        arrived = time.perf_counter()
        assert arrived - sent >= 1.0  # held for 1 to 3 s
        assert pinged < arrived  # the reply was not held behind them
        assert [t["quantity"] for t in trades] == ["0.2", "0.3"]  # then in order
    metrics = (await running.admin.http.get("/metrics")).text
    assert _injections(metrics, "stall") >= 2
    await _stop(running)
