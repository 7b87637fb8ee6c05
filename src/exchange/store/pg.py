"""PostgreSQL's fast path for a write set, on the asyncpg connection under SQLAlchemy's.

New rows (orders, trades, transfers, balances) go in with binary `COPY` (`copy_records_to_table`);
changed orders and balances with one UPDATE each over `unnest()`ed arrays, so a write of
thousands of rows is a handful of round trips instead of one per row. It runs inside the
transaction SQLAlchemy has begun on the same connection; rare rows (instruments, accounts)
take the portable statements (`exchange.store.writes`).

Recovery reads the open orders here too (`open_orders`): 100,000 rows decode twice as fast
as through SQLAlchemy's result processing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.store.rows import (
    BALANCE_COLUMNS,
    ORDER_COLUMNS,
    ORDER_UPDATE_COLUMNS,
    TRADE_COLUMNS,
    TRANSFER_COLUMNS,
    WriteSet,
)
from exchange.store.schema import OPEN_STATUSES, ExactInt, balances, orders, trades, transfers

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]


def _unnest(table: Table, columns: Sequence[str]) -> str:
    """`unnest($1::T1[], $2::T2[], ...) AS u(c1, c2, ...)`, typed from the table."""
    arrays = ", ".join(
        f"${i}::{table.c[name].type.compile(dialect=_DIALECT)}[]"
        for i, name in enumerate(columns, start=1)
    )
    return f"unnest({arrays}) AS u({', '.join(columns)})"


_UPDATE_ORDERS = (
    "UPDATE orders AS o SET "
    + ", ".join(f"{name} = u.{name}" for name in ORDER_UPDATE_COLUMNS[1:])
    + f" FROM {_unnest(orders, ORDER_UPDATE_COLUMNS)} WHERE o.order_id = u.order_id"
)

_UPDATE_BALANCES = (
    "UPDATE balances AS b SET "
    + ", ".join(f"{name} = u.{name}" for name in BALANCE_COLUMNS[2:])
    + f" FROM {_unnest(balances, BALANCE_COLUMNS)}"
    " WHERE b.account_id = u.account_id AND b.asset = u.asset"
)


_EXACT = [i for i, name in enumerate(ORDER_COLUMNS) if isinstance(orders.c[name].type, ExactInt)]
# NUMERIC comes back as text (exact, and far cheaper to decode than asyncpg's Decimals).
_OPEN_ORDERS = (
    "SELECT "
    + ", ".join(f"{name}::text" if i in _EXACT else name for i, name in enumerate(ORDER_COLUMNS))
    + " FROM orders WHERE status IN ("
    + ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    + ") ORDER BY priority"
)


async def open_orders(conn: AsyncConnection) -> list[tuple[Any, ...]]:
    """Every open or pending order in `ORDER_COLUMNS` order, by priority, in the transaction
    of `conn` (which must already have run a statement)."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    out = []
    for record in await driver.fetch(_OPEN_ORDERS):
        row = list(record)
        for i in _EXACT:
            if row[i] is not None:
                row[i] = int(row[i])
        out.append(tuple(row))
    return out


async def write(conn: AsyncConnection, ws: WriteSet) -> None:
    """Writes the bulk of `ws` (orders, trades, transfers, balances) on `conn`, whose
    transaction must already have run a statement."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    if not driver.is_in_transaction():
        raise RuntimeError("the fast path must run inside the write transaction")
    if ws.transfers:
        await driver.copy_records_to_table(
            transfers.name, records=ws.transfers, columns=TRANSFER_COLUMNS
        )
    if ws.new_orders:
        await driver.copy_records_to_table(
            orders.name, records=ws.new_orders, columns=ORDER_COLUMNS
        )
    if ws.trades:
        await driver.copy_records_to_table(trades.name, records=ws.trades, columns=TRADE_COLUMNS)
    if ws.new_balances:
        await driver.copy_records_to_table(
            balances.name, records=ws.new_balances, columns=BALANCE_COLUMNS
        )
    if ws.changed_orders:
        await driver.execute(_UPDATE_ORDERS, *_columns(ws.changed_orders, ORDER_UPDATE_COLUMNS))
    if ws.balances:
        await driver.execute(_UPDATE_BALANCES, *_columns(ws.balances, BALANCE_COLUMNS))


def _columns(rows: Sequence[tuple[object, ...]], names: Sequence[str]) -> list[list[object]]:
    """Rows to one list per column (the arrays `unnest` takes)."""
    columns = [list(column) for column in zip(*rows, strict=True)]
    assert len(columns) == len(names)
    return columns
