"""The tables read back at start, in the order the read model needs them, and the readiness
ping. The store hands out rows; what they become is the pipeline's business (a `Visitor`),
so no SQL lives above this package."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, Protocol

from sqlalchemy import RowMapping, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.candles import candles_select
from exchange.store.rows import ORDER_COLUMNS
from exchange.store.schema import (
    OPEN_ORDER,
    accounts,
    balances,
    instruments,
    orders,
    rounds,
    standings,
    trades,
)

Row = RowMapping  # read by column name: row["symbol"]

MINUTE_US = 60_000_000
_ALL_MINUTES = candles_select(MINUTE_US)
# Each symbol's minute candles, oldest first.
_MINUTES = _ALL_MINUTES.order_by(*_ALL_MINUTES.selected_columns[:2])
_ORDER_ID = itemgetter(ORDER_COLUMNS.index("order_id"))


class Visitor(Protocol):
    def instrument(self, row: Row) -> None: ...
    def account(self, row: Row) -> None: ...
    def balance(self, row: Row) -> None: ...
    def round(self, row: Row) -> None: ...
    def order(self, row: Mapping[Any, Any]) -> None: ...
    def standing(self, row: Row) -> None: ...
    def minute(self, symbol: str, candle: list[int]) -> None: ...
    def seams(self, order_id: int, trade_id: int) -> None: ...


async def read_snapshot(engine: AsyncEngine, visitor: Visitor,
                        open_orders: Sequence[Sequence[Any]] | None = None) -> None:
    """Every row the read model is built from, in one transaction (runs on the store's
    loop), in proportion to open state, not to history: the open orders only (the rest is
    read when asked for), the standings the writer keeps (positions, fees, trade counts;
    after the rounds, which clear them), the minute candles the database aggregates from
    the trades, and last the newest order and trade ids: memory holds nothing of the
    history up to them.

    `open_orders`, when given, are the open orders recovery has just read (rows in
    `ORDER_COLUMNS` order): at start nothing writes in between, and a million rows are not
    read and decoded twice."""
    async with engine.connect() as conn, conn.begin():
        for row in (await conn.execute(select(instruments))).mappings():
            visitor.instrument(row)
        for row in (await conn.execute(select(accounts))).mappings():
            visitor.account(row)
        for row in (await conn.execute(select(balances))).mappings():
            visitor.balance(row)
        for row in (await conn.execute(select(rounds).order_by(rounds.c.round_id))).mappings():
            visitor.round(row)
        if open_orders is None:
            result = await conn.stream(
                select(orders).where(OPEN_ORDER).order_by(orders.c.order_id)
            )
            async for row in result.mappings():
                visitor.order(row)
        else:
            for values in sorted(open_orders, key=_ORDER_ID):
                visitor.order(dict(zip(ORDER_COLUMNS, values, strict=True)))
        for row in (await conn.execute(select(standings))).mappings():
            visitor.standing(row)
        for symbol, *candle in (await conn.execute(_MINUTES)).all():
            visitor.minute(symbol, [int(value) for value in candle])
        newest_order = (await conn.execute(select(func.max(orders.c.order_id)))).scalar()
        newest_trade = (await conn.execute(select(func.max(trades.c.trade_id)))).scalar()
        visitor.seams(int(newest_order or 0), int(newest_trade or 0))


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
