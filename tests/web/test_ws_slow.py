"""Clients that read slowly or not at all: they lose their connection, nobody else suffers."""

from __future__ import annotations

import re
from typing import Any

import httpx
import msgspec
import pytest
import trio

from exchange.app.runtime import Server, ShutdownTimeout, serve_exchange
from exchange.bench.rawws import RawClosed, RawWebSocket

from .support import ADMIN_TOKEN, Exchange, make_settings, start_exchange
from .wsclient import connect

SYMBOL = "BTC-USD"
ORDERS_PER_FRAME = 200


async def market(running: Exchange) -> tuple[str, str]:
    """An instrument with a deep resting sell, and a funded taker: (taker key, maker key)."""
    await running.instrument(SYMBOL)
    maker = await running.trader("maker", BTC="100000")
    taker = await running.trader("taker", USD="100000000")
    await maker.client.place_order(SYMBOL, "sell", quantity="50000", price="100")
    return taker.api_key, maker.api_key


async def trade_until(running: Exchange, taker_key: str, done: Any, *, limit: int) -> int:
    """Sends frames of market buys (one trade each) until `done()`; returns the trades made."""
    made = 0
    async with connect(running.url, api_key=taker_key, queue=4096) as trading:
        while not done() and made < limit:
            await trading.send([{"op": "place", "id": made + i, "order": {
                "symbol": SYMBOL, "side": "buy", "type": "market", "quantity": "0.01"}}
                for i in range(ORDERS_PER_FRAME)])
            for _ in range(ORDERS_PER_FRAME):
                assert (await trading.until("result"))["order"]["status"] == "filled"
            made += ORDERS_PER_FRAME
    return made


async def read_all(ws: RawWebSocket) -> None:
    """Reads until the server closes (RawClosed)."""
    while True:
        await ws.receive()


def slow_consumers(running: Exchange) -> float:
    return running.server.services.metrics.ws_slow_consumers._value.get()  # type: ignore[no-any-return]


async def scraped_slow_consumers(url: str) -> float:
    """The slow-consumer count as `/metrics` shows it."""
    async with httpx.AsyncClient(base_url=url) as http:
        text = (await http.get("/metrics")).text
    found = re.search(r"^exchange_ws_slow_consumers_total (\S+)$", text, re.MULTILINE)
    assert found is not None
    return float(found.group(1))


STALLED = 20


async def test_stalled_subscribers_get_4008_well_before_the_kernel_would_reset_them(
        nursery: trio.Nursery) -> None:
    """With the defaults (send_timeout 5 s, ws_outbox_max_age 2 s) and a flow of trades far
    too small to fill an outbox (4 MiB) in 5 s: only the age rule can close them in time.
    The kernel's clock starts when a peer's window is full, after the flow began, so 4008
    within `send_timeout` of the flow's start is 4008 before the kernel's reset."""
    running = await start_exchange(nursery)
    settings = running.server.services.settings
    assert (settings.send_timeout, settings.ws_outbox_max_age) == (5.0, 2.0)
    taker_key, _ = await market(running)
    stalled = []
    for _ in range(STALLED):  # subscribe, see the answer, then never read again
        ws = await RawWebSocket.open(running.url, rcvbuf=4096)
        await ws.send_text(msgspec.json.encode(
            {"op": "subscribe", "id": 1, "channels": [f"trades.{SYMBOL}"]}))
        assert b"subscribed" in (await ws.receive())[0]
        stalled.append(ws)
    started = trio.current_time()
    made = 0
    async with connect(running.url, api_key=taker_key, queue=4096) as trading:
        while (slow_consumers(running) < STALLED
               and trio.current_time() - started < settings.send_timeout):
            await trading.send([{"op": "place", "id": made + i, "order": {
                "symbol": SYMBOL, "side": "buy", "type": "market", "quantity": "0.01"}}
                for i in range(10)])
            for _ in range(10):
                await trading.until("result")
            made += 10
            await trio.sleep(0.01)
    elapsed = trio.current_time() - started
    assert await scraped_slow_consumers(running.url) == STALLED, f"{made} trades"
    assert elapsed < settings.send_timeout
    # What each peer sees once it reads: what was in flight and the close frame if the
    # socket took it; if the writer was stuck in a send (both buffers full), a reset.
    seen = []
    for ws in stalled:
        with trio.fail_after(10):
            try:
                await read_all(ws)
            except RawClosed as closed:
                seen.append((closed.code, closed.reason))
            except trio.BrokenResourceError as exc:
                seen.append((0, type(exc.__cause__).__name__))
        await ws.aclose()
    assert set(seen) <= {(4008, "slow consumer"), (0, "ConnectionResetError")}, seen
    await running.admin.aclose()


