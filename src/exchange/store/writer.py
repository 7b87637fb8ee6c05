"""The writer: engine events in, durable rows out, waiters told in order.

How the server uses it (one batch is the events of up to ~1,000 commands):

    batch = Batch()
    for command in commands:                  # in the engine's worker thread
        batch.add(engine.handle(command))
    await send_channel.send(batch)            # a full channel is backpressure on the engine
    await batch.durable.wait()                # then reply: the effects survive kill -9

`serve_writer` takes batches from a bounded channel. Batches already queued are merged (up to
`max_events`) into one `WriteSet` by the `Ledger` — one row per changed key — and committed
in one transaction; then every merged batch's `durable` is set, in the order they came. While
one write set commits, the next is being built, so Python work overlaps the database's.

If the database fails transiently (`DatabaseError.transient`: the connection, the server, a
serialization failure), the same write set is retried with capped exponential backoff until it
commits; nothing after it is acknowledged meanwhile, and `WriterStatus.ready` is false until it
succeeds (`/readyz`). A retry first checks the stored `writes` counter, so a commit whose
acknowledgement was lost is not applied twice.

Any other failure is permanent (the database refused the data, or the driver could not encode
it): retrying would fail forever and wedge the venue. The writer logs one ERROR line naming
the write set, marks itself stopped, and `serve_writer` raises `PermanentWriteError`; neither
that write set's batches nor any later one is ever acknowledged, so a restart, which recovers
from the last committed write set, loses nothing that was.

Closing the batch channel flushes: the writer commits what it has and returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import trio

from exchange.engine.events import AnyEvent
from exchange.store.bridge import Bridge
from exchange.store.errors import DatabaseError, PermanentWriteError
from exchange.store.ledger import Ledger
from exchange.store.rows import AccountInfo, WriteSet
from exchange.store.writes import write

log = logging.getLogger("exchange.store")

MAX_EVENTS = 5_000  # merge queued batches into one transaction up to about this many events
RETRY_FIRST = 0.05  # seconds before the first retry
RETRY_MAX = 2.0


@dataclass(slots=True, eq=False)
class Batch:
    """The events of one engine batch, in order, the account records they need (names and
    API keys, written in the same transaction), and the signal that they are durable.

    The one batch type from the engine task to the writer: the pipeline's `Journal` takes
    it as it is. A batch that can never be written never becomes durable (`serve_writer`
    raises `PermanentWriteError`)."""

    events: list[AnyEvent] = field(default_factory=list)
    accounts: list[AccountInfo] = field(default_factory=list)
    durable: trio.Event = field(default_factory=trio.Event)
    commands: int = 0  # how many commands `add` gave it (progress reports)

    def add(self, events: Sequence[AnyEvent]) -> None:
        """Appends one command's events."""
        self.events += events
        self.commands += 1


@dataclass(eq=False)
class WriterStatus:
    """What the writer reports: readiness and a few counters for metrics."""

    ready: bool = True
    error: str | None = None  # the last failure while not ready
    stopped: bool = False  # True iff a permanent error stopped the writer (for good)
    down_since: float | None = None  # trio.current_time() of the first failure of an outage
    writes: int = 0
    batches: int = 0
    events: int = 0
    rows: int = 0
    retries: int = 0
    last_write_s: float = 0.0  # the last write transaction, first statement to COMMIT's end
    last_commit_s: float = 0.0  # of which the COMMIT (the flush to disk)


# Called after each write transaction with (write set, transaction seconds, COMMIT seconds).
CommitHook = Callable[[WriteSet, float, float], None]


