"""The tables read back at start, in the order the read model needs them, and the readiness
ping. The store hands out rows; what they become is the pipeline's business (a `Visitor`),
so no SQL lives above this package."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import RowMapping, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.schema import (
    OPEN_ORDER,
    accounts,
    balances,
    instruments,
    orders,
    rounds,
    trades,
)

Row = RowMapping  # read by column name: row["symbol"]


class Visitor(Protocol):
    def instrument(self, row: Row) -> None: ...
    def account(self, row: Row) -> None: ...
    def balance(self, row: Row) -> None: ...
    def round(self, row: Row) -> None: ...
    def order(self, row: Row) -> None: ...
    def trade(self, row: Row) -> None: ...
    def seams(self, order_id: int, trade_id: int) -> None: ...


async def read_snapshot(engine: AsyncEngine, visitor: Visitor) -> None:
    """Every row the read model is built from, in one transaction (runs on the store's
    loop): the open orders only (the rest is read when asked for), then every trade, in key
    order, for what is derived from them (candles, positions). Rounds come before trades,
    so each trade counts for its account's epoch or not. Last, the newest order and trade
    ids: memory holds nothing of the history up to them."""
    async with engine.connect() as conn, conn.begin():
        for row in (await conn.execute(select(instruments))).mappings():
            visitor.instrument(row)
        for row in (await conn.execute(select(accounts))).mappings():
            visitor.account(row)
        for row in (await conn.execute(select(balances))).mappings():
            visitor.balance(row)
        for row in (await conn.execute(select(rounds).order_by(rounds.c.round_id))).mappings():
            visitor.round(row)
        result = await conn.stream(select(orders).where(OPEN_ORDER).order_by(orders.c.order_id))
        async for row in result.mappings():
            visitor.order(row)
        result = await conn.stream(select(trades).order_by(trades.c.trade_id))
        async for row in result.mappings():
            visitor.trade(row)
        newest_order = (await conn.execute(select(func.max(orders.c.order_id)))).scalar()
        newest_trade = (await conn.execute(select(func.max(trades.c.trade_id)))).scalar()
        visitor.seams(int(newest_order or 0), int(newest_trade or 0))


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
