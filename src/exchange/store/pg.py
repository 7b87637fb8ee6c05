"""PostgreSQL's fast path for a write set, on the asyncpg connection under SQLAlchemy's.

New rows (orders, trades, transfers, balances) go in with binary `COPY`
(`copy_records_to_table`), changed orders and balances with one `UPDATE ... FROM unnest()`
each, so a write of thousands of rows is a handful of round trips instead of one per row.
It runs inside the transaction SQLAlchemy has begun on the same connection; rare rows
(instruments, accounts) take the portable statements (`exchange.store.writes`).

Recovery reads the open orders here too (`open_orders`): 100,000 rows decode twice as fast
as through SQLAlchemy's result processing.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
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


def _exact(table: Table, columns: Sequence[str]) -> list[int]:
    """Positions of the `ExactInt` (NUMERIC) columns among `columns`."""
    return [i for i, name in enumerate(columns) if isinstance(table.c[name].type, ExactInt)]


class _Update:
    """`UPDATE table SET ... FROM unnest($1::T1[], ...) WHERE <key matches>`: one statement
    for any number of rows, passed as one array per column.

    NUMERIC values travel as text and are cast by the server: asyncpg's encoding of Python
    ints as NUMERIC costs more than twice as much client CPU, spent inside the transaction."""

    def __init__(self, table: Table, columns: Sequence[str], key: Sequence[str]) -> None:
        self.exact = _exact(table, columns)
        arrays = ", ".join(
            f"${i + 1}::{'text' if i in self.exact else table.c[name].type.compile(_DIALECT)}[]"
            for i, name in enumerate(columns)
        )
        values = ", ".join(
            f"{name} = u.{name}::numeric" if i in self.exact else f"{name} = u.{name}"
            for i, name in enumerate(columns) if name not in key
        )
        match = " AND ".join(f"t.{name} = u.{name}" for name in key)
        self.sql = (
            f"UPDATE {table.name} AS t SET {values} "
            f"FROM unnest({arrays}) AS u({', '.join(columns)}) WHERE {match}"
        )

    def arguments(self, rows: Sequence[tuple[object, ...]]) -> list[list[object]]:
        columns = [list(column) for column in zip(*rows, strict=True)]
        for i in self.exact:
            columns[i] = [None if value is None else str(value) for value in columns[i]]
        return columns


_UPDATE_ORDERS = _Update(orders, ORDER_UPDATE_COLUMNS, ("order_id",))
_UPDATE_BALANCES = _Update(balances, BALANCE_COLUMNS, ("account_id", "asset"))

_EXACT = _exact(orders, ORDER_COLUMNS)
# NUMERIC comes back as text (exact, and far cheaper to decode than asyncpg's Decimals).
_OPEN_ORDERS = (
    "SELECT "
    + ", ".join(f"{name}::text" if i in _EXACT else name for i, name in enumerate(ORDER_COLUMNS))
    + " FROM orders WHERE status IN ("
    + ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    + ")"
)
_PRIORITY = ORDER_COLUMNS.index("priority")


async def open_orders(conn: AsyncConnection) -> list[tuple[Any, ...]]:
    """Every open or pending order in `ORDER_COLUMNS` order, by priority, in the transaction
    of `conn` (which must already have run a statement).

    Sorted here, not by the server: a million rows overflow PostgreSQL's default `work_mem`
    into an on-disk merge sort (2 s), while the heap order is already close to priority
    order, which Python's sort finishes in a fraction of that."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    out = []
    for record in await driver.fetch(_OPEN_ORDERS):
        row = list(record)
        for i in _EXACT:
            if row[i] is not None:
                row[i] = int(row[i])
        out.append(tuple(row))
    out.sort(key=itemgetter(_PRIORITY))
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
        await driver.execute(_UPDATE_ORDERS.sql, *_UPDATE_ORDERS.arguments(ws.changed_orders))
    if ws.balances:
        await driver.execute(_UPDATE_BALANCES.sql, *_UPDATE_BALANCES.arguments(ws.balances))