async def serve_writer(
    bridge: Bridge,
    batches: trio.MemoryReceiveChannel[Batch],
    ledger: Ledger,
    *,
    status: WriterStatus | None = None,
    max_events: int = MAX_EVENTS,
    on_commit: CommitHook | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Writes batches until `batches` is closed and drained; see the module docstring.

    `ledger` must describe what the database holds (from `exchange.store.recovery`), and this
    writer must be its only writer. `on_commit` is called after each commit (benchmarks).
    Cancelling the writer abandons what is not yet committed: those batches are never
    acknowledged. Raises `PermanentWriteError` (alone, not in a group) if a write set fails
    permanently; what was not committed is abandoned the same way."""
    status = status if status is not None else WriterStatus()
    send_sets, receive_sets = trio.open_memory_channel[tuple[WriteSet, list[Batch]]](1)
    failure: list[PermanentWriteError] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_commit_loop, bridge, receive_sets, status, on_commit, failure,
                           nursery.cancel_scope)
        task_status.started()
        async with send_sets, batches:
            async for first in batches:
                group = [first]
                size = len(first.events)
                while size < max_events:
                    try:
                        more = batches.receive_nowait()
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                    group.append(more)
                    size += len(more.events)
                write_set = await trio.to_thread.run_sync(_build, ledger, group)
                await send_sets.send((write_set, group))
    if failure:
        raise failure[0]


def _build(ledger: Ledger, group: list[Batch]) -> WriteSet:
    infos = [info for batch in group for info in batch.accounts]
    return ledger.build([batch.events for batch in group], infos)


async def _commit_loop(
    bridge: Bridge,
    write_sets: trio.MemoryReceiveChannel[tuple[WriteSet, list[Batch]]],
    status: WriterStatus,
    on_commit: CommitHook | None,
    failure: list[PermanentWriteError],
    scope: trio.CancelScope,
) -> None:
    async with write_sets:
        async for write_set, group in write_sets:
            try:
                seconds = await commit(bridge, write_set, status)
            except PermanentWriteError as exc:
                # Stop the whole writer now, and let serve_writer raise the error by itself
                # rather than in the nursery's exception group.
                failure.append(exc)
                scope.cancel()
                return
            if on_commit is not None:
                on_commit(write_set, seconds, status.last_commit_s)
            for batch in group:
                batch.durable.set()


async def commit(bridge: Bridge, write_set: WriteSet, status: WriterStatus) -> float:
    """Commits one write set, retrying transient failures until it is durable; returns the
    seconds the successful attempt took. Raises `PermanentWriteError` on any other failure
    (see the module docstring)."""
    delay = RETRY_FIRST
    attempt = 0
    while True:
        start = time.perf_counter()
        try:
            flush = await bridge.run(write, write_set, retry=attempt > 0)
        except Exception as exc:
            if not isinstance(exc, DatabaseError) or not exc.transient:
                raise _stopped(write_set, status, exc) from exc
            attempt += 1
            status.retries += 1
            if status.ready:
                status.ready = False
                status.down_since = trio.current_time()
                log.error("database write failed, retrying until it is back: %s", exc)
            status.error = str(exc)
            await trio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            continue
        seconds = time.perf_counter() - start
        if not status.ready:
            down = trio.current_time() - (status.down_since or trio.current_time())
            log.warning("database writes resumed after %.1f s", down)
        status.ready = True
        status.error = None
        status.down_since = None
        status.writes += 1
        status.batches = write_set.batches
        status.events += write_set.events
        status.rows += write_set.rows
        status.last_write_s = seconds
        status.last_commit_s = flush or 0.0
        return seconds



def _stopped(write_set: WriteSet, status: WriterStatus, exc: Exception) -> PermanentWriteError:
    """Reports a permanent failure of `write_set` (one ERROR line) and marks the writer
    stopped; returns the error for `serve_writer` to raise."""
    first = str(exc).strip().splitlines()
    reason = first[0] if first else type(exc).__name__
    if not isinstance(exc, DatabaseError):  # a driver's or our own error, not translated
        reason = f"{type(exc).__name__}: {reason}"
    message = (f"write {write_set.seq} (batches up to {write_set.batches}, "
               f"{write_set.events} events, {write_set.rows} rows) failed permanently: "
               f"{reason}")
    log.error("the writer stopped: %s; it and every later batch stay unacknowledged, "
              "a restart recovers from the last committed write", message)
    status.ready = False
    status.stopped = True
    status.error = message
    if status.down_since is None:
        status.down_since = trio.current_time()
    return PermanentWriteError(message)
