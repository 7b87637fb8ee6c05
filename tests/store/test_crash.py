"""Crash consistency: a writer process killed with SIGKILL mid-stream leaves the database at a
batch boundary, with everything it acknowledged, and recovery from it is consistent."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import trio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.engine import Engine
from exchange.store.recovery import recover
from exchange.store.rows import BATCHES
from exchange.store.schema import transfers

from .conftest import Database
from .streams import StreamMaker, engine_state

WRITER = Path(__file__).with_name("crash_writer.py")
BATCH = 15


async def transfer_supply(engine: AsyncEngine) -> dict[str, int]:
    supply: dict[str, int] = defaultdict(int)
    async with engine.connect() as conn:
        result = await conn.execute(
            select(transfers.c.asset, transfers.c.kind, transfers.c.amount)
        )
        for asset, kind, amount in result:
            supply[asset] += amount if kind == "deposit" else -amount
    return dict(supply)


@pytest.mark.parametrize("acks_before_kill", [3, 40])
async def test_sigkill_leaves_a_batch_boundary(db: Database, acks_before_kill: int) -> None:
    seed = 11 + acks_before_kill
    async with db.bridge():
        pass  # migrate before the child starts, so it only writes
    process = await trio.lowlevel.open_process(
        [sys.executable, str(WRITER), db.url, db.schema or "", str(seed), str(BATCH)],
        stdout=subprocess.PIPE,
    )
    acknowledged = -1
    try:
        assert process.stdout is not None
        buffer = b""
        with trio.fail_after(60):
            while acknowledged < acks_before_kill:
                chunk = await process.stdout.receive_some()
                assert chunk, "the writer process ended early"
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    acknowledged = int(line.split()[1])
        process.send_signal(signal.SIGKILL)  # mid-stream: more batches are in flight
    finally:
        process.kill()
        await process.wait()
    assert process.returncode == -signal.SIGKILL

    async with db.bridge() as bridge:
        recovered = await recover(bridge)
        supply = await bridge.run(transfer_supply)
    committed = recovered.ledger.counters[BATCHES]
    assert committed >= acknowledged + 1  # nothing acknowledged is lost

    # At a batch boundary: exactly the state after the first `committed` batches.
    maker = StreamMaker(seed)
    reference = Engine()
    reference.process(maker.setup())
    for _ in range(committed - 1):
        reference.process(maker.commands(BATCH))
    assert engine_state(recovered.engine) == engine_state(reference)

    # Conservation: every asset's balances add up to what came in minus what went out
    # (restore has also checked that each balance's held is what its orders hold).
    totals: dict[str, int] = defaultdict(int)
    for account in recovered.engine.accounts.values():
        for asset, balance in account.balances.items():
            assert 0 <= balance.held <= balance.total
            totals[asset] += balance.total
    assert {asset: total for asset, total in totals.items() if total} == {
        asset: amount for asset, amount in supply.items() if amount
    }
