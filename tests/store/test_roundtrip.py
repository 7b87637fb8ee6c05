"""Round trip: engine events through the writer, then an engine recovered from the database
has the same books, balances and holds, and answers further commands with the same events."""

from __future__ import annotations

import random
from typing import Any

import pytest
import trio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.engine import Engine
from exchange.engine.codes import TRIGGERS
from exchange.engine.commands import AnyCommand
from exchange.engine.events import AnyEvent
from exchange.pipeline.readmodel import Keep, OrderView, ReadModel
from exchange.pipeline.storage import load_readmodel
from exchange.store import pg
from exchange.store.bridge import Bridge
from exchange.store.ledger import Ledger
from exchange.store.recovery import recover
from exchange.store.rows import ORDER_COLUMNS
from exchange.store.schema import OPEN_STATUSES, orders
from exchange.store.writer import Batch, WriterStatus, serve_writer

from .conftest import Database
from .streams import StreamMaker, engine_state


async def write_commands(bridge: Bridge, ledger: Ledger, engine: Engine,
                         commands: list[AnyCommand], rng: random.Random,
                         ) -> list[AnyEvent]:
    """Runs commands through `engine` in random-sized batches and makes them durable."""
    status = WriterStatus()
    batches: list[Batch] = []
    events: list[AnyEvent] = []
    send, receive = trio.open_memory_channel[Batch](4)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: serve_writer(
            bridge, receive, ledger, status=status, max_events=rng.choice([50, 5_000]),
            task_status=task_status,
        ))
        async with send:
            start = 0
            while start < len(commands):
                size = rng.choice([1, 3, 10, 40, 200])
                batch = Batch()
                for command in commands[start : start + size]:
                    out = engine.handle(command)
                    batch.add(out)
                    events += out
                start += size
                batches.append(batch)
                await send.send(batch)
    assert all(batch.durable.is_set() for batch in batches)
    assert status.ready
    assert status.retries == 0
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_recovered_engine_is_the_same_engine(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    maker = StreamMaker(seed)
    first = maker.setup() + maker.commands(1200)
    original = Engine()
    async with db.bridge() as bridge:
        empty = await recover(bridge)
        assert empty.open_orders == 0
        assert engine_state(empty.engine) == engine_state(Engine())
        await write_commands(bridge, empty.ledger, original, first, rng)
        recovered = await recover(bridge)
        assert recovered.open_orders == len(original.orders) > 0
        assert engine_state(recovered.engine) == engine_state(original)
        assert recovered.engine.state_hash() == original.state_hash()

        # The same further commands give the same events; written through the recovered
        # ledger, they recover once more to the same state.
        then = maker.commands(600)
        expected = original.process(then)
        got = await write_commands(bridge, recovered.ledger, recovered.engine, then, rng)
        assert got == expected
        again = await recover(bridge)
        assert engine_state(again.engine) == engine_state(original)
        assert again.engine.state_hash() == original.state_hash()


async def test_stream_covers_what_recovery_must_restore(db: Database) -> None:
    """The random streams leave brackets, stops, take-profits, GTD orders and partial fills
    open (so the round trip above is not vacuous)."""
    maker = StreamMaker(7)
    engine = Engine()
    engine.process(maker.setup() + maker.commands(1200))
    orders = list(engine.orders.values())
    assert any(order.pending for order in orders)
    # Take-profits too, whose type is the longest a row stores (`take_profit_market`).
    assert {order.command.type for order in orders if order.pending} >= set(TRIGGERS)
    assert any(order.sibling is not None for order in orders)
    assert any(order.expire_time is not None for order in orders)
    assert any(order.filled > 0 for order in orders)
    assert any(order.fee_num for order in orders)
    assert engine.transfer_ids
    del db  # parametrized only to run next to the round trips


async def written_stream(bridge: Bridge, seed: int) -> Engine:
    """A random stream of 1,200 commands made durable on an empty database; the engine
    that ran it."""
    maker = StreamMaker(seed)
    engine = Engine()
    empty = await recover(bridge)
    await write_commands(bridge, empty.ledger, engine, maker.setup() + maker.commands(1200),
                         random.Random(seed))
    return engine


async def test_postgres_fast_open_orders_are_the_portable_rows(pg_db: Database) -> None:
    """On PostgreSQL recovery reads the open orders with asyncpg directly (NUMERIC as text,
    sorted in Python): the same rows, in the same priority order, as SQLAlchemy's query."""
    async with pg_db.bridge() as bridge:
        engine = await written_stream(bridge, 5)

        async def both(db_engine: AsyncEngine) -> tuple[list[Any], list[Any]]:
            async with db_engine.connect() as conn, conn.begin():
                portable = [tuple(row) for row in (await conn.execute(
                    select(*[orders.c[name] for name in ORDER_COLUMNS])
                    .where(orders.c.status.in_(OPEN_STATUSES))
                    .order_by(orders.c.priority)
                )).all()]
                fast = await pg.open_orders(conn)
            return portable, fast

        portable, fast = await bridge.run(both)
    assert len(portable) == len(engine.orders) > 0
    assert fast == portable
    # Amends and triggers move orders back in time priority: the order is not the ids'.
    priority = ORDER_COLUMNS.index("priority")
    assert [row[0] for row in fast] != sorted(row[0] for row in fast)
    assert [row[priority] for row in fast] == sorted(row[priority] for row in fast)


def _views(model: ReadModel) -> list[Any]:
    orders = [
        [order_id] + [getattr(view, name) for name in OrderView.__slots__]
        for order_id, view in model.orders.items()
    ]
    accounts = [
        (account_id, account.order_ids, sorted(account.open_ids), account.client_ids,
         account.balances)
        for account_id, account in sorted(model.accounts.items())
    ]
    return [orders, accounts]


async def test_the_read_model_from_recoverys_rows_is_the_one_read_anew(db: Database) -> None:
    """At start the read model takes the open orders recovery has read instead of reading
    them again: the same orders, in the same (id) order, under the same accounts."""
    async with db.bridge() as bridge:
        engine = await written_stream(bridge, 8)
        recovered = await recover(bridge)
        rows = recovered.take_order_rows()
        assert len(rows) == len(engine.orders) > 0
        assert recovered.take_order_rows() == []  # handed over once, then let go
        shared = await bridge.run(load_readmodel, Keep(), rows)
        anew = await bridge.run(load_readmodel, Keep())
    assert list(shared.orders) == sorted(engine.orders)
    assert _views(shared) == _views(anew)