async def test_a_slow_subscriber_is_closed_with_4008_and_a_fast_one_gets_everything(
        nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, ws_outbox_bytes=256 * 1024)
    taker_key, _ = await market(running)
    slow = await RawWebSocket.open(running.url, rcvbuf=4096)
    await slow.send_text(msgspec.json.encode({
        "op": "subscribe", "id": 1, "channels": [f"trades.{SYMBOL}", f"book.{SYMBOL}"]}))
    received: list[int] = []
    async with connect(running.url, queue=4096) as fast:
        await fast.call("subscribe", channels=[f"trades.{SYMBOL}"])

        async def read_fast() -> None:
            while True:
                received.append((await fast.until("trade", within=30))["trade_id"])

        async with trio.open_nursery() as readers:
            readers.start_soon(read_fast)
            made = await trade_until(running, taker_key, lambda: slow_consumers(running) > 0,
                                     limit=40_000)
            assert slow_consumers(running) == 1, "the slow subscriber was never closed"
            with trio.fail_after(10):
                while len(received) < made:  # noqa: ASYNC110 - the reader task appends
                    await trio.sleep(0.01)
            readers.cancel_scope.cancel()
    # The fast subscriber saw every trade, in order, and the engine made them all.
    assert received == sorted(received)
    assert len(set(received)) == made
    # The slow one, reading at last, finds what was in flight and then the close frame.
    with trio.fail_after(10), pytest.raises(RawClosed) as closed:
        await read_all(slow)
    assert closed.value.code == 4008
    assert closed.value.reason == "slow consumer"
    await slow.aclose()
    await running.admin.aclose()


async def test_a_peer_that_stops_reading_gets_4008_even_when_nothing_more_is_sent(
        nursery: trio.Nursery) -> None:
    """What was written waits in the kernel, not in the outbox (the writer is not blocked):
    only the peer's unacknowledged backlog tells, and the close frame still fits."""
    running = await start_exchange(nursery)
    taker_key, _ = await market(running)
    stalled = await RawWebSocket.open(running.url, rcvbuf=4096)
    await stalled.send_text(msgspec.json.encode(
        {"op": "subscribe", "id": 1, "channels": [f"trades.{SYMBOL}"]}))
    assert b"subscribed" in (await stalled.receive())[0]
    (connection,) = running.server.services.websockets.connections
    async with connect(running.url, api_key=taker_key, queue=4096) as trading:
        await trading.send([{"op": "place", "id": i, "order": {
            "symbol": SYMBOL, "side": "buy", "type": "market", "quantity": "0.01"}}
            for i in range(60)])  # about 15 KB of trades: more than the peer's window
        for _ in range(60):
            await trading.until("result")
    started = trio.current_time()
    with trio.fail_after(running.server.services.settings.send_timeout - 1):
        while not slow_consumers(running):  # the pacer's sweep closes it
            assert len(connection.outbox) == 0  # nothing waits for the writer
            await trio.sleep(0.05)
    assert trio.current_time() - started > 1.0  # not before the peer stalled for a while
    with trio.fail_after(10), pytest.raises(RawClosed) as closed:
        await read_all(stalled)  # every trade, then the close frame
    assert closed.value.code == 4008
    await stalled.aclose()
    await running.admin.aclose()


class Finished:
    """Set when `serve_exchange` has returned (`error`: its ShutdownTimeout, if any)."""

    def __init__(self) -> None:
        self.event = trio.Event()
        self.error: BaseException | None = None

    def is_set(self) -> bool:
        return self.event.is_set()

    async def wait(self) -> None:
        await self.event.wait()


