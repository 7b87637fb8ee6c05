"""The seam between the engine task and persistence: "make this batch durable".

The engine task hands every batch of events (the store's `Batch`, one type end to end) to a
`Journal` and answers the batch's requests only after `batch.durable` is set.
`MemoryJournal` keeps batches in memory (tests, and a server run without a database);
`exchange.pipeline.storage` puts the real store's writer behind the same seam.
"""

from __future__ import annotations

import math
from typing import Protocol

import trio

from exchange.engine.events import AnyEvent
from exchange.store.rows import AccountInfo
from exchange.store.writer import Batch

__all__ = ["AccountInfo", "Batch", "Journal", "JournalStopped", "MemoryJournal"]


class JournalStopped(Exception):
    """The journal met an error it cannot recover from (the store's writer: a permanent write
    error) and stopped: nothing from the failed batch on was made durable, or will be. The
    server exits non-zero; a restart recovers from what is durable."""


class Journal(Protocol):
    """Makes batches durable, in the order submitted."""

    @property
    def stopped(self) -> bool:
        """True iff the journal has stopped for good (`serve` raised `JournalStopped`)."""

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        """Runs the writer until `close()` was called and every batch is written; raises
        `JournalStopped` if a batch can never be written."""

    async def submit(self, batch: Batch) -> None:
        """Queues `batch`; waits while the journal's bounded queue is full (backpressure)."""

    def close(self) -> None:
        """No more batches: `serve` returns once the queued ones are written."""

    async def ready(self) -> bool:
        """Whether the journal can write now (the database is reachable)."""


class MemoryJournal:
    """A journal in memory: "durable" after `commit_delay` seconds. Keeps every batch in
    `batches` so tests can check that whatever was acknowledged was written."""

    def __init__(self, *, queue_size: int = 16, commit_delay: float = 0.0) -> None:
        self.commit_delay = commit_delay
        self.batches: list[Batch] = []
        self.accounts: dict[int, AccountInfo] = {}
        self._send, self._receive = trio.open_memory_channel[Batch](queue_size)

    @property
    def stopped(self) -> bool:
        return False

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        task_status.started()
        async with self._receive:
            async for batch in self._receive:
                if self.commit_delay > 0 and not math.isinf(self.commit_delay):
                    await trio.sleep(self.commit_delay)
                self.batches.append(batch)
                for record in batch.accounts:
                    self.accounts[record.account_id] = record
                batch.durable.set()

    async def submit(self, batch: Batch) -> None:
        await self._send.send(batch)

    def close(self) -> None:
        self._send.close()

    async def ready(self) -> bool:
        return True

    def events(self) -> list[AnyEvent]:
        """Every event made durable so far, in order."""
        return [event for batch in self.batches for event in batch.events]
