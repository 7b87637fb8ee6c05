"""Telling transient database failures (retry) from permanent ones (stop): real errors from
SQLite and PostgreSQL, through the bridge's one translation (`map_database_errors`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.engine import Engine
from exchange.engine.events import AccountCreated
from exchange.store.bridge import Bridge, open_bridge
from exchange.store.errors import DatabaseError, is_transient
from exchange.store.ledger import Ledger
from exchange.store.rows import AccountInfo
from exchange.store.writes import write

from .conftest import Database
from .streams import StreamMaker

Statement = str | tuple[str, dict[str, object]]  # SQL, or SQL and its parameters


def statements(*sql: Statement) -> Callable[[AsyncEngine], object]:
    async def run(engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            for statement in sql:
                query, params = (statement, {}) if isinstance(statement, str) else statement
                await conn.execute(text(query), params)

    return run


async def failure(bridge: Bridge, fn: Callable[[AsyncEngine], object]) -> DatabaseError:
    with pytest.raises(DatabaseError) as caught:
        await bridge.run(fn)  # type: ignore[arg-type]
    return caught.value


def _raise(errcode: str) -> str:
    return f"DO $$ BEGIN RAISE EXCEPTION 'planted' USING ERRCODE = '{errcode}'; END $$"


POSTGRES_TRANSIENT: dict[str, list[Statement]] = {
    "serialization failure": [_raise("serialization_failure")],
    "deadlock": [_raise("deadlock_detected")],
    "too many connections": [_raise("too_many_connections")],
    "cannot connect now": [_raise("cannot_connect_now")],
    "statement timeout": ["SET statement_timeout = 10", "SELECT pg_sleep(1)"],
    "connection terminated": ["SELECT pg_terminate_backend(pg_backend_pid())"],
}
POSTGRES_PERMANENT: dict[str, list[Statement]] = {
    "NUL byte": ["CREATE TEMP TABLE t (s text)", ("INSERT INTO t VALUES (:s)", {"s": "a\x00b"})],
    "out of range": ["CREATE TEMP TABLE t (i bigint)", ("INSERT INTO t VALUES (:i)", {"i": 2**70})],
    "numeric out of range": ["CREATE TEMP TABLE t (i int)", "INSERT INTO t VALUES (2^40)"],
    "string too long": ["CREATE TEMP TABLE t (s varchar(2))", "INSERT INTO t VALUES ('abc')"],
    "unique violation": ["CREATE TEMP TABLE t (i int primary key)",
                         "INSERT INTO t VALUES (1), (1)"],
    "undefined table": ["SELECT * FROM no_such_table"],
}


@pytest.mark.parametrize("name", sorted(POSTGRES_TRANSIENT))
async def test_postgres_transient_failures(pg_db: Database, name: str) -> None:
    async with pg_db.bridge(migrate=False) as bridge:
        error = await failure(bridge, statements(*POSTGRES_TRANSIENT[name]))
    assert error.transient, error


@pytest.mark.parametrize("name", sorted(POSTGRES_PERMANENT))
async def test_postgres_permanent_failures(pg_db: Database, name: str) -> None:
    async with pg_db.bridge(migrate=False) as bridge:
        error = await failure(bridge, statements(*POSTGRES_PERMANENT[name]))
    assert not error.transient, error


async def test_a_refused_connection_is_transient() -> None:
    async with open_bridge("postgresql+asyncpg://postgres@127.0.0.1:1/test") as bridge:
        error = await failure(bridge, statements("SELECT 1"))
    assert error.transient, error


def test_a_locked_sqlite_database_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (i int)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError) as caught:
            other.execute("SELECT * FROM t")
        assert is_transient(caught.value)
    finally:
        other.close()
        holder.close()


def test_sqlite_data_and_programming_errors_are_permanent() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (i int primary key)")
    for statement in ["INSERT INTO t VALUES (1), (1)", "SELECT * FROM no_such_table"]:
        with pytest.raises(sqlite3.Error) as caught:
            conn.execute(statement)
        assert not is_transient(caught.value), caught.value
    conn.close()


# -- A PLANTED BAD WRITE SET (past the web's validation, as a bug would let it) --


def _setup(maker: StreamMaker, engine: Engine, ledger: Ledger) -> tuple[list[object], int]:
    events = [event for command in maker.setup() for event in engine.handle(command)]
    created = next(e for e in events if type(e) is AccountCreated)
    return events, created.account_id


async def test_a_duplicate_row_in_a_write_set_is_permanent(db: Database) -> None:
    maker, engine, ledger = StreamMaker(1), Engine(), Ledger()
    events, account_id = _setup(maker, engine, ledger)
    async with db.bridge() as bridge:
        await bridge.run(write, ledger.build([events]))  # type: ignore[list-item]
        replayed = [e for e in events if type(e) is AccountCreated][:1]
        with pytest.raises(DatabaseError) as caught:
            await bridge.run(write, ledger.build([replayed]))  # type: ignore[list-item]
    assert not caught.value.transient, caught.value
    assert account_id == replayed[0].account_id  # type: ignore[attr-defined]


async def test_a_nul_in_a_stored_string_is_permanent_on_postgres(pg_db: Database) -> None:
    maker, engine, ledger = StreamMaker(2), Engine(), Ledger()
    events, account_id = _setup(maker, engine, ledger)
    async with pg_db.bridge() as bridge:
        await bridge.run(write, ledger.build([events]))  # type: ignore[list-item]
        bad = ledger.build([[]], [AccountInfo(account_id, "a\x00b")])
        with trio.fail_after(10), pytest.raises(DatabaseError) as caught:
            await bridge.run(write, bad)
    assert not caught.value.transient
    assert "0x00" in str(caught.value)
