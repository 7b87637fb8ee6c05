"""The schema, its migrations and `exchange migrate`."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.cli import main
from exchange.store import rows
from exchange.store.migrate import head_revision, upgrade_engine
from exchange.store.recovery import recover
from exchange.store.schema import (
    accounts,
    balances,
    instruments,
    metadata,
    orders,
    rounds,
    trades,
    transfers,
)

from .conftest import Database


def test_row_tuples_name_existing_columns_in_table_order() -> None:
    assert tuple(column.name for column in orders.columns) == rows.ORDER_COLUMNS
    assert tuple(column.name for column in trades.columns) == rows.TRADE_COLUMNS
    assert tuple(column.name for column in balances.columns) == rows.BALANCE_COLUMNS
    # `house` has its own update (and a default for new accounts).
    assert tuple(c.name for c in accounts.columns if c.name != "house") == rows.ACCOUNT_COLUMNS
    assert tuple(column.name for column in rounds.columns) == rows.ROUND_COLUMNS
    assert tuple(column.name for column in instruments.columns) == rows.INSTRUMENT_COLUMNS
    assert set(rows.TRANSFER_COLUMNS) == {c.name for c in transfers.columns} - {"id"}
    assert set(rows.ORDER_UPDATE_COLUMNS) <= set(rows.ORDER_COLUMNS)


def test_no_float_columns() -> None:
    for table in metadata.tables.values():
        for column in table.columns:
            assert "FLOAT" not in repr(column.type).upper(), (table.name, column.name)


def _differences(sync_conn: Any) -> list[Any]:
    context = MigrationContext.configure(
        sync_conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


async def _diff(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return await conn.run_sync(_differences)


async def _drop_index(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("DROP INDEX ix_trades_symbol_trade_id"))


async def test_migrations_create_exactly_the_metadata(db: Database) -> None:
    async with db.bridge(migrate=False) as bridge:
        assert await bridge.run(upgrade_engine) == head_revision() == "0008"
        assert await bridge.run(_diff) == []
        # Applying them again changes nothing.
        assert await bridge.run(upgrade_engine) == "0008"
        # The comparison does see a difference when there is one.
        await bridge.run(_drop_index)
        assert await bridge.run(_diff) != []


async def _old_instrument(engine: AsyncEngine) -> None:
    """An instrument as a database at 0006 holds it (no filter columns)."""
    async with engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO instruments (symbol, base, quote, tick_size, lot_size, min_quantity, "
            "maker_fee_rate, taker_fee_rate, halted, created_at, updated_at) VALUES "
            "('OLD-USD', 'OLD', 'USD', '0.01', '0.001', 2, '0', '0.001', false, 5, 5)"
        ))


async def test_0007_leaves_existing_instruments_without_filters(db: Database) -> None:
    async with db.bridge(migrate=False) as bridge:
        assert await bridge.run(upgrade_engine, "0006") == "0006"
        await bridge.run(_old_instrument)
        assert await bridge.run(upgrade_engine) == "0008"
        assert await bridge.run(_diff) == []
        recovered = await recover(bridge)
        inst = recovered.engine.instruments["OLD-USD"]
        assert (inst.min_quantity, inst.min_notional, inst.max_quantity) == (2, 0, 0)
        assert not inst.filtered


def test_migrate_command_on_sqlite(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert main(["migrate", "--database-url", url]) == 0
    assert "0008" in capsys.readouterr().out
    assert main(["migrate", "--database-url", url]) == 0


def test_migrate_command_reports_a_bad_database_in_one_line(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}"
    assert main(["migrate", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("exchange migrate:")
    assert err.count("\n") == 1