async def _serve(settings: Any, finished: Finished,
                 task_status: trio.TaskStatus[Server] = trio.TASK_STATUS_IGNORED) -> None:
    try:
        await serve_exchange(settings, task_status=task_status)
    except ShutdownTimeout as exc:
        finished.error = exc
    finally:
        finished.event.set()


async def _stalled_server(nursery: trio.Nursery, send_timeout: float,
                          close_grace: float | None = None
                          ) -> tuple[Exchange, RawWebSocket, Finished]:
    """A server whose writer to a peer that never reads is blocked in the kernel, and
    which has closed it with 4008 (its outbox overflowed: the age rule is left out, just
    below `send_timeout`). `close_grace` replaces the hub's (the reset of a stuck writer)."""
    from exchange.client import ExchangeClient

    finished = Finished()
    settings = make_settings(ws_outbox_bytes=256 * 1024, send_timeout=send_timeout,
                             ws_outbox_max_age=send_timeout * 0.99, shutdown_timeout=3.0)
    server: Server = await nursery.start(_serve, settings, finished)
    running = Exchange(server, ExchangeClient(server.url, admin_token=ADMIN_TOKEN))
    if close_grace is not None:
        server.services.websockets.close_grace = close_grace
    taker_key, _ = await market(running)
    stuck = await RawWebSocket.open(running.url, rcvbuf=4096)
    await stuck.send_text(msgspec.json.encode(
        {"op": "subscribe", "id": 1, "channels": [f"trades.{SYMBOL}"]}))
    # Its outbox can only overflow once its writer cannot send any more.
    await trade_until(running, taker_key, lambda: slow_consumers(running) > 0, limit=40_000)
    assert slow_consumers(running) == 1
    await running.admin.aclose()
    return running, stuck, finished


async def test_a_peer_that_never_reads_cannot_hold_up_shutdown() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            running, stuck, finished = await _stalled_server(nursery, send_timeout=1.0)
            started = trio.current_time()
            running.server.shutdown()
            await finished.wait()
            elapsed = trio.current_time() - started
    assert elapsed < 3.0  # shutdown_timeout; the kernel dropped the peer after 1 s
    assert finished.error is None
    await stuck.aclose()


async def test_without_the_send_timeout_the_reset_after_4008_frees_it(
        nursery: trio.Nursery) -> None:
    """The writer is stuck in hypercorn's shielded send: CLOSE_GRACE after the 4008 the
    connection is reset, the send fails, and the shutdown does not wait for anything."""
    running, stuck, finished = await _stalled_server(nursery, send_timeout=600.0)
    try:
        hub = running.server.services.websockets
        assert hub is not None
        with trio.fail_after(2.0):  # the stuck connection ends: the writer is free again
            while hub.connections:  # noqa: ASYNC110 - the reset ends it, no event says so
                await trio.sleep(0.05)
        started = trio.current_time()
        running.server.shutdown()
        with trio.fail_after(3.0):
            await finished.wait()
        assert trio.current_time() - started < 1.0
        assert finished.error is None
        # The peer, reading at last, finds its connection reset (the close never fit).
        with trio.fail_after(5), pytest.raises(trio.BrokenResourceError) as reset:
            await read_all(stuck)
        assert isinstance(reset.value.__cause__, ConnectionResetError)
    finally:  # if not, the server would wait for it forever
        await stuck.aclose()


async def test_without_either_guard_such_a_peer_would_hold_it(
        nursery: trio.Nursery) -> None:
    """The guards above are what make the difference: hypercorn's shielded write waits."""
    running, stuck, finished = await _stalled_server(nursery, send_timeout=600.0,
                                                     close_grace=600.0)
    running.server.shutdown()
    with trio.move_on_after(4.0):  # past shutdown_timeout
        await finished.wait()
    assert not finished.is_set()
    await stuck.aclose()  # the peer goes away: the write fails and the server ends
    with trio.fail_after(10):
        await finished.wait()
    assert isinstance(finished.error, ShutdownTimeout)
