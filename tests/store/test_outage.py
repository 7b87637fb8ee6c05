"""Outage: while PostgreSQL refuses connections, no batch is acknowledged and the writer reports
not ready; once it is back, every batch is written once and the writer is ready again."""

from __future__ import annotations

import random

import trio
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.engine import Engine
from exchange.store.bridge import Bridge, open_bridge
from exchange.store.recovery import recover
from exchange.store.rows import BATCHES
from exchange.store.writer import Batch, WriterStatus, serve_writer

from .conftest import Database
from .streams import StreamMaker, engine_state

OUTAGE_SECONDS = 3.0


async def set_available(engine: AsyncEngine, database: str, available: bool) -> None:
    """Opens or closes `database` to new connections; closing also ends the existing ones."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(
            f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {"true" if available else "false"}'
        ))
        if not available:
            await conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = :name AND pid <> pg_backend_pid()"),
                {"name": database},
            )


async def send_batches(engine: Engine, maker: StreamMaker, send: trio.MemorySendChannel[Batch],
                       count: int, size: int) -> list[Batch]:
    batches = []
    for _ in range(count):
        batch = Batch()
        for command in maker.commands(size):
            batch.add(engine.handle(command))
        await send.send(batch)
        batches.append(batch)
    return batches


async def test_no_acknowledgement_while_the_database_is_down(pg_db: Database) -> None:
    database = make_url(pg_db.url).database or "test"
    admin_url = make_url(pg_db.url).set(database="postgres").render_as_string(
        hide_password=False
    )
    maker = StreamMaker(5)
    engine = Engine()
    status = WriterStatus()
    rng = random.Random(5)
    async with pg_db.bridge() as bridge, open_bridge(admin_url) as admin:
        ledger = (await recover(bridge)).ledger
        send, receive = trio.open_memory_channel[Batch](100)
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: serve_writer(
                bridge, receive, ledger, status=status, task_status=task_status
            ))
            setup = Batch()
            setup.add(engine.process(maker.setup()))
            await send.send(setup)
            before = await send_batches(engine, maker, send, 5, 20)
            await before[-1].durable.wait()
            try:
                await admin.run(set_available, database, False)
                during = await send_batches(engine, maker, send, 5, rng.choice([5, 30]))
                await trio.sleep(OUTAGE_SECONDS)
                assert not any(batch.durable.is_set() for batch in during)
                assert not status.ready
                assert status.error
                assert status.retries >= 2
            finally:
                await admin.run(set_available, database, True)
            after = await send_batches(engine, maker, send, 3, 20)
            with trio.fail_after(30):
                await after[-1].durable.wait()
            assert all(batch.durable.is_set() for batch in during + after)
            assert status.ready
            assert status.error is None
            await send.aclose()
        recovered = await _recover(bridge)
    assert recovered[0] == 1 + 5 + 5 + 3  # each batch written exactly once
    assert recovered[1] == engine_state(engine)


async def _recover(bridge: Bridge) -> tuple[int, object]:
    recovered = await recover(bridge)
    return recovered.ledger.counters[BATCHES], engine_state(recovered.engine)
