"""Schema migrations (Alembic, `migrations/` at the repository root).

`upgrade(url)` brings a database to the newest revision from synchronous code (the
`exchange migrate` command); `upgrade_engine(engine)` does the same from a coroutine on the
bridge's loop (a server applying migrations at start).
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.database import database_url
from exchange.store.errors import StoreError

MIGRATIONS_ENV = "EXCHANGE_MIGRATIONS"


def migrations_dir() -> Path:
    """`$EXCHANGE_MIGRATIONS`, else `migrations/` of the source tree this package runs from."""
    configured = os.environ.get(MIGRATIONS_ENV)
    path = Path(configured) if configured else Path(__file__).resolve().parents[3] / "migrations"
    if not (path / "env.py").is_file():
        raise StoreError(f"no Alembic migrations at {path} (set {MIGRATIONS_ENV})")
    return path


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> str | None:
    """Migrates the database at `url` (default: `database_url()`) to `revision`; returns the
    revision it is at afterwards. Call it from a thread without a running asyncio loop."""
    config = alembic_config(url)
    command.upgrade(config, revision)
    return head_revision()


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Migrates the database of `engine` (a coroutine for the engine's own loop)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))

    def run(connection: Connection) -> str | None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.begin() as conn:
        return await conn.run_sync(run)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
