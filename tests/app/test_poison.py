"""A permanent write error (a value PostgreSQL cannot store, planted past the validation)
stops a real server promptly, non-zero, with one clear line, acknowledging nothing from the
failed batch on; a restart on the same database serves exactly the last committed state."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from app.poison_server import POISON
from app.process import ServerProcess
from exchange.app.serve import EXIT_WRITER_STOPPED
from exchange.client import ExchangeClient
from web.support import ADMIN_TOKEN, drop_database, postgres_url

POISON_SERVER = str(Path(__file__).with_name("poison_server.py"))
EXIT_WITHIN = 5.0  # seconds from the poisoned request to the process's exit


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = trio.run(postgres_url, f"exchange_poison_{os.getpid()}")
    yield url
    trio.run(drop_database, url)


async def _setup(url: str) -> dict[str, Any]:
    async with ExchangeClient(url, admin_token=ADMIN_TOKEN) as admin:
        await admin.create_instrument("BTC-USD", "BTC", "USD", tick_size="0.01",
                                      lot_size="0.01")
        created = await admin.create_account("trader")
        await admin.deposit(created["account_id"], "USD", "1000")
        await admin.deposit(created["account_id"], "BTC", "10")
        client = admin.with_key(created["api_key"])
        await client.place_order("BTC-USD", "buy", quantity="1", price="100")
        return created


async def _snapshot(url: str, api_key: str) -> tuple[Any, Any]:
    async with ExchangeClient(url, api_key=api_key) as client:
        return await client.account(), await client.orders(limit=1000)


async def _poison(url: str) -> int | str:
    """Creates the poisoned account: the status, or the exception's name when the connection
    dropped. (Only this request: others sent beside it may come before it in the engine,
    and be committed and acknowledged rightly; `tests/store/test_writer.py` checks that
    batches after a failed one never are.)"""
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            response = await http.post("/v1/admin/accounts", json={"name": POISON},
                                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            return response.status_code
    except httpx.HTTPError as exc:
        return type(exc).__name__


def test_a_permanent_write_error_exits_and_a_restart_recovers(pg_url: str) -> None:
    first = ServerProcess(pg_url, [POISON_SERVER])
    try:
        trader = trio.run(_setup, first.url)
        before = trio.run(_snapshot, first.url, trader["api_key"])
        sent = time.monotonic()
        outcome = trio.run(_poison, first.url)
        code, stderr = first.exit(timeout=EXIT_WITHIN)
        exited = time.monotonic() - sent
    finally:
        if first.proc.poll() is None:
            first.stop(signal.SIGKILL)
    assert code == EXIT_WRITER_STOPPED, stderr
    assert exited < EXIT_WITHIN
    assert not (isinstance(outcome, int) and outcome < 300), outcome  # never acknowledged
    errors = [line for line in stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 2, stderr  # what failed, then the process's last word
    assert "the writer stopped: write" in errors[0]
    assert "failed permanently" in errors[0]
    assert "0x00" in errors[0]
    assert "exchange stopped: the writer stopped on a permanent write error" in errors[1]

    second = ServerProcess(pg_url)
    try:
        assert trio.run(_snapshot, second.url, trader["api_key"]) == before
        trio.run(_serves_again, second.url, trader)
    finally:
        assert second.stop(signal.SIGTERM) == 0


async def _serves_again(url: str, trader: dict[str, Any]) -> None:
    async with ExchangeClient(url, admin_token=ADMIN_TOKEN) as admin:
        # The poisoned account was never stored: the next one takes its id.
        created = await admin.create_account("after")
        assert created["account_id"] == trader["account_id"] + 1
        client = admin.with_key(trader["api_key"])
        order = await client.place_order("BTC-USD", "sell", quantity="1", price="300")
        assert order["status"] == "new"
        assert (await admin.readyz())["status"] == "ready"
