"""The seam between the engine task and persistence: "make this batch durable".

The engine task hands every batch of events to a `Journal` and answers the batch's requests
only after `batch.durable` is set. `MemoryJournal` keeps batches in memory (tests, and a
server run without a database); `exchange.pipeline.storage` adapts the real store's writer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import trio

from exchange.engine.events import AnyEvent


class JournalStopped(Exception):
    """The journal met an error it cannot recover from (the store's writer: a permanent write
    error) and stopped: nothing from the failed batch on was made durable, or will be. The
    server exits non-zero; a restart recovers from what is durable."""


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """What the engine does not know about an account: its name and API key (the key's id
    and a hash of its secret). Written in the same transaction as the account's creation."""

    account_id: int
    name: str | None
    api_key_id: str | None
    api_key_hash: str | None


@dataclass(slots=True, eq=False)
class Batch:
    """The events of one engine batch, in order, and the account records they need.

    The journal sets `durable` once everything is committed (the store's writer retries a
    failing database until it is back; requests waiting meanwhile time out with 503). A
    batch the journal cannot write at all never becomes durable: `serve` raises
    `JournalStopped`."""

    events: list[AnyEvent]
    accounts: list[AccountRecord] = field(default_factory=list)
    durable: trio.Event = field(default_factory=trio.Event)


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
        self.accounts: dict[int, AccountRecord] = {}
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
