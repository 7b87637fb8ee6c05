"""Alembic's environment for the store: async drivers (asyncpg, aiosqlite) and its metadata.

`exchange.store.migrate` runs it either on a connection it passes in
(`config.attributes["connection"]`, for a caller already on an asyncio loop) or, from
synchronous code, on an engine of its own under `asyncio.run`.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from exchange.store.database import create_engine, database_url, dialect_name
from exchange.store.schema import metadata

config = context.config


def _url() -> str:
    return database_url(config.get_main_option("sqlalchemy.url") or None)


def _configure(dialect: str, **options: object) -> None:
    context.configure(
        target_metadata=metadata,
        compare_type=True,
        # SQLite alters tables by copying them: Alembic's batch mode does that for later
        # revisions.
        render_as_batch=dialect == "sqlite",
        **options,
    )


def run_migrations_offline() -> None:
    _configure(dialect_name(_url()), url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    _configure(connection.dialect.name, connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_engine(_url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    else:
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
