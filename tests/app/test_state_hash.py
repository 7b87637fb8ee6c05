"""The state hash of a clean shutdown: the next start verifies the rebuilt engine against it,
refuses to serve (one line, exit 2) when the database was changed behind its back, and after
a kill -9 (the hash is older than the last write) starts without comparing.

Subprocess servers on SQLite and PostgreSQL, as in `test_crash.py`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import trio
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.process import ServerProcess
from exchange.client import ExchangeClient
from exchange.store.bridge import open_bridge
from exchange.store.schema import balances
from web.support import ADMIN_TOKEN

from .test_crash import database_url

__all__ = ["database_url"]  # the fixture, parametrized over SQLite and PostgreSQL

VERIFIED = "state hash of the clean shutdown verified"


async def _trade(url: str) -> list[dict[str, Any]]:
    """An instrument, two funded accounts, a trade and a resting order."""
    async with ExchangeClient(url, admin_token=ADMIN_TOKEN) as admin:
        await admin.create_instrument("BTC-USD", "BTC", "USD", tick_size="0.01",
                                      lot_size="0.01", maker_fee_rate="0.001",
                                      taker_fee_rate="0.002")
        traders = []
        for name in ("a", "b"):
            created = await admin.create_account(name)
            await admin.deposit(created["account_id"], "USD", "100000")
            await admin.deposit(created["account_id"], "BTC", "100")
            traders.append(created)
        seller = admin.with_key(traders[0]["api_key"])
        buyer = admin.with_key(traders[1]["api_key"])
        await seller.place_order("BTC-USD", "sell", quantity="2", price="100")
        await buyer.place_order("BTC-USD", "buy", quantity="1", price="100")
        return traders


async def _move_one_unit(url: str) -> None:
    """Moves one USD unit from account 1's total to account 2's: every asset is still
    conserved and every hold still adds up, so only the state hash can tell."""
    async def move(engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            totals = dict((await conn.execute(
                select(balances.c.account_id, balances.c.total)
                .where(balances.c.asset == "USD", balances.c.account_id.in_([1, 2]))
            )).all())
            for account_id, delta in ((1, -1), (2, 1)):
                await conn.execute(
                    update(balances)
                    .where(balances.c.asset == "USD", balances.c.account_id == account_id)
                    .values(total=totals[account_id] + delta)
                )

    async with open_bridge(url) as bridge:
        await bridge.run(move)


def _start_refused(database_url: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "exchange", "serve", "--port", "0", "--database-url",
         database_url, "--admin-token", ADMIN_TOKEN],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=60,
    )
    return proc.returncode, proc.stderr


def test_clean_stop_then_start_verifies(database_url: str) -> None:
    first = ServerProcess(database_url)
    try:
        trio.run(_trade, first.url)
    finally:
        assert first.stop(signal.SIGTERM) == 0
    assert VERIFIED not in first.started_line  # a new database: nothing stored yet
    second = ServerProcess(database_url)
    assert VERIFIED in second.started_line
    trio.run(_read, second.url)
    assert second.stop(signal.SIGTERM) == 0
    third = ServerProcess(database_url)  # a stop with no write in between keeps it valid
    assert VERIFIED in third.started_line
    trio.run(_read, third.url)
    assert third.stop(signal.SIGTERM) == 0


def test_a_tampered_database_is_refused(database_url: str) -> None:
    first = ServerProcess(database_url)
    try:
        trio.run(_trade, first.url)
    finally:
        assert first.stop(signal.SIGTERM) == 0
    trio.run(_move_one_unit, database_url)
    code, stderr = _start_refused(database_url)
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("exchange serve: cannot start on the database: the rebuilt "
                               "engine (state hash "), lines[0]
    assert "refusing to serve" in lines[0]


def test_after_kill_9_start_goes_on(database_url: str) -> None:
    first = ServerProcess(database_url)
    try:
        trio.run(_trade, first.url)
    finally:
        assert first.stop(signal.SIGTERM) == 0
    second = ServerProcess(database_url)
    try:
        assert VERIFIED in second.started_line
        trio.run(_more, second.url)  # a write after the stored hash...
    finally:
        assert second.stop(signal.SIGKILL) == -signal.SIGKILL  # ...and no clean stop
    third = ServerProcess(database_url)
    try:
        assert VERIFIED not in third.started_line  # nothing to compare with
        trio.run(_more, third.url)  # and it serves
    finally:
        assert third.stop(signal.SIGTERM) == 0


async def _read(url: str) -> None:
    """A request answered: the server is past installing its signal handlers."""
    async with ExchangeClient(url, admin_token=ADMIN_TOKEN) as admin:
        assert (await admin.book("BTC-USD"))["asks"]  # the rest of the sell


async def _more(url: str) -> None:
    async with ExchangeClient(url, admin_token=ADMIN_TOKEN) as admin:
        await admin.deposit(1, "USD", "1")
