"""The tables read back at start, in the order the read model needs them, and the readiness
ping. The store hands out rows; what they become is the pipeline's business (a `Visitor`),
so no SQL lives above this package."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import RowMapping, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.schema import accounts, balances, instruments, orders, rounds, trades

Row = RowMapping  # read by column name: row["symbol"]


class Visitor(Protocol):
    def instrument(self, row: Row) -> None: ...
    def account(self, row: Row) -> None: ...
    def balance(self, row: Row) -> None: ...
    def round(self, row: Row) -> None: ...
    def order(self, row: Row) -> None: ...
    def trade(self, row: Row) -> None: ...


async def read_snapshot(engine: AsyncEngine, visitor: Visitor) -> None:
    """Every row the read model is built from, in one transaction (runs on the store's
    loop). Rounds come before trades, so each trade counts for its account's epoch or not;
    orders and trades stream in key order."""
    async with engine.connect() as conn, conn.begin():
        for row in (await conn.execute(select(instruments))).mappings():
            visitor.instrument(row)
        for row in (await conn.execute(select(accounts))).mappings():
            visitor.account(row)
        for row in (await conn.execute(select(balances))).mappings():
            visitor.balance(row)
        for row in (await conn.execute(select(rounds).order_by(rounds.c.round_id))).mappings():
            visitor.round(row)
        result = await conn.stream(select(orders).order_by(orders.c.order_id))
        async for row in result.mappings():
            visitor.order(row)
        result = await conn.stream(select(trades).order_by(trades.c.trade_id))
        async for row in result.mappings():
            visitor.trade(row)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
