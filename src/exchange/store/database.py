"""Database URLs and the async engine for them (PostgreSQL via asyncpg, SQLite via aiosqlite).

Everything else in the store is the same code for both; the differences live here (URL
defaults, SQLite's pragmas) and in `exchange.store.pg` (the bulk-write fast path).
"""

from __future__ import annotations

import asyncio
import os
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from exchange.store.errors import StoreError

DEFAULT_URL = "sqlite+aiosqlite:///./exchange.db"
URL_ENV = "EXCHANGE_DATABASE_URL"

_DRIVERS = {"postgresql": "asyncpg", "postgres": "asyncpg", "sqlite": "aiosqlite"}


def database_url(url: str | None = None) -> str:
    """The URL to use: `url`, else `$EXCHANGE_DATABASE_URL`, else the embedded SQLite file.

    A URL without an async driver gets the default one (`postgresql://` becomes
    `postgresql+asyncpg://`, `sqlite://` becomes `sqlite+aiosqlite://`)."""
    return normalize_url(url or os.environ.get(URL_ENV) or DEFAULT_URL)


def normalize_url(url: str) -> str:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use postgresql:// or sqlite://")
    if "+" not in parsed.drivername:
        base = "sqlite" if backend == "sqlite" else "postgresql"
        parsed = parsed.set(drivername=f"{base}+{_DRIVERS[backend]}")
    return parsed.render_as_string(hide_password=False)


def check_url(value: str) -> None:
    """Raises ValueError (one line) unless `value` names a database the store speaks."""
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError as exc:
        raise ValueError(f"cannot parse database URL {value!r}") from exc
    if url.get_backend_name() not in ("sqlite", "postgresql", "postgres"):
        raise ValueError("use postgresql://... or sqlite://...")


def dialect_name(url: str) -> str:
    """`"postgresql"` or `"sqlite"` for a URL."""
    return make_url(normalize_url(url)).get_backend_name()


def create_engine(url: str, *, schema: str | None = None, **options: Any) -> AsyncEngine:
    """An `AsyncEngine` for `url`. Call it on the thread whose loop will use the engine.

    `schema` (PostgreSQL only) puts every table in that schema, through the connections'
    `search_path`: tests and benchmarks use it to keep out of each other's way. `options` go
    to SQLAlchemy's `create_async_engine`."""
    parsed: URL = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite_path(parsed)
        engine = create_async_engine(parsed, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        interrupter = _SqliteInterrupter()
        event.listen(engine.sync_engine.pool, "checkout", interrupter.checkout)
        event.listen(engine.sync_engine.pool, "checkin", interrupter.checkin)
        _interrupters[engine.sync_engine] = interrupter
        return engine
    settings: dict[str, Any] = {}
    if "poolclass" not in options:
        # No pre-ping (three round trips per checkout on asyncpg): after an outage the first
        # statement on a dead connection fails, SQLAlchemy then discards every pooled
        # connection, and the writer retries anyway.
        settings.update(pool_size=4, max_overflow=4)
    settings.update(options)
    connect_args: dict[str, Any] = {"timeout": 5, **options.get("connect_args", {})}
    if schema is not None:
        connect_args["server_settings"] = {
            **connect_args.get("server_settings", {}), "search_path": schema,
        }
    settings["connect_args"] = connect_args
    return create_async_engine(parsed, **settings)


def _check_sqlite_path(url: URL) -> None:
    """Refuses a file in a missing directory up front: SQLite would fail to open it anyway,
    and aiosqlite reports a failed open from its thread after the caller's loop may be gone."""
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        directory = Path(database).expanduser().resolve().parent
        if not directory.is_dir():
            raise StoreError(f"cannot open {database}: directory {directory} does not exist")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers work while the writer commits; synchronous=FULL makes each commit
    reach the disk before it is acknowledged, as PostgreSQL's default does."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=OFF")
    finally:
        cursor.close()


def interrupt_task(engine: AsyncEngine, task: asyncio.Task[Any]) -> None:
    """Interrupts the statement a cancelled task is running, where cancelling the task alone
    would not stop it: aiosqlite runs SQLite calls on a thread of its own, which asyncio
    cancellation cannot reach, while asyncpg cancels its query by itself."""
    interrupter = _interrupters.get(engine.sync_engine)
    if interrupter is not None:
        interrupter.interrupt(task)


_interrupters: weakref.WeakKeyDictionary[Any, _SqliteInterrupter] = weakref.WeakKeyDictionary()


class _SqliteInterrupter:
    """Which SQLite connections each asyncio task has checked out of the pool."""

    def __init__(self) -> None:
        self._by_task: dict[asyncio.Task[Any], list[Any]] = {}

    def checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._by_task.setdefault(task, []).append(dbapi_connection)

    def checkin(self, dbapi_connection: Any, _record: Any) -> None:
        for task, held in list(self._by_task.items()):
            if dbapi_connection in held:
                held.remove(dbapi_connection)
                if not held:
                    del self._by_task[task]

    def interrupt(self, task: asyncio.Task[Any]) -> None:
        for dbapi_connection in self._by_task.get(task, ()):
            # SQLAlchemy's adapter wraps aiosqlite's Connection, which wraps sqlite3's; only
            # the last has a synchronous, thread-safe interrupt().
            raw = getattr(getattr(dbapi_connection, "_connection", None), "_conn", None)
            if raw is not None:
                raw.interrupt()


async def analyze_tables(engine: AsyncEngine) -> None:
    """PostgreSQL's ANALYZE: fresh planner statistics after a bulk load (autovacuum gathers
    them on a server that has it on; without them a deep history page may be planned as a
    sort of the account's every order instead of a backward index range scan)."""
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
