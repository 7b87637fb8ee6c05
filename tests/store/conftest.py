"""Fixtures for the store's tests: one database per test, SQLite or PostgreSQL.

`db` is parametrized over both. SQLite gets a file in the test's tmp_path; PostgreSQL a schema
of its own in the `test` database (created if missing), dropped afterwards. PostgreSQL is
`$EXCHANGE_TEST_POSTGRES_URL`, by default postgres@127.0.0.1:5432/test with trust auth. When
no server answers, its tests are skipped with the reason, except under `CI=true`, where they
fail: CI must exercise PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from exchange.store.bridge import Bridge, open_bridge
from exchange.store.migrate import upgrade_engine

POSTGRES_URL = os.environ.get(
    "EXCHANGE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


@dataclass
class Database:
    """A database for one test: its URL, and for PostgreSQL the schema holding its tables."""

    dialect: str
    url: str
    schema: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @asynccontextmanager
    async def bridge(self, *, migrate: bool = True) -> AsyncIterator[Bridge]:
        async with open_bridge(self.url, **self.options) as bridge:
            if migrate:
                await bridge.run(upgrade_engine)
            yield bridge

    def argv(self) -> list[str]:
        """How a subprocess is told about this database."""
        return [self.url, self.schema or ""]


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _prepare_postgres(schema: str) -> None:
    database = make_url(POSTGRES_URL).database or "test"
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=3)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL, "postgres"), timeout=3)
        try:
            await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=3)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()


async def _drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=3)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def postgres_or_skip() -> None:
    """Skips (fails under CI) when PostgreSQL does not answer."""
    try:
        asyncio.run(_ping())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI must run the PostgreSQL tests)")
        pytest.skip(reason)


async def _ping() -> None:
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=3)
    except asyncpg.InvalidCatalogNameError:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL, "postgres"), timeout=3)
    except asyncpg.ObjectNotInPrerequisiteStateError:
        # An interrupted outage test left the database closed to connections.
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL, "postgres"), timeout=3)
        database = make_url(POSTGRES_URL).database or "test"
        await conn.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'exchange.db'}")
        return
    yield from _postgres_database()


@pytest.fixture
def pg_db() -> Iterator[Database]:
    """PostgreSQL only (outage tests)."""
    yield from _postgres_database()


def _postgres_database() -> Iterator[Database]:
    postgres_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_prepare_postgres(schema))
    try:
        yield Database("postgresql", POSTGRES_URL, schema, {"schema": schema})
    finally:
        asyncio.run(_drop_schema(schema))
