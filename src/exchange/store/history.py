"""Reading history in pages: trades and orders by id, through the bridge, in constant memory.

`page(engine, kind, filters, after, limit)` returns up to `limit` rows of `kind` ("trades" or
"orders") with ids above `after`, oldest first: keyset pagination on the primary key, so every
page is one index range scan however deep it is, and a caller that writes each page out
before asking for the next holds one page at a time (`exchange export`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import RowMapping, Table, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from exchange.store.schema import instruments, orders, trades


@dataclass(frozen=True, slots=True)
class Filters:
    """What to read: one symbol, one account (either side of a trade), and a time range
    `[since, until)` in microseconds (a trade's `ts`, an order's `created_at`)."""

    symbol: str | None = None
    account_id: int | None = None
    since: int | None = None
    until: int | None = None


_TABLES: dict[str, tuple[Table, str, str]] = {
    "trades": (trades, "trade_id", "ts"),
    "orders": (orders, "order_id", "created_at"),
}


def _where(kind: str, filters: Filters) -> list[ColumnElement[bool]]:
    table, _, time_column = _TABLES[kind]
    clauses: list[ColumnElement[bool]] = []
    if filters.symbol is not None:
        clauses.append(table.c.symbol == filters.symbol)
    if filters.account_id is not None:
        if kind == "trades":
            clauses.append(or_(trades.c.maker_account_id == filters.account_id,
                               trades.c.taker_account_id == filters.account_id))
        else:
            clauses.append(orders.c.account_id == filters.account_id)
    if filters.since is not None:
        clauses.append(table.c[time_column] >= filters.since)
    if filters.until is not None:
        clauses.append(table.c[time_column] < filters.until)
    return clauses


async def page(engine: AsyncEngine, kind: str, filters: Filters, after: int, limit: int
               ) -> list[RowMapping]:
    """Up to `limit` rows of `kind` matching `filters` with ids above `after`, by id."""
    table, key, _ = _TABLES[kind]
    statement = (select(table).where(table.c[key] > after, *_where(kind, filters))
                 .order_by(table.c[key]).limit(limit))
    async with engine.connect() as conn:
        return list((await conn.execute(statement)).mappings())


async def count(engine: AsyncEngine, kind: str, filters: Filters) -> int:
    """How many rows `page` would go through (for a progress bar)."""
    table, _, _ = _TABLES[kind]
    statement = select(func.count()).select_from(table).where(*_where(kind, filters))
    async with engine.connect() as conn:
        return int((await conn.execute(statement)).scalar_one())


async def instrument_rows(engine: AsyncEngine) -> list[RowMapping]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(instruments))).mappings())
