"""Durability through the Binance-compatible surface: a server subprocess killed with SIGKILL
while ccxt.pro places orders over `POST /api/v3/order` and the WebSocket API's `order.place`
loses none it acknowledged (after the restart `GET /api/v3/order` and `openOrders` show them
under the same ids), and the depth stream does not silently diverge: the restarted server's
`lastUpdateId` is at least the last `u` streamed before the kill, its stream continues that
counter, and ccxt.pro's order book, reconnecting to the restarted server, ends equal to the
`/v1` book.

On SQLite and on PostgreSQL (skipped without one, failed under `CI=true`), as
`tests/app/test_crash.py`."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import ccxt.pro
import httpx
import pytest
import trio

from app.process import ServerProcess
from web.support import SERVER_KEY, drop_database, postgres_url

from .test_ccxt import Venue
from .test_ccxt_pro import pro_private

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SYMBOL = "BTC/USD"
ACKS = 40  # through each path before the kill


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # The server key from the environment (as a deployment gives it): no key file is made
    # in the working directory on PostgreSQL, and both runs decrypt the same secrets.
    monkeypatch.setenv("EXCHANGE_SERVER_KEY", SERVER_KEY)
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'binance-crash.db'}"
        return
    url = trio.run(postgres_url, f"exchange_binance_crash_{os.getpid()}")
    yield url
    trio.run(drop_database, url)


async def _within(awaitable: Any, seconds: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {seconds} s") from None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Load:
    """Orders placed until the server is gone: what was acknowledged, by order id, with the
    client that placed it."""

    def __init__(self) -> None:
        self.acked: dict[str, tuple[Any, dict[str, Any]]] = {}
        self.by_path = {"rest": 0, "ws": 0}
        self.enough = asyncio.Event()

    async def place(self, exchange: Any, path: str, seed: int) -> None:
        rng = random.Random(seed)
        create = exchange.create_order if path == "rest" else exchange.create_order_ws
        while True:
            try:
                order = await create(SYMBOL, "limit", rng.choice(("buy", "sell")),
                                     rng.randint(1, 3), rng.randint(95, 105))
            except ccxt.BaseError:  # the server is gone: nothing more is acknowledged
                return
            self.acked[order["id"]] = (exchange, order)
            self.by_path[path] += 1
            if min(self.by_path.values()) >= ACKS:
                self.enough.set()


async def _depth_events(ws_url: str, into: list[dict[str, Any]],
                        subscribed: asyncio.Event) -> None:
    """Every raw `depthUpdate` until the connection ends; `subscribed` is set once the
    server has answered on the connection (so the subscription made at connect holds)."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(ws_url + "/ws/btcusd@depth") as ws:
                await ws.send_str('{"method":"LIST_SUBSCRIPTIONS","id":1}')
                async for message in ws:
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break
                    data = json.loads(message.data)
                    if data.get("e") == "depthUpdate":
                        into.append(data)
                    elif data.get("id") == 1:
                        assert data["result"] == ["btcusd@depth"]
                        subscribed.set()
        except aiohttp.ClientError:
            return


async def _watch_until_gone(exchange: Any) -> BaseException:
    while True:
        try:
            await exchange.watch_order_book(SYMBOL)
        except Exception as exc:  # the connection ended with the server
            return exc


def _setup(url: str) -> tuple[tuple[str, str], tuple[str, str]]:
    venue = Venue(url)
    venue.call("POST", "/v1/admin/instruments", json={
        "symbol": "BTC-USD", "base": "BTC", "quote": "USD", "tick_size": "1",
        "lot_size": "1", "maker_fee_rate": "0", "taker_fee_rate": "0"})
    _, _, key, secret = venue.trader("maker", USD="100000000", BTC="1000000")
    _, _, other_key, other_secret = venue.trader("taker", USD="100000000", BTC="1000000")
    venue.admin.close()
    return (key, secret), (other_key, other_secret)


