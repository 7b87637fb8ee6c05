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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

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
from exchange.pipeline.journal import AccountInfo, Batch, Journal
from exchange.pipeline.metrics import Metrics
from exchange.pipeline.readmodel import ReadModel

log = logging.getLogger("exchange.server")

EXPIRY_TICK = 1.0  # seconds without commands after which GTD orders are checked
REPLY_QUEUE = 8  # batches between the engine and the replies (pipelined commits)


class Overloaded(Exception):
    """The inbox is full: answer 503 at once."""


class Unavailable(Exception):
    """Not done, safe to retry: the server is starting or stopping, or the request's deadline
    passed before the engine took it (it was withdrawn and will never execute): answer 503."""


class OutcomeUnknown(Exception):
    """The engine executed the request but its batch was not durable by the deadline: it
    will be once the database takes it (a retry with the same client_order_id returns it),
    unless the process dies first: answer 504."""


def wall_clock_us() -> int:
    return time.time_ns() // 1000


# Where a request is; only the Trio thread changes it, so the engine task (which takes
# requests before it runs a batch) and a deadline (which withdraws them) never race.
QUEUED = 0  # in the inbox: its deadline withdraws it
TAKEN = 1  # in a batch the engine runs or has run: its outcome is the batch's
WITHDRAWN = 2  # its deadline passed in the inbox: never executes
ANSWERED = 3  # the outcome was reported: durable events, or OutcomeUnknown at the deadline


class Request:
    """One command waiting for its events. `account` names and keys a `CreateAccount`.

    When durable, the replies task sets `events` and then calls `callback` if there is one
    (a WebSocket connection answers without a task per request), else sets `done`. A
    request with a callback is given `error` (`Unavailable` or `OutcomeUnknown`) instead if
    its deadline passes first (`Sequencer.serve_deadlines`); one without waits in `wait`."""

    __slots__ = ("account", "callback", "command", "deadline", "done", "error", "events",
                 "state")

    def __init__(self, command: AnyCommand, account: AccountInfo | None,
                 callback: Callable[[Request], None] | None = None) -> None:
        self.command = command
        self.account = account
        self.callback = callback
        self.events: list[AnyEvent] | None = None
        self.error: Unavailable | OutcomeUnknown | None = None
        self.deadline = 0.0  # trio.current_time() past which it is withdrawn or `error`ed
        self.state = QUEUED
        self.done = trio.Event()

    def expire(self) -> Unavailable | OutcomeUnknown | None:
        """At the deadline: withdraws the request if the engine has not taken it yet, and
        returns what to answer (None once it was answered)."""
        if self.state == QUEUED:
            self.state = WITHDRAWN
            self.done.set()  # wakes a retry waiting on this client_order_id: place anew
            return Unavailable("the request was not taken by the engine in time and was "
                               "withdrawn: it will not execute")
        if self.state == TAKEN:
            return OutcomeUnknown("the request executed but is not durable yet; a retry "
                                  "with the same client_order_id returns it once it is")
        return None


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


@dataclass(slots=True)
class Published:
    """A durable batch for the fan-out: its events, the order events the read model
    rendered for watched accounts, as `(account_id, event, order)`, and its number in the
    read model's count of batches (`ReadModel.batches` once it was applied)."""

    events: list[AnyEvent]
    notices: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    serial: int = 0


