"""Reading history in pages: trades and orders by id, through the bridge, in constant memory.

The API's history beyond what the read model keeps in memory comes from the second half
(`account_orders`, `account_fills`, `symbol_trades`, `order_by_id`, `order_by_client_id`),
each one index range scan in id order, newest or oldest first.

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
from exchange.store.span import Span


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


# -- THE API'S HISTORY (`exchange.pipeline.history`) --

CLOSED = ("filled", "cancelled", "expired", "rejected")
OPEN = ("pending", "new", "partially_filled")


def _spanned(table: Table, key: str, time_column: str, span: Span
             ) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if span.above is not None:
        clauses.append(table.c[key] > span.above)
    if span.below is not None:
        clauses.append(table.c[key] < span.below)
    if span.start is not None:
        clauses.append(table.c[time_column] >= span.start)
    if span.end is not None:
        clauses.append(table.c[time_column] < span.end)
    return clauses


async def account_orders(engine: AsyncEngine, account_id: int, symbol: str | None,
                         status: str, span: Span) -> list[RowMapping]:
    """An account's orders in `span`, by order id (descending when `span.newest`);
    `status` is `open`, `closed` or `all`. One range scan of (account_id, order_id)."""
    key = orders.c.order_id
    where = [orders.c.account_id == account_id, *_spanned(orders, "order_id", "created_at",
                                                         span)]
    if symbol is not None:
        where.append(orders.c.symbol == symbol)
    if status != "all":
        where.append(orders.c.status.in_(CLOSED if status == "closed" else OPEN))
    statement = (select(orders).where(*where)
                 .order_by(key.desc() if span.newest else key).limit(span.limit))
    async with engine.connect() as conn:
        return list((await conn.execute(statement)).mappings())


async def order_by_id(engine: AsyncEngine, order_id: int) -> RowMapping | None:
    async with engine.connect() as conn:
        return (await conn.execute(
            select(orders).where(orders.c.order_id == order_id))).mappings().first()


async def order_by_client_id(engine: AsyncEngine, account_id: int, client_order_id: str
                             ) -> RowMapping | None:
    """The account's first top-level order with this client_order_id (a bracket's children
    inherit it and do not count)."""
    statement = (select(orders)
                 .where(orders.c.account_id == account_id,
                        orders.c.client_order_id == client_order_id,
                        orders.c.parent_order_id.is_(None))
                 .order_by(orders.c.order_id).limit(1))
    async with engine.connect() as conn:
        return (await conn.execute(statement)).mappings().first()


async def symbol_trades(engine: AsyncEngine, symbol: str, span: Span) -> list[RowMapping]:
    """A symbol's public trades in `span`, by trade id: one range scan of (symbol,
    trade_id)."""
    key = trades.c.trade_id
    statement = (select(trades)
                 .where(trades.c.symbol == symbol, *_spanned(trades, "trade_id", "ts", span))
                 .order_by(key.desc() if span.newest else key).limit(span.limit))
    async with engine.connect() as conn:
        return list((await conn.execute(statement)).mappings())


async def account_fills(engine: AsyncEngine, account_id: int, symbol: str | None,
                        order_id: int | None, span: Span) -> list[tuple[RowMapping, bool]]:
    """An account's fills in `span` as (trade row, maker?), by trade id, and within one
    trade (a self-trade is two fills) the maker's first in time order: the maker side and
    the taker side are two ordered index range scans, merged here, never an OR that would
    make the database sort every matching row."""
    sides = []
    for maker in (True, False):
        account_column = trades.c.maker_account_id if maker else trades.c.taker_account_id
        order_column = trades.c.maker_order_id if maker else trades.c.taker_order_id
        where = [account_column == account_id, *_spanned(trades, "trade_id", "ts", span)]
        if symbol is not None:
            where.append(trades.c.symbol == symbol)
        if order_id is not None:
            where.append(order_column == order_id)
        key = trades.c.trade_id
        sides.append(select(trades).where(*where)
                     .order_by(key.desc() if span.newest else key).limit(span.limit))
    async with engine.connect() as conn:
        makers = [(row, True) for row in (await conn.execute(sides[0])).mappings()]
        takers = [(row, False) for row in (await conn.execute(sides[1])).mappings()]
    # In time order a trade's maker fill comes first; newest first reverses that.
    both = sorted(makers + takers, key=lambda item: (item[0]["trade_id"], not item[1]),
                  reverse=span.newest)
    return both[:span.limit]
