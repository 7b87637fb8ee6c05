"""Writing a `WriteSet` in one transaction (runs on the bridge's asyncio loop).

The portable path uses SQLAlchemy Core executemany statements, with each dialect's
`INSERT .. ON CONFLICT DO UPDATE` for upserts (PostgreSQL and SQLite spell it the same way).
On PostgreSQL the bulk of the rows takes the asyncpg fast path in `exchange.store.pg`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from exchange.store import pg
from exchange.store.rows import (
    ACCOUNT_COLUMNS,
    BALANCE_COLUMNS,
    INSTRUMENT_COLUMNS,
    ORDER_COLUMNS,
    ORDER_UPDATE_COLUMNS,
    ROUND_COLUMNS,
    STANDING_COLUMNS,
    STATE_HASH,
    STATE_HASH_WRITES,
    TRADE_COLUMNS,
    TRANSFER_COLUMNS,
    WRITES,
    WriteSet,
    stored_state_hash,
)
from exchange.store.schema import (
    accounts,
    balances,
    counters,
    instruments,
    orders,
    rounds,
    standings,
    trades,
    transfers,
)

IN_CHUNK = 500  # ids per IN list: far below the drivers' bound parameters (asyncpg 32767)


async def write(engine: AsyncEngine, ws: WriteSet, *, retry: bool = False,
                fast: bool = True) -> float | None:
    """Commits `ws` in one transaction and returns the seconds its COMMIT took (the flush to
    disk). Returns None when a retry finds that an earlier attempt of the same write set had
    committed after all (its acknowledgement was lost)."""
    async with engine.connect() as conn:
        try:
            transaction = await conn.begin()
            if retry and await committed_writes(conn) >= ws.seq:
                await transaction.rollback()
                return None
            # The counters go first: on asyncpg, SQLAlchemy opens the transaction on the
            # first statement, and the fast path's statements must run inside it.
            await _upsert(conn, counters, ("name", "value"), ws.counters, ("name",))
            await _write_reference(conn, ws)
            if fast and conn.dialect.name == "postgresql":
                await pg.write(conn, ws)
            else:
                await _write_bulk(conn, ws)
            start = time.perf_counter()
            await transaction.commit()
            return time.perf_counter() - start
        except BaseException:
            # The connection's state is unknown (a statement may have been cut off): never
            # give it back to the pool.
            if not conn.invalidated:
                await conn.invalidate()
            raise


async def write_state_hash(engine: AsyncEngine, digest: str) -> None:
    """Stores a clean shutdown's state hash, stamped with the `writes` count it is the
    state of (the writer has drained: nothing writes after it)."""
    async with engine.begin() as conn:
        writes = await committed_writes(conn)
        await _upsert(conn, counters, ("name", "value"),
                      [(STATE_HASH, stored_state_hash(digest)), (STATE_HASH_WRITES, writes)],
                      ("name",))


async def committed_writes(conn: AsyncConnection) -> int:
    value = await conn.scalar(select(counters.c.value).where(counters.c.name == WRITES))
    return int(value or 0)


async def _write_reference(conn: AsyncConnection, ws: WriteSet) -> None:
    """Instruments and accounts: few rows, the same statements everywhere."""
    await _upsert(conn, instruments, INSTRUMENT_COLUMNS, ws.instruments, ("symbol",))
    await _insert(conn, accounts, ACCOUNT_COLUMNS, ws.accounts)
    await _upsert(conn, accounts, ACCOUNT_COLUMNS, ws.account_infos, ("account_id",),
                  keep=("created_at",))
    if ws.house:
        await conn.execute(
            update(accounts).where(accounts.c.account_id == bindparam("b_account_id"))
            .values(house=bindparam("b_house")),
            _dicts(("account_id", "house"), ws.house, prefix="b_"),
        )
    await _insert(conn, rounds, ROUND_COLUMNS, ws.rounds)
    cleared = ws.cleared_standings
    for start in range(0, len(cleared), IN_CHUNK):  # a round of any size: bounded IN lists
        await conn.execute(delete(standings)
                           .where(standings.c.account_id.in_(cleared[start:start + IN_CHUNK])))
    await _upsert(conn, standings, STANDING_COLUMNS, ws.standings, ("account_id", "symbol"))


async def _write_bulk(conn: AsyncConnection, ws: WriteSet) -> None:
    await _insert(conn, transfers, TRANSFER_COLUMNS, ws.transfers)
    await _insert(conn, orders, ORDER_COLUMNS, ws.new_orders)
    if ws.changed_orders:
        statement = (
            update(orders)
            .where(orders.c.order_id == bindparam("b_order_id"))
            .values({name: bindparam(f"b_{name}") for name in ORDER_UPDATE_COLUMNS[1:]})
        )
        await conn.execute(statement, _dicts(ORDER_UPDATE_COLUMNS, ws.changed_orders,
                                             prefix="b_"))
    await _insert(conn, trades, TRADE_COLUMNS, ws.trades)
    await _insert(conn, balances, BALANCE_COLUMNS, ws.new_balances)
    if ws.balances:
        statement = (
            update(balances)
            .where(balances.c.account_id == bindparam("b_account_id"))
            .where(balances.c.asset == bindparam("b_asset"))
            .values({name: bindparam(f"b_{name}") for name in BALANCE_COLUMNS[2:]})
        )
        await conn.execute(statement, _dicts(BALANCE_COLUMNS, ws.balances, prefix="b_"))


async def _insert(conn: AsyncConnection, table: Table, columns: Sequence[str],
                  rows: Sequence[tuple[object, ...]]) -> None:
    if rows:
        await conn.execute(insert(table), _dicts(columns, rows))


async def _upsert(conn: AsyncConnection, table: Table, columns: Sequence[str],
                  rows: Sequence[tuple[object, ...]], key: Sequence[str],
                  keep: Sequence[str] = ()) -> None:
    if not rows:
        return
    dialect_insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key),
        set_={
            name: statement.excluded[name]
            for name in columns
            if name not in key and name not in keep
        },
    )
    await conn.execute(statement, _dicts(columns, rows))


def _dicts(columns: Sequence[str], rows: Sequence[tuple[object, ...]],
           prefix: str = "") -> list[dict[str, Any]]:
    names = [prefix + name for name in columns]
    return [dict(zip(names, row, strict=True)) for row in rows]
