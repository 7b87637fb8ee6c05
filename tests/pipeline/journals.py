"""Journals for tests that need to hold durability shut (the deadline and shutdown tests)."""

from __future__ import annotations

import trio

from exchange.pipeline.journal import MemoryJournal


class GatedJournal(MemoryJournal):
    """A memory journal that makes nothing durable until `open()`; with a queue of one
    batch, the engine task blocks behind the second batch it submits."""

    def __init__(self) -> None:
        super().__init__(queue_size=1)
        self.gate = trio.Event()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        task_status.started()
        async with self._receive:
            async for batch in self._receive:
                await self.gate.wait()
                self.batches.append(batch)
                for record in batch.accounts:
                    self.accounts[record.account_id] = record
                batch.durable.set()

    def open(self) -> None:
        self.gate.set()

    def close_gate(self) -> None:
        self.gate = trio.Event()
