"""Candles aggregated from the trades table in SQL: each symbol's minutes at start
(`exchange.store.snapshot`), and the second candles older than memory holds, when asked
for (`symbol_candles`, through the bridge)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.schema import trades


def candles_select(width: int, *where: ColumnElement[bool]) -> Select[Any]:
    """The candles `width` microseconds wide of the trades `where` selects: [symbol, start,
    open, high, low, close, volume, trades, first trade id, last trade id] per symbol and
    bucket; the open and the close are the prices of its first and last trade."""
    start = (trades.c.ts - trades.c.ts % width).label("start")
    bucket = (select(trades.c.symbol, start,
                     func.min(trades.c.trade_id).label("first"),
                     func.max(trades.c.trade_id).label("last"),
                     func.max(trades.c.price).label("high"),
                     func.min(trades.c.price).label("low"),
                     func.sum(trades.c.quantity).label("volume"),
                     func.count().label("count"))
              .where(*where)
              .group_by(trades.c.symbol, start).subquery())
    first, last = trades.alias("first_trade"), trades.alias("last_trade")
    return (select(bucket.c.symbol, bucket.c.start, first.c.price, bucket.c.high,
                   bucket.c.low, last.c.price, bucket.c.volume, bucket.c["count"],
                   bucket.c["first"], bucket.c["last"])
            .join(first, first.c.trade_id == bucket.c["first"])
            .join(last, last.c.trade_id == bucket.c["last"]))


async def symbol_candles(engine: AsyncEngine, symbol: str, width: int, ids: tuple[int, int],
                         start: int | None, end: int, limit: int, newest: bool
                         ) -> list[list[int]]:
    """Up to `limit` of the symbol's candles `width` wide in [start, end) made of the trades
    with ids in `ids` (first, last: one range scan of (symbol, trade_id)), oldest first:
    the newest or (`newest` False) the oldest of them."""
    where = [trades.c.symbol == symbol, trades.c.trade_id.between(*ids), trades.c.ts < end]
    if start is not None:
        where.append(trades.c.ts >= start - start % width)
    statement = candles_select(width, *where)
    column = statement.selected_columns[1]
    statement = statement.order_by(column.desc() if newest else column).limit(limit)
    async with engine.connect() as conn:
        rows = [[int(value) for value in row[1:]] for row in await conn.execute(statement)]
    if newest:
        rows.reverse()
    return rows
