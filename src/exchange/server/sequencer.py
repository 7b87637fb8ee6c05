"""The engine task: the only owner of the `Engine`.

Requests become commands on a bounded inbox. `serve_engine` takes whatever is queued (up to
`batch_limit`), stamps each command's `ts` from the sequencer's clock (the engine reads
none), runs the batch in a worker thread, and hands the events to the journal.
`serve_replies` waits, in order, until each batch is durable, applies it to the read model
and wakes the requests with their own events. The engine is touched only by the worker
thread, one batch at a time (a capacity limiter of one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import msgspec
import trio

from exchange.engine import Engine
from exchange.engine.commands import AnyCommand, ExpireOrders
from exchange.engine.events import (
    AccountCreated,
    AnyEvent,
    OrderAccepted,
    OrderRejected,
    RequestRejected,
    TradeExecuted,
)
from exchange.server.fanout import Fanout, Published
from exchange.server.journal import AccountRecord, Batch, Journal
from exchange.server.metrics import Metrics
from exchange.server.readmodel import ReadModel

log = logging.getLogger("exchange.server")

EXPIRY_TICK = 1.0  # seconds without commands after which GTD orders are checked
REPLY_QUEUE = 8  # batches between the engine and the replies (pipelined commits)


class Overloaded(Exception):
    """The inbox is full: answer 503 at once."""


class Unavailable(Exception):
    """The request was not answered in time or the journal gave up: answer 503."""


def wall_clock_us() -> int:
    return time.time_ns() // 1000


class Request:
    """One command waiting for its events. `account` names and keys a `CreateAccount`.

    When durable, the replies task sets `events` and then calls `callback` if there is one
    (a WebSocket connection answers without a task per request), else sets `done`."""

    __slots__ = ("account", "callback", "command", "done", "events")

    def __init__(self, command: AnyCommand, account: AccountRecord | None,
                 callback: Callable[[Request], None] | None = None) -> None:
        self.command = command
        self.account = account
        self.callback = callback
        self.events: list[AnyEvent] | None = None
        self.done = trio.Event()


def _call_back(request: Request) -> None:
    """A callback's bug must not stop the replies of everyone else."""
    try:
        request.callback(request)  # type: ignore[misc]
    except Exception:
        log.exception("a request callback failed")


class _Pending:
    __slots__ = ("batch", "requests", "results", "submitted")

    def __init__(self, batch: Batch, requests: list[Request], results: list[list[AnyEvent]],
                 submitted: float) -> None:
        self.batch = batch
        self.requests = requests
        self.results = results
        self.submitted = submitted


