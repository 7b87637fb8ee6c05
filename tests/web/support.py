"""A real server on an ephemeral port inside the test's nursery, and clients for it."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trio

from exchange.app.runtime import Server, serve_exchange
from exchange.client import ExchangeClient
from exchange.pipeline.config import Settings
from exchange.pipeline.journal import Journal

ADMIN_TOKEN = "test-admin-token"
# A fixed server key: a test on PostgreSQL would otherwise make `exchange.key` in the working
# directory (the key file's default away from SQLite).
SERVER_KEY = "Zm9yIHRlc3RzIG9ubHk6IG5vdCBhIHJlYWwga2V5ISE="
PG_ADMIN_URL = os.environ.get(
    "EXCHANGE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
_databases = itertools.count()


async def postgres_admin(statements: list[str]) -> None:
    """Runs statements outside a transaction on the PostgreSQL test server."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncEngine

    from exchange.store.bridge import open_bridge

    async def run(engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                await conn.execute(text(statement))

    async with open_bridge(PG_ADMIN_URL) as bridge:
        await bridge.run(run)


async def postgres_url(name: str, template: str | None = None) -> str:
    """A fresh database `name` on the test server (a copy of `template` if given), or the
    test is skipped (fails under `CI=true`: CI must exercise PostgreSQL)."""
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        await postgres_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                              f'CREATE DATABASE "{name}"{copy}'])
    except Exception as exc:  # no server here: these tests need one
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unavailable: {exc} (CI must run the PostgreSQL tests)")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


class Templates:
    """Migrated empty databases, made once per session and copied for each test (a copy
    is much faster than running the migrations again)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sqlite: Path | None = None
        self.postgres: str | None = None
        self.postgres_error: str | None = None

    async def sqlite_file(self) -> Path:
        if self.sqlite is None:
            from exchange.store.migrate import upgrade

            path = self.root / "template.db"
            await trio.to_thread.run_sync(upgrade, f"sqlite+aiosqlite:///{path}")
            self.sqlite = path
        return self.sqlite

    async def postgres_name(self) -> str:
        if self.postgres is None and self.postgres_error is None:
            from exchange.store.migrate import upgrade

            name = f"exchange_template_{os.getpid()}"
            try:
                url = await postgres_url(name)
                await trio.to_thread.run_sync(upgrade, url)
                self.postgres = name
            except pytest.skip.Exception as exc:
                self.postgres_error = str(exc)
        if self.postgres is None:
            pytest.skip(self.postgres_error or "PostgreSQL unavailable")
        return self.postgres

    def close(self) -> None:
        if self.postgres is not None:
            trio.run(postgres_admin, [f'DROP DATABASE IF EXISTS "{self.postgres}" WITH (FORCE)'])


async def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        name = url.rsplit("/", 1)[1]
        await postgres_admin([f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'])


async def database_url_for(kind: str, tmp_path: Path, templates: Templates) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        path = tmp_path / "exchange.db"
        shutil.copyfile(await templates.sqlite_file(), path)
        return f"sqlite+aiosqlite:///{path}"
    return await postgres_url(f"exchange_test_{os.getpid()}_{next(_databases)}",
                              await templates.postgres_name())


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "host": "127.0.0.1", "port": 0, "database_url": "memory://",
        "admin_token": ADMIN_TOKEN, "rate_limit": 0, "shutdown_timeout": 5.0,
        "server_key": SERVER_KEY,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass(eq=False)
class Trader:
    client: ExchangeClient
    account_id: int
    api_key: str


@dataclass(eq=False)
class Exchange:
    server: Server
    admin: ExchangeClient
    traders: list[Trader] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    async def instrument(self, symbol: str = "BTC-USD", *, tick: str = "0.01",
                         lot: str = "0.001", maker: str = "0.001", taker: str = "0.002",
                         **extra: Any) -> dict[str, Any]:
        base, quote = symbol.split("-")
        return await self.admin.create_instrument(
            symbol, base, quote, tick_size=tick, lot_size=lot, maker_fee_rate=maker,
            taker_fee_rate=taker, **extra,
        )

    async def trader(self, name: str = "trader", **funds: str) -> Trader:
        created = await self.admin.create_account(name)
        for asset, amount in funds.items():
            await self.admin.deposit(created["account_id"], asset, amount)
        trader = Trader(self.admin.with_key(created["api_key"]), created["account_id"],
                        created["api_key"])
        self.traders.append(trader)
        return trader


async def start_exchange(nursery: trio.Nursery, *, journal: Journal | None = None,
                         **overrides: Any) -> Exchange:
    server: Server = await nursery.start(
        lambda task_status: serve_exchange(make_settings(**overrides), journal=journal,
                                           task_status=task_status)
    )
    return Exchange(server, ExchangeClient(server.url, admin_token=ADMIN_TOKEN))


@contextmanager
def threaded_exchange(**overrides: Any) -> Iterator[str]:
    """A real server in a thread of its own (its own Trio loop), for synchronous tests such
    as Hypothesis's `@given` ones; yields its URL and shuts it down cleanly after."""
    started = threading.Event()
    found: dict[str, Any] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            server: Server = await nursery.start(
                lambda task_status: serve_exchange(make_settings(**overrides),
                                                   task_status=task_status))
            found["server"] = server
            found["token"] = trio.lowlevel.current_trio_token()
            started.set()

    def run() -> None:
        try:
            trio.run(main)
        except BaseException as exc:  # reported by the test thread
            found["error"] = exc
            started.set()

    thread = threading.Thread(target=run, name="exchange-server", daemon=True)
    thread.start()
    started.wait(60)
    if "server" not in found:
        raise RuntimeError(f"the server did not start: {found.get('error')!r}")
    try:
        yield found["server"].url
    finally:
        trio.from_thread.run_sync(found["server"].shutdown, trio_token=found["token"])
        thread.join(30)
        if "error" in found:
            raise found["error"]
