"""Recovery: rebuild the engine, and the writer's ledger, from what the database holds.

One read-only snapshot (a single transaction) loads instruments, accounts, balances, transfer
ids and totals, counters and every open or pending order in time priority;
`exchange.engine.restore` turns them into an engine in the state of the last committed write
(and runs the engine's self-check on it), and the same rows seed the writer's `Ledger`, so
writing resumes exactly where it stopped.

A clean shutdown stores the engine's state hash with the `writes` count (`write_state_hash`);
when the count is still the stored one, nothing was written since, and the rebuilt engine must
hash the same or recovery refuses it. After a crash there is no such hash to compare with.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import trio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.engine import Engine
from exchange.engine.restore import (
    BalanceRecord,
    Counters,
    InstrumentRecord,
    OrderFields,
    RestoreError,
    RoundRecord,
    restore,
)
from exchange.engine.state import DEFAULT_MAX_OPEN_ORDERS
from exchange.gctuning import collector_paused
from exchange.store import pg
from exchange.store.bridge import Bridge
from exchange.store.errors import RecoveryError
from exchange.store.ledger import Ledger
from exchange.store.rows import (
    DEPOSIT,
    INSTRUMENT_COLUMNS,
    LAST_PRICE,
    NEXT_ACCOUNT_ID,
    NEXT_ORDER_ID,
    NEXT_PRIORITY,
    NEXT_TRADE_ID,
    ORDER_COLUMNS,
    PENDING,
    SEQUENCE,
    STATE_HASH,
    STATE_HASH_WRITES,
    WRITES,
    OrderRow,
    stored_state_hash,
)
from exchange.store.schema import (
    OPEN_STATUSES,
    accounts,
    balances,
    counters,
    instruments,
    orders,
    rounds,
    standings,
    transfers,
)
from exchange.store.standings import Standing


@dataclass(slots=True)
class Snapshot:
    """The stored state recovery needs, as plain rows."""

    instruments: list[tuple[Any, ...]]
    accounts: list[int]
    balances: list[tuple[int, str, int, int]]
    transfer_ids: list[tuple[int, str]]
    counters: dict[str, int]
    orders: list[tuple[Any, ...]]  # open or pending, in ORDER_COLUMNS order, by priority
    deposited: dict[str, int] = field(default_factory=dict)  # per asset, every transfer
    withdrawn: dict[str, int] = field(default_factory=dict)
    house_accounts: list[int] = field(default_factory=list)
    rounds: list[RoundRecord] = field(default_factory=list)
    standings: dict[tuple[int, str], Standing] = field(default_factory=dict)


@dataclass(slots=True)
class Recovered:
    engine: Engine
    ledger: Ledger
    open_orders: int
    seconds: float
    verified: bool = False  # the state hash of the last clean shutdown matched
    order_rows: list[tuple[Any, ...]] = field(default_factory=list)  # the snapshot's

    def take_order_rows(self) -> list[tuple[Any, ...]]:
        """The open orders' rows as loaded (`ORDER_COLUMNS` order), handed over once: the
        read model is built from them, and then they are let go."""
        rows, self.order_rows = self.order_rows, []
        return rows


async def recover(bridge: Bridge, *, max_open_orders: int = DEFAULT_MAX_OPEN_ORDERS) -> Recovered:
    """Loads the snapshot through the bridge and rebuilds engine and ledger from it (in a
    worker thread: a large book takes a while). Raises `RecoveryError` if the stored state
    is inconsistent, `DatabaseError` if it cannot be read."""
    start = time.perf_counter()
    with collector_paused():
        snapshot = await bridge.run(load_snapshot)
        engine, ledger = await trio.to_thread.run_sync(rebuild, snapshot, max_open_orders)
        verified = await trio.to_thread.run_sync(verify_state_hash, engine, snapshot.counters)
    return Recovered(engine, ledger, len(snapshot.orders), time.perf_counter() - start,
                     verified, snapshot.orders)


def verify_state_hash(engine: Engine, stored: dict[str, int]) -> bool:
    """Compares the rebuilt engine with the state hash of the last clean shutdown, if
    nothing was written since (else returns False: there is nothing to compare with).
    Raises `RecoveryError` on a mismatch: the database changed behind the server's back."""
    if STATE_HASH not in stored or stored.get(STATE_HASH_WRITES) != stored.get(WRITES, 0):
        return False
    digest = engine.state_hash()
    if stored_state_hash(digest) != stored[STATE_HASH]:
        raise RecoveryError(
            f"the rebuilt engine (state hash {digest[:15]}) is not the one stopped cleanly "
            f"after write {stored.get(WRITES, 0)} (state hash {stored[STATE_HASH]:015x}): "
            "the database was changed outside the server; refusing to serve"
        )
    return True