class Sequencer:
    def __init__(
        self,
        engine: Engine,
        journal: Journal,
        readmodel: ReadModel,
        metrics: Metrics,
        *,
        inbox_size: int = 4096,
        batch_limit: int = 1000,
        clock: Callable[[], int] = wall_clock_us,
        fanout: Fanout | None = None,
    ) -> None:
        self._engine = engine
        self._fanout = fanout
        self._journal = journal
        self._readmodel = readmodel
        self._metrics = metrics
        self._batch_limit = batch_limit
        self._clock = clock
        self._last_ts = 0
        self._inbox_send, self._inbox = trio.open_memory_channel[Request](inbox_size)
        self._replies_send, self._replies = trio.open_memory_channel[_Pending](REPLY_QUEUE)
        self._limiter = trio.CapacityLimiter(1)
        self.closed = False

    # -- REQUESTS (any task) --

    def submit(self, command: AnyCommand, account: AccountRecord | None = None,
               callback: Callable[[Request], None] | None = None) -> Request:
        """Queues `command` at once, or raises `Overloaded` (inbox full) or `Unavailable`
        (shutting down)."""
        request = Request(command, account, callback)
        try:
            self._inbox_send.send_nowait(request)
        except trio.WouldBlock:
            self._metrics.overloaded.inc()
            raise Overloaded from None
        except trio.ClosedResourceError:
            raise Unavailable("the server is shutting down") from None
        return request

    async def execute(
        self, command: AnyCommand, *, account: AccountRecord | None = None,
        deadline: float = 30.0,
    ) -> list[AnyEvent]:
        """Runs `command` and returns its events once they are durable (within `deadline`
        seconds, else `Unavailable`: the command may still take effect later)."""
        return await self.wait(self.submit(command, account), deadline=deadline)

    async def wait(self, request: Request, *, deadline: float = 30.0) -> list[AnyEvent]:
        """The events of a submitted request once durable (else `Unavailable` after
        `deadline` seconds; the request stays queued and may still take effect)."""
        with trio.move_on_after(deadline):
            await request.done.wait()
        if request.events is None:
            raise Unavailable("the request was not committed in time")
        return request.events

    def depth(self) -> int:
        return self._inbox.statistics().current_buffer_used

    def close(self) -> None:
        """Stops taking requests; the engine task drains the inbox and ends."""
        self.closed = True
        self._inbox_send.close()

    # -- THE ENGINE TASK --

    def _stamp(self) -> int:
        ts = self._clock()
        if ts < self._last_ts:  # never backwards, whatever the wall clock does
            ts = self._last_ts
        self._last_ts = ts
        return ts

    def _run(self, commands: list[AnyCommand]) -> list[list[AnyEvent]]:
        """In the worker thread: the only code that touches the engine."""
        handle = self._engine.handle
        return [handle(command) for command in commands]

    async def serve_engine(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                           ) -> None:
        """Runs batches until the inbox is closed and drained, then closes the journal."""
        task_status.started()
        inbox = self._inbox
        limit = self._batch_limit
        metrics = self._metrics
        replace = msgspec.structs.replace
        try:
            async with self._replies_send:
                while True:
                    requests: list[Request] = []
                    with trio.move_on_after(EXPIRY_TICK):
                        try:
                            requests.append(await inbox.receive())
                        except trio.EndOfChannel:
                            break
                    while len(requests) < limit:
                        try:
                            requests.append(inbox.receive_nowait())
                        except (trio.WouldBlock, trio.EndOfChannel):
                            break
                    ts = self._stamp()
                    commands: list[AnyCommand] = (
                        [replace(request.command, ts=ts) for request in requests]
                        if requests else [ExpireOrders(ts=ts)]
                    )
                    metrics.inbox_depth.set(self.depth())
                    started = time.perf_counter()
                    results = await trio.to_thread.run_sync(
                        self._run, commands, limiter=self._limiter
                    )
                    if requests:
                        metrics.batch_size.observe(len(requests))
                        metrics.engine_seconds.observe(time.perf_counter() - started)
                    events = [event for result in results for event in result]
                    if not events and not requests:
                        continue  # an expiry tick that expired nothing
                    batch = Batch(events, self._account_records(requests, results))
                    submitted = time.perf_counter()
                    await self._journal.submit(batch)
                    await self._replies_send.send(_Pending(batch, requests, results, submitted))
        finally:
            self._journal.close()

    @staticmethod
    def _account_records(requests: list[Request], results: list[list[AnyEvent]]
                         ) -> list[AccountRecord]:
        records = []
        for request, result in zip(requests, results, strict=False):
            if request.account is not None:
                for event in result:
                    if type(event) is AccountCreated:
                        info = request.account
                        records.append(AccountRecord(
                            event.account_id, info.name, info.api_key_id, info.api_key_hash
                        ))
        return records

    # -- REPLIES --

    async def serve_replies(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                            ) -> None:
        """Answers each batch's requests once the batch is durable, in order, then hands
        the batch to the fan-out (closed when the pipeline ends)."""
        task_status.started()
        metrics = self._metrics
        readmodel = self._readmodel
        fanout = self._fanout
        try:
            async with self._replies:
                async for pending in self._replies:
                    batch = pending.batch
                    await batch.durable.wait()
                    metrics.commit_seconds.observe(time.perf_counter() - pending.submitted)
                    readmodel.apply(batch.events)
                    readmodel.apply_accounts(batch.accounts)
                    notices = readmodel.take_notices()
                    self._count(batch.events)
                    for request, result in zip(pending.requests, pending.results,
                                               strict=False):
                        request.events = result
                        if request.callback is not None:
                            _call_back(request)
                        else:
                            request.done.set()
                    if fanout is not None:
                        await fanout.publish(Published(batch.events, notices,
                                                       readmodel.batches))
        finally:
            if fanout is not None:
                fanout.close()

    def _count(self, events: list[AnyEvent]) -> None:
        metrics = self._metrics
        for event in events:
            kind = type(event)
            if kind is OrderAccepted:
                metrics.orders.inc()
            elif kind is TradeExecuted:
                metrics.trades.inc()
            elif kind is OrderRejected or kind is RequestRejected:
                metrics.rejects.labels(event.reason).inc()  # type: ignore[union-attr]
