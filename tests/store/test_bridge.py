"""The Trio-asyncio bridge: results, errors, concurrency, cancellation, clean shutdown."""

from __future__ import annotations

import threading
import time

import pytest
import trio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.bridge import THREAD_NAME, open_bridge
from exchange.store.database import database_url, normalize_url
from exchange.store.errors import DatabaseError, StoreError

from .conftest import Database

# A statement that runs for many seconds on each database.
SLOW = {
    "postgresql": "SELECT pg_sleep(30)",
    "sqlite": (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000000000)"
        " SELECT count(*) FROM c"
    ),
}


async def scalar(engine: AsyncEngine, sql: str) -> object:
    async with engine.connect() as conn:
        return await conn.scalar(text(sql))


async def running_sleeps(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()"
        ))
        return int(count or 0)


def store_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD_NAME]


def test_urls_get_async_drivers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("sqlite:///./x.db") == "sqlite+aiosqlite:///./x.db"
    assert normalize_url("postgresql+asyncpg://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    monkeypatch.delenv("EXCHANGE_DATABASE_URL", raising=False)
    assert database_url() == "sqlite+aiosqlite:///./exchange.db"
    with pytest.raises(ValueError, match="unsupported"):
        normalize_url("mysql://h/db")


async def test_runs_on_its_own_thread_and_returns_results(db: Database) -> None:
    callers: list[str] = []

    async def where(engine: AsyncEngine) -> str:
        callers.append(threading.current_thread().name)
        return engine.dialect.name

    async with db.bridge(migrate=False) as bridge:
        assert await bridge.run(scalar, "SELECT 41 + 1") == 42
        assert await bridge.run(where) == db.dialect
        assert bridge.dialect == db.dialect
        assert callers == [THREAD_NAME]
        assert len(store_threads()) == 1
    assert store_threads() == []


async def test_driver_errors_become_database_errors(db: Database) -> None:
    async with db.bridge(migrate=False) as bridge:
        with pytest.raises(DatabaseError):
            await bridge.run(scalar, "SELECT * FROM no_such_table")
        assert await bridge.run(scalar, "SELECT 1") == 1  # the bridge goes on


async def test_concurrent_calls(db: Database) -> None:
    results: list[object] = []
    async with db.bridge(migrate=False) as bridge, trio.open_nursery() as nursery:
        for i in range(20):
            nursery.start_soon(lambda i=i: _append(bridge, i, results))
    assert sorted(results) == list(range(20))  # type: ignore[type-var]


async def _append(bridge: object, i: int, results: list[object]) -> None:
    results.append(await bridge.run(scalar, f"SELECT {i}"))  # type: ignore[attr-defined]


async def test_cancelling_the_caller_stops_the_statement(db: Database) -> None:
    async with db.bridge(migrate=False) as bridge:
        start = time.monotonic()
        with trio.move_on_after(0.5) as scope:
            await bridge.run(scalar, SLOW[db.dialect])
        assert scope.cancelled_caught
        # The cancelled call returned only after its asyncio task had ended, quickly.
        assert time.monotonic() - start < 5
        if db.dialect == "postgresql":
            assert await bridge.run(running_sleeps) == 0
        assert await bridge.run(scalar, "SELECT 7") == 7
    assert store_threads() == []


async def test_cancelling_the_whole_bridge_leaks_no_thread(db: Database) -> None:
    with trio.move_on_after(0.5):
        async with db.bridge(migrate=False) as bridge:
            await bridge.run(scalar, SLOW[db.dialect])
    assert store_threads() == []
    if db.dialect == "postgresql":
        async with db.bridge(migrate=False) as bridge:
            assert await bridge.run(running_sleeps) == 0


async def test_a_closed_bridge_refuses_calls(db: Database) -> None:
    async with db.bridge(migrate=False) as bridge:
        pass
    with pytest.raises(StoreError):
        await bridge.run(scalar, "SELECT 1")


async def test_an_unreachable_database_is_a_database_error(tmp_path: object) -> None:
    async with open_bridge("postgresql+asyncpg://nobody@127.0.0.1:1/none") as bridge:
        with pytest.raises(DatabaseError):
            await bridge.run(scalar, "SELECT 1")
    assert store_threads() == []
