"""The writer: durable in order, merged transactions, flush on close, lost acknowledgements,
cancellation."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import msgspec
import pytest
import trio
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.engine import Engine
from exchange.engine.events import AccountCreated
from exchange.store.bridge import THREAD_NAME
from exchange.store.errors import PermanentWriteError
from exchange.store.ledger import Ledger
from exchange.store.recovery import recover
from exchange.store.rows import BATCHES, AccountInfo, WriteSet
from exchange.store.schema import orders
from exchange.store.writer import Batch, WriterStatus, serve_writer
from exchange.store.writes import write

from .conftest import Database
from .streams import StreamMaker, engine_state


def batches_of(maker: StreamMaker, engine: Engine, count: int, size: int) -> Iterator[Batch]:
    for index in range(count):
        batch = Batch()
        for command in maker.setup() if index == 0 else maker.commands(size):
            batch.add(engine.handle(command))
        yield batch


async def count_orders(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(orders)) or 0)


async def test_batches_become_durable_in_order_and_merge(db: Database) -> None:
    maker, engine = StreamMaker(3), Engine()
    batches = list(batches_of(maker, engine, 60, 4))
    status = WriterStatus()
    commits: list[WriteSet] = []
    async with db.bridge() as bridge:
        send, receive = trio.open_memory_channel[Batch](len(batches))
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: serve_writer(
                bridge, receive, Ledger(), status=status,
                on_commit=lambda write_set, *_: commits.append(write_set),
                task_status=task_status,
            ))
            assert status.ready
            async with send:
                for batch in batches:
                    await send.send(batch)  # all queued at once: the writer merges them
            while not batches[-1].durable.is_set():
                flags = [batch.durable.is_set() for batch in batches]
                assert flags == sorted(flags, reverse=True)  # durable batches form a prefix
                await trio.sleep(0.001)
        # serve_writer returned: the closed channel was flushed.
        assert status.batches == len(batches)
        assert len(commits) < len(batches)
        assert [write_set.seq for write_set in commits] == list(range(1, len(commits) + 1))
        recovered = await recover(bridge)
    assert engine_state(recovered.engine) == engine_state(engine)


async def test_a_retry_after_a_lost_acknowledgement_writes_nothing_twice(db: Database) -> None:
    maker, engine = StreamMaker(4), Engine()
    ledger = Ledger()
    write_set = ledger.build([batch.events for batch in batches_of(maker, engine, 10, 10)])
    async with db.bridge() as bridge:
        assert await bridge.run(write, write_set) is not None
        before = await bridge.run(count_orders)
        # The commit went through but its answer was lost: the retry sees it committed.
        assert await bridge.run(write, write_set, retry=True) is None
        assert await bridge.run(count_orders) == before > 0


async def active_queries(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND datname = current_database() AND pid <> pg_backend_pid()"
        ))
        return int(count or 0)


async def test_cancelling_the_writer_leaves_no_query_or_thread(db: Database) -> None:
    maker, engine = StreamMaker(6), Engine()
    async with db.bridge() as bridge:
        ledger = (await recover(bridge)).ledger
        send, receive = trio.open_memory_channel[Batch](2)
        with trio.move_on_after(1.0):
            async with trio.open_nursery() as nursery:
                await nursery.start(serve_writer, bridge, receive, ledger)
                for batch in batches_of(maker, engine, 10_000, 50):
                    await send.send(batch)
        if db.dialect == "postgresql":
            assert await bridge.run(active_queries) == 0
    assert [t for t in threading.enumerate() if t.name == THREAD_NAME] == []


async def test_a_permanent_error_stops_the_writer_and_acknowledges_nothing_after_it(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    maker, engine = StreamMaker(7), Engine()
    setup, first, bad, after = batches_of(maker, engine, 4, 10)
    # A bug's row: the setup's first account created again (a duplicate key everywhere), and
    # on PostgreSQL a NUL in an account's name (which SQLite would store).
    bad.add([next(e for e in setup.events if type(e) is AccountCreated)])
    if db.dialect == "postgresql":
        bad.accounts.append(AccountInfo(2, "a\x00b"))
    status = WriterStatus()
    async with db.bridge() as bridge:
        ledger = (await recover(bridge)).ledger
        send, receive = trio.open_memory_channel[Batch](8)
        for batch in (setup, first):
            await send.send(batch)
        with trio.fail_after(10), pytest.RaisesGroup(PermanentWriteError) as caught:
            async with trio.open_nursery() as nursery:
                await nursery.start(lambda task_status: serve_writer(
                    bridge, receive, ledger, status=status, task_status=task_status
                ))
                await first.durable.wait()
                await send.send(bad)
                await send.send(after)
        assert not bad.durable.is_set()
        assert not after.durable.is_set()
        assert status.retries == 0  # never retried
        assert status.stopped
        assert not status.ready
        error = caught.value.exceptions[0]
        assert status.error == str(error)
        assert f"write {status.writes + 1} " in str(error)
        lines = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(lines) == 1
        assert "the writer stopped" in lines[0].getMessage()
        assert "failed permanently" in lines[0].getMessage()
        recovered = await recover(bridge)
    # What the database holds is exactly what was acknowledged: setup and first.
    assert recovered.ledger.counters[BATCHES] == 2


async def test_an_unencodable_value_stops_the_writer(db: Database) -> None:
    """A value the driver refuses before sending it (an int beyond 64 bits: OverflowError,
    not a database error) is permanent too."""
    maker, engine = StreamMaker(8), Engine()
    (setup,) = batches_of(maker, engine, 1, 0)
    created = next(e for e in setup.events if type(e) is AccountCreated)
    bad = Batch()
    bad.add([msgspec.structs.replace(created, account_id=2**70)])
    status = WriterStatus()
    async with db.bridge() as bridge:
        ledger = (await recover(bridge)).ledger
        send, receive = trio.open_memory_channel[Batch](8)
        await send.send(setup)
        await send.send(bad)
        with trio.fail_after(10), pytest.raises(PermanentWriteError):
            await serve_writer(bridge, receive, ledger, status=status)
        assert not bad.durable.is_set()  # (nor setup, if the writer merged the two)
        assert status.stopped
        assert status.retries == 0
