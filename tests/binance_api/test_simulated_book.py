"""ccxt.pro's order book kept in sync while the market simulator trades (`exchange simulate`
in a process of its own, its makers quoting ladders and its takers crossing them), equal to
the `/v1` book once the simulator is gone."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from web.support import ADMIN_TOKEN

from .test_ccxt import Venue, serve_venue
from .test_ccxt_pro import pro

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    yield from serve_venue("1", "1", "0", "0")


def _simulate(url: str) -> subprocess.Popen[bytes]:
    """The simulator on ETH-USD (it creates the instrument), 60 requests a second."""
    return subprocess.Popen(
        [sys.executable, "-m", "exchange", "simulate", "--url", url, "--admin-token",
         ADMIN_TOKEN, "--symbols", "ETH-USD", "--rate", "60", "--seed", "3"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for_a_market(url: str, simulator: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert simulator.poll() is None, simulator.stderr and simulator.stderr.read()
        answer = httpx.get(f"{url}/v1/instruments/ETH-USD/book")
        if answer.status_code == 200 and answer.json()["bids"] and answer.json()["asks"]:
            return
        time.sleep(0.2)
    pytest.fail("the simulator made no market on ETH-USD within 60 s")


def test_the_book_stays_in_sync_while_the_simulator_trades(venue: Venue) -> None:
    simulator = _simulate(venue.url)
    try:
        _wait_for_a_market(venue.url, simulator)

        async def main() -> tuple[dict[str, Any], dict[str, Any], int]:
            exchange = pro(venue.url)
            updates = 0
            try:
                book = await exchange.watch_order_book("ETH/USD")
                while updates < 200:
                    book = await asyncio.wait_for(exchange.watch_order_book("ETH/USD"), 30)
                    updates += 1
                # The simulator gone at once (kill: its orders stay on the book), the stream
                # must bring ccxt.pro's book to the last sequence the server has.
                simulator.send_signal(signal.SIGKILL)
                simulator.wait(10)
                async with httpx.AsyncClient(base_url=venue.url) as http:
                    final = (await http.get("/v1/instruments/ETH-USD/book",
                                            params={"depth": 1000})).json()
                    pending: asyncio.Future[Any] | None = None
                    quiet = 0
                    while book["nonce"] < final["sequence"]:
                        if pending is None:
                            pending = asyncio.ensure_future(
                                exchange.watch_order_book("ETH/USD"))
                        finished, _ = await asyncio.wait({pending}, timeout=1)
                        if finished:
                            book, pending, quiet = pending.result(), None, 0
                        else:
                            quiet += 1
                            assert quiet < 30, "the stream stopped short of the book"
                    if pending is not None:
                        pending.cancel()
                # ccxt.pro keeps changing its book object: keep it as it is now.
                kept = {"bids": [list(level) for level in book["bids"]],
                        "asks": [list(level) for level in book["asks"]],
                        "nonce": book["nonce"]}
            finally:
                await exchange.close()
            return kept, final, updates

        book, final, updates = asyncio.run(main())
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait(10)
        if simulator.stderr is not None:
            simulator.stderr.close()
    assert updates >= 200
    assert final["bids"]
    assert final["asks"]
    assert book["nonce"] == final["sequence"]
    assert [[float(p), float(q)] for p, q, _ in final["bids"]] == book["bids"]
    assert [[float(p), float(q)] for p, q, _ in final["asks"]] == book["asks"]