async def _scenario(database_url: str) -> None:
    port = _free_port()
    first = await asyncio.to_thread(ServerProcess, database_url, port=port)
    url = first.url
    ws_url = url.replace("http", "ws", 1)
    (key, secret), (other_key, other_secret) = await asyncio.to_thread(_setup, url)
    maker, taker = pro_private(url, key, secret), pro_private(url, other_key, other_secret)
    watcher = pro_private(url, key, secret)
    for exchange in (maker, taker, watcher):
        exchange.enableRateLimit = False  # the server's limit is off; ccxt's would pace us
    events: list[dict[str, Any]] = []
    load = Load()
    try:
        await watcher.watch_order_book(SYMBOL)
        subscribed = asyncio.Event()
        listening = asyncio.create_task(_depth_events(ws_url, events, subscribed))
        await _within(subscribed.wait(), 10, "the depth stream")
        watching = asyncio.create_task(_watch_until_gone(watcher))
        placing = [asyncio.create_task(load.place(exchange, path, seed))
                   for seed, (exchange, path) in enumerate(
                       [(maker, "rest"), (maker, "ws"), (taker, "rest"), (taker, "ws")])]
        await _within(load.enough.wait(), 120, "the acknowledgements")
        # While the orders keep coming.
        assert await asyncio.to_thread(first.stop, signal.SIGKILL) == -signal.SIGKILL
        await _within(asyncio.gather(*placing), 60, "the clients seeing the kill")
        await _within(listening, 30, "the depth stream ending with the kill")
        ended = await _within(watching, 30, "ccxt.pro's book ending with the kill")
        assert isinstance(ended, ccxt.BaseError)
        acked = dict(load.acked)
        assert events, "no depth update before the kill"
        last_u = events[-1]["u"]
        assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(events))

        second = await asyncio.to_thread(ServerProcess, database_url, port=port)
        try:
            assert second.url == url
            await _verify(url, maker, watcher, acked, last_u)
        finally:
            assert await asyncio.to_thread(second.stop, signal.SIGTERM) == 0
    finally:
        for exchange in (maker, taker, watcher):
            await exchange.close()


async def _verify(url: str, maker: Any, watcher: Any,
                  acked: dict[str, tuple[Any, dict[str, Any]]], last_u: int) -> None:
    # Every acknowledged order, by its id and by its client id, over GET /api/v3/order.
    stored: dict[str, dict[str, Any]] = {}
    for order_id, (exchange, order) in acked.items():
        found = await exchange.fetch_order(order_id, SYMBOL)
        assert (found["id"], found["clientOrderId"]) == (order_id, order["clientOrderId"])
        assert (found["side"], found["price"], found["amount"]) == (
            order["side"], order["price"], order["amount"])
        assert found["filled"] >= order["filled"]
        by_client = await exchange.fetch_order(
            None, SYMBOL, {"origClientOrderId": order["clientOrderId"]})
        assert by_client["id"] == order_id
        stored[order_id] = found
    # openOrders lists every one still open. It may list more: orders the kill cut off
    # after they were made durable and before their answer reached the client.
    listed: dict[str, dict[str, Any]] = {}
    for exchange in {id(e): e for e, _ in acked.values()}.values():
        listed |= {o["id"]: o for o in await exchange.fetch_open_orders(SYMBOL)}
    assert {i for i, o in stored.items() if o["status"] == "open"} <= set(listed)
    assert all(stored[i]["status"] == "open" for i in set(listed) & set(stored))

    async with httpx.AsyncClient(base_url=url) as http:
        depth = (await http.get("/api/v3/depth", params={"symbol": "BTCUSD",
                                                         "limit": 1000})).json()
        assert depth["lastUpdateId"] >= last_u
        # The restarted server's stream continues the same counter: its first event starts
        # right after the snapshot's lastUpdateId.
        events: list[dict[str, Any]] = []
        subscribed = asyncio.Event()
        listening = asyncio.create_task(_depth_events(url.replace("http", "ws", 1), events,
                                                      subscribed))
        await _within(subscribed.wait(), 10, "the depth stream after the restart")
        snapshot = (await http.get("/api/v3/depth", params={"symbol": "BTCUSD"})).json()
        # ccxt.pro's book, reconnecting to the restarted server, resyncs from a snapshot.
        book = await _within(watcher.watch_order_book(SYMBOL), 30, "ccxt.pro's resync")
        marker = await maker.create_order(SYMBOL, "limit", "buy", 1, 50)
        while [50.0, 1.0] not in book["bids"]:
            book = await _within(watcher.watch_order_book(SYMBOL), 10,
                                 "the marker in ccxt.pro's book")
        for _ in range(100):
            if events:
                break
            await asyncio.sleep(0.1)
        listening.cancel()
        assert events, "no depth update after the restart"
        assert events[0]["U"] == snapshot["lastUpdateId"] + 1
        final = (await http.get("/v1/instruments/BTC-USD/book",
                                params={"depth": 1000})).json()
    assert marker["status"] == "open"
    # ccxt.pro keeps changing its book object: compare it as it is now.
    assert [[float(p), float(q)] for p, q, _ in final["bids"]] == [
        list(level) for level in book["bids"]]
    assert [[float(p), float(q)] for p, q, _ in final["asks"]] == [
        list(level) for level in book["asks"]]
    assert book["nonce"] == final["sequence"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_acknowledged_binance_orders_survive_sigkill(database_url: str) -> None:
    asyncio.run(_scenario(database_url))