async def load_snapshot(engine: AsyncEngine) -> Snapshot:
    """Reads everything in one transaction, so the parts agree with each other."""
    options: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "REPEATABLE READ"
    async with engine.connect() as conn:
        conn = await conn.execution_options(**options)
        async with conn.begin():
            inst_rows = (await conn.execute(
                select(*[instruments.c[name] for name in INSTRUMENT_COLUMNS])
            )).all()
            account_ids = (await conn.execute(select(accounts.c.account_id))).scalars().all()
            balance_rows = (await conn.execute(
                select(balances.c.account_id, balances.c.asset, balances.c.total,
                       balances.c.held)
            )).all()
            transfer_rows = (await conn.execute(
                select(transfers.c.account_id, transfers.c.transfer_id)
                .where(transfers.c.transfer_id.is_not(None))
            )).all()
            counter_rows = (await conn.execute(select(counters.c.name, counters.c.value))).all()
            house_ids = (await conn.execute(
                select(accounts.c.account_id).where(accounts.c.house)
            )).scalars().all()
            round_rows = (await conn.execute(
                select(rounds.c.round_id, rounds.c.account_ids, rounds.c.start_ts,
                       rounds.c.end_ts)
            )).all()
            standing_rows = (await conn.execute(select(standings))).mappings().all()
            # Summed here, not in SQL: SQLite keeps exact amounts as text.
            deposited: dict[str, int] = defaultdict(int)
            withdrawn: dict[str, int] = defaultdict(int)
            for asset, kind, amount in (await conn.execute(
                select(transfers.c.asset, transfers.c.kind, transfers.c.amount)
            )).all():
                (deposited if kind == DEPOSIT else withdrawn)[asset] += amount
            if conn.dialect.name == "postgresql":
                order_rows = await pg.open_orders(conn)
            else:
                order_rows = [tuple(row) for row in (await conn.execute(
                    select(*[orders.c[name] for name in ORDER_COLUMNS])
                    .where(orders.c.status.in_(OPEN_STATUSES))
                    .order_by(orders.c.priority)
                )).all()]
    return Snapshot(
        instruments=[tuple(row) for row in inst_rows],
        accounts=[int(account_id) for account_id in account_ids],
        balances=[(row[0], row[1], row[2], row[3]) for row in balance_rows],
        transfer_ids=[(row[0], row[1]) for row in transfer_rows],
        counters={name: int(value) for name, value in counter_rows},
        orders=order_rows,
        house_accounts=[int(account_id) for account_id in house_ids],
        rounds=[
            RoundRecord(round_id=int(row[0]), account_ids=tuple(json.loads(row[1])),
                        start=int(row[2]), end=int(row[3]))
            for row in round_rows
        ],
        deposited=dict(deposited),
        withdrawn=dict(withdrawn),
        standings={(int(row["account_id"]), row["symbol"]): Standing.from_row(row)
                   for row in standing_rows},
    )


def rebuild(snapshot: Snapshot, max_open_orders: int = DEFAULT_MAX_OPEN_ORDERS,
            ) -> tuple[Engine, Ledger]:
    """The engine and the writer's ledger for a snapshot (pure computation)."""
    with collector_paused():
        return _rebuild(snapshot, max_open_orders)


def _rebuild(snapshot: Snapshot, max_open_orders: int) -> tuple[Engine, Ledger]:
    stored = snapshot.counters
    order_rows = [OrderRow.from_tuple(row) for row in snapshot.orders]
    try:
        engine = restore(
            instruments=[_instrument(row, stored) for row in snapshot.instruments],
            accounts=snapshot.accounts,
            balances=[BalanceRecord(*row) for row in snapshot.balances],
            order_rows=_orders(snapshot.orders),
            transfer_ids=snapshot.transfer_ids,
            counters=Counters(
                next_order_id=stored.get(NEXT_ORDER_ID, 1),
                next_trade_id=stored.get(NEXT_TRADE_ID, 1),
                next_account_id=stored.get(NEXT_ACCOUNT_ID, 1),
                next_priority=stored.get(NEXT_PRIORITY, 1),
            ),
            deposited=snapshot.deposited,
            withdrawn=snapshot.withdrawn,
            max_open_orders=max_open_orders,
            house_accounts=snapshot.house_accounts,
            rounds=snapshot.rounds,
        )
    except RestoreError as exc:
        raise RecoveryError(f"the stored state is inconsistent: {exc}") from exc
    ledger = Ledger(orders=order_rows, instruments=snapshot.instruments,
                    balances=[(row[0], row[1]) for row in snapshot.balances], counters=stored,
                    standings=snapshot.standings)
    return engine, ledger


def _instrument(row: tuple[Any, ...], stored: dict[str, int]) -> InstrumentRecord:
    fields = dict(zip(INSTRUMENT_COLUMNS, row, strict=True))
    symbol = fields["symbol"]
    return InstrumentRecord(
        symbol=symbol, base=fields["base"], quote=fields["quote"],
        tick_size=fields["tick_size"], lot_size=fields["lot_size"],
        min_quantity=fields["min_quantity"], maker_fee_rate=fields["maker_fee_rate"],
        taker_fee_rate=fields["taker_fee_rate"], halted=bool(fields["halted"]),
        sequence=stored.get(SEQUENCE + symbol, 0),
        last_price=stored.get(LAST_PRICE + symbol),
        min_notional=int(fields["min_notional"]), max_quantity=int(fields["max_quantity"]),
    )


def _orders(rows: list[tuple[Any, ...]]) -> list[OrderFields]:
    """The engine's order records (`restore.ORDER_FIELDS` order) for the stored rows
    (`ORDER_COLUMNS` order), as plain tuples: a million orders, so no struct or attribute
    read in between."""
    return [
        (
            order_id, account_id, symbol, side, type_, time_in_force, bool(post_only),
            self_trade_prevention, client_order_id, price, stop_price, quantity or 0,
            quote_quantity, expire_time, take_profit_price, stop_loss_price,
            parent_order_id or 0, sibling_order_id or 0, status == PENDING, filled_quantity,
            fee, fee_num, priority, created_at,
        )
        for (
            order_id, account_id, symbol, side, type_, time_in_force, post_only,
            self_trade_prevention, client_order_id, price, stop_price, quantity,
            quote_quantity, expire_time, take_profit_price, stop_loss_price, parent_order_id,
            sibling_order_id, status, _close_reason, filled_quantity, _notional, fee, fee_num,
            priority, created_at, _updated_at, _placed_price, _placed_quantity,
        ) in rows
    ]
