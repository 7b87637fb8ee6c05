"""Graceful shutdown: in-flight requests finish, the journal is flushed, nothing hangs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
import trio

from exchange.app.runtime import serve_exchange
from exchange.client import ExchangeError
from exchange.engine.events import OrderAccepted
from exchange.pipeline.journal import MemoryJournal
from pipeline.journals import GatedJournal
from web.support import ADMIN_TOKEN, make_settings, start_exchange


async def test_in_flight_requests_finish(nursery: trio.Nursery) -> None:
    # durability held shut until shutdown has begun, so all 20 are in flight at once however
    # slowly the machine lets them arrive (a timed commit let early ones finish first)
    journal = GatedJournal()
    journal.open()
    running = await start_exchange(nursery, journal=journal)
    await running.instrument()
    trader = await running.trader("t", USD="1000000")
    journal.close_gate()
    acknowledged: list[int] = []
    failed: list[BaseException] = []

    async def place(index: int) -> None:
        try:
            order = await trader.client.place_order("BTC-USD", "buy", quantity="0.001",
                                                    price=str(100 + index),
                                                    client_order_id=f"o{index}")
            acknowledged.append(order["order_id"])
        except (ExchangeError, httpx.HTTPError) as exc:
            failed.append(exc)

    # an idle keep-alive connection must not hold the shutdown up
    idle = httpx.AsyncClient(base_url=running.url)
    await idle.get("/healthz")
    async with trio.open_nursery() as clients:
        for index in range(20):
            clients.start_soon(place, index)
        # wait until every request is in the pipeline (waiting for the slow journal)
        inflight = running.server.services.inflight
        with trio.fail_after(30):
            while len(inflight) < 20:  # noqa: ASYNC110 - polling a plain dict
                await trio.sleep(0.01)
        started = trio.current_time()
        running.server.shutdown()
        await trio.sleep(0.2)
        journal.open()
    assert len(acknowledged) == 20, failed
    written = {e.order_id for e in journal.events() if isinstance(e, OrderAccepted)}
    assert set(acknowledged) <= written
    assert trio.current_time() - started < 5
    await idle.aclose()
    await running.admin.aclose()


async def test_serve_returns_after_shutdown() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(serve_exchange, make_settings())
            server.shutdown()
    # the nursery exited: serve_exchange returned by itself


async def test_a_failing_task_stops_everything() -> None:
    class BrokenJournal(MemoryJournal):
        async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:  # type: ignore[no-untyped-def]
            task_status.started()
            await trio.sleep(0.1)
            raise RuntimeError("disk on fire")

    with trio.fail_after(10), pytest.RaisesGroup(RuntimeError, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: serve_exchange(make_settings(), journal=BrokenJournal(),
                                                   task_status=task_status))
            await trio.sleep_forever()


def _serve(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "EXCHANGE_ADMIN_TOKEN": ADMIN_TOKEN}
    return subprocess.Popen(
        [sys.executable, "-m", "exchange", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _wait_listening(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "listening on" in line:
            return line.split("listening on ")[1].split()[0]
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"the server did not start: {proc.stderr.read()}")


def test_sigterm_and_sigint_exit_zero() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        with _serve("--database-url", "memory://", "--demo") as proc:
            try:
                url = _wait_listening(proc)
                assert httpx.get(f"{url}/healthz").status_code == 200
                started = time.monotonic()
                proc.send_signal(signum)
                assert proc.wait(timeout=15) == 0
                assert time.monotonic() - started < 10
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate()