class Listener(Protocol):
    """Whoever takes each durable batch after its requests are answered (the web edge's
    fan-out); the pipeline knows it only by these two calls."""

    async def publish(self, published: Published) -> None: ...

    def close(self) -> None: ...


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
        fanout: Listener | None = None,
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
        # Requests not yet answered, in submission order; their deadlines come in that order
        # too (one timeout for all), so `serve_deadlines` only ever looks at the front.
        self._timed: deque[Request] = deque()
        self.closed = False

    # -- REQUESTS (any task) --

    def submit(self, command: AnyCommand, account: AccountInfo | None = None,
               callback: Callable[[Request], None] | None = None,
               deadline: float = 30.0) -> Request:
        """Queues `command` at once, or raises `Overloaded` (inbox full) or `Unavailable`
        (shutting down). Past `deadline` seconds a request the engine has not taken is
        withdrawn (it never executes), whether or not anyone still waits for it; one with a
        `callback` is then called back with `error` set."""
        request = Request(command, account, callback)
        try:
            self._inbox_send.send_nowait(request)
        except trio.WouldBlock:
            self._metrics.overloaded.inc()
            raise Overloaded from None
        except trio.ClosedResourceError:
            raise Unavailable("the server is shutting down") from None
        request.deadline = trio.current_time() + deadline
        self._timed.append(request)
        return request

    async def execute(
        self, command: AnyCommand, *, account: AccountInfo | None = None,
        deadline: float = 30.0,
    ) -> list[AnyEvent]:
        """Runs `command` and returns its events once they are durable; see `wait`."""
        return await self.wait(self.submit(command, account, deadline=deadline))

    async def wait(self, request: Request) -> list[AnyEvent]:
        """The events of a submitted request (without a callback) once durable. Past its
        deadline: `Unavailable` if the engine had not taken it (it is withdrawn and never
        executes), `OutcomeUnknown` if it executed but is not durable yet."""
        with trio.move_on_at(request.deadline):
            await request.done.wait()
        if request.events is None:
            error = request.expire()
            self._count_expired(error)
            raise error or Unavailable("the request was withdrawn")
        return request.events

    def _count_expired(self, error: Unavailable | OutcomeUnknown | None) -> None:
        if error is not None:
            outcome = "withdrawn" if isinstance(error, Unavailable) else "unknown"
            self._metrics.deadlines.labels(outcome).inc()

    async def serve_deadlines(self, period: float = 0.1) -> None:
        """Withdraws each request still queued at its deadline, and gives one with a
        callback its `error` (a waiter without one sees it in `wait`)."""
        timed = self._timed
        while True:
            await trio.sleep(period)
            now = trio.current_time()
            while timed:
                request = timed[0]
                if request.state == ANSWERED or request.state == WITHDRAWN:
                    timed.popleft()
                    continue
                if request.deadline > now:
                    break
                timed.popleft()
                if request.callback is None:
                    if request.state == QUEUED:  # nobody may be waiting any more
                        self._count_expired(request.expire())
                    continue
                error = request.expire()
                if error is not None:
                    self._count_expired(error)
                    if request.state == TAKEN:
                        request.state = ANSWERED  # when durable later, not answered again
                    request.error = error
                    _call_back(request)

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
                    if requests:
                        requests = self._take(requests)
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
    def _take(requests: list[Request]) -> list[Request]:
        """The requests still queued (not withdrawn at their deadline), now taken."""
        taken = []
        for request in requests:
            if request.state == QUEUED:
                request.state = TAKEN
                taken.append(request)
        return taken

    @staticmethod
    def _account_records(requests: list[Request], results: list[list[AnyEvent]]
                         ) -> list[AccountInfo]:
        records = []
        for request, result in zip(requests, results, strict=False):
            if request.account is not None:
                for event in result:
                    if type(event) is AccountCreated:
                        info = request.account
                        records.append(AccountInfo(
                            event.account_id, info.name, info.api_key_id, info.api_key_hash
                        ))
        return records

    # -- REPLIES --

    async def serve_replies(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                            ) -> None:
        """Answers each batch's requests once the batch is durable, in order, then hands
        the batch to the fan-out (closed when the pipeline ends). Requests with a callback
        whose deadline passes first are answered by `serve_deadlines`, beside it."""
        task_status.started()
        metrics = self._metrics
        readmodel = self._readmodel
        fanout = self._fanout
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.serve_deadlines)
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
                            if request.state == TAKEN:
                                request.state = ANSWERED
                                if request.callback is not None:
                                    _call_back(request)
                            # else: a callback answered `OutcomeUnknown` at its deadline
                            request.done.set()  # wakes a waiter, or a retry of its coid
                        readmodel.trim()
                        if fanout is not None:
                            await fanout.publish(Published(batch.events, notices,
                                                           readmodel.batches))
                nursery.cancel_scope.cancel()
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
