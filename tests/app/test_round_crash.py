"""A `kill -9` in the middle of a round's reset leaves it done or not done, never half: the
reset is one engine command, so its cancels, transfers and round row are one transaction.

A server subprocess is killed at a random moment just after the round is requested, several
times over, and each restart must show either every account reset (the new round exists, the
balances are exactly the starting ones, no order is open) or none (no new round, the
balances and open orders as they were).
"""

from __future__ import annotations

import contextlib
import random
import signal
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio

from app.process import ServerProcess
from app.test_crash import database_url
from exchange.client import ExchangeClient
from web.support import ADMIN_TOKEN

__all__ = ["database_url"]  # the fixture, parametrized over SQLite and PostgreSQL

ACCOUNTS = 12
ORDERS = 10  # open orders per account before each reset
# Kill delays after the request is sent: before it arrives, while it runs, after it is done.
DELAYS = (0.002, 0.02, 0.04, 0.08, 0.5)
ROUNDS = len(DELAYS)


async def _setup(url: str) -> list[dict[str, Any]]:
    async with ExchangeClient(url, admin_token=ADMIN_TOKEN) as admin:
        await admin.create_instrument("BTC-USD", "BTC", "USD", tick_size="0.01",
                                      lot_size="0.01")
        traders = []
        for index in range(ACCOUNTS):
            created = await admin.create_account(f"r-{index}")
            await admin.deposit(created["account_id"], "USD", "1000000")
            await admin.deposit(created["account_id"], "BTC", "1000")
            traders.append(created)
        return traders


async def _state(url: str, traders: list[dict[str, Any]]
                 ) -> tuple[int, dict[int, tuple[dict[str, str], int]]]:
    """The number of rounds, and per account its totals and open order count."""
    async with ExchangeClient(url, admin_token=ADMIN_TOKEN) as admin:
        rounds = len(await admin.rounds())
        out = {}
        for trader in traders:
            detail = await admin.admin_account(trader["account_id"])
            out[trader["account_id"]] = (
                {b["asset"]: b["total"] for b in detail["balances"]
                 if Decimal(b["total"])},
                len(detail["open_orders"]),
            )
        return rounds, out


async def _orders_then_reset(url: str, traders: list[dict[str, Any]], number: int,
                             server: ServerProcess, delay: float) -> None:
    async with ExchangeClient(url, admin_token=ADMIN_TOKEN) as admin:
        for trader in traders:
            client = admin.with_key(trader["api_key"])
            for index in range(ORDERS):  # buys below sells: nothing trades
                await client.place_order("BTC-USD", "buy", quantity="0.01",
                                         price=f"{10 + index}")
    before = await _state(url, traders)

    async def reset() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            with contextlib.suppress(httpx.HTTPError, OSError):  # killed under it
                await http.post("/v1/admin/rounds", json={
                    "name": f"round {number}", "accounts": "all",
                    "starting_balances": {"USD": str(1000 + number), "BTC": str(number)},
                }, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reset)
        await trio.sleep(delay)
        server.proc.send_signal(signal.SIGKILL)
    _BEFORE[number] = before


_BEFORE: dict[int, tuple[int, dict[int, tuple[dict[str, str], int]]]] = {}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_reset_killed_midway_is_done_or_not_done(database_url: str) -> None:
    rng = random.Random(13)
    server = ServerProcess(database_url)
    outcomes = []
    try:
        traders = trio.run(_setup, server.url)
        for number in range(1, ROUNDS + 1):
            delay = DELAYS[number - 1] * rng.uniform(0.8, 1.2)
            trio.run(_orders_then_reset, server.url, traders, number, server, delay)
            assert server.stop(signal.SIGKILL) == -signal.SIGKILL
            server = ServerProcess(database_url)
            rounds, after = trio.run(_state, server.url, traders)
            rounds_before, before = _BEFORE[number]
            if rounds == rounds_before + 1:
                outcomes.append("done")
                starting = {"USD": str(1000 + number), "BTC": str(number)}
                assert all(state == (starting, 0) for state in after.values()), after
            else:
                outcomes.append("not done")
                assert rounds == rounds_before
                assert after == before
    finally:
        server.stop(signal.SIGTERM)
    assert len(outcomes) == ROUNDS


async def _round_with_a_house(url: str) -> None:
    traders = await _setup(url)
    async with ExchangeClient(url, admin_token=ADMIN_TOKEN) as admin:
        await admin.set_house(traders[0]["account_id"])
        end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        await admin.start_round("hashed", {"USD": "10"}, end=end)


async def _window_kept(url: str) -> None:
    async with ExchangeClient(url, admin_token=ADMIN_TOKEN) as admin:
        [started] = await admin.rounds()
        assert started["end"] is not None
        assert len(started["accounts"]) == ACCOUNTS - 1  # not the house
        house = await admin.admin_account(1)
        assert house["house"] is True


def test_a_round_survives_a_clean_restart_with_its_state_hash(database_url: str) -> None:
    """The state hash covers rounds and house flags, and recovery rebuilds them."""
    first = ServerProcess(database_url)
    try:
        trio.run(_round_with_a_house, first.url)
    finally:
        assert first.stop(signal.SIGTERM) == 0
    second = ServerProcess(database_url)
    try:
        assert "state hash of the clean shutdown verified" in second.started_line
        trio.run(_window_kept, second.url)
    finally:
        assert second.stop(signal.SIGTERM) == 0
