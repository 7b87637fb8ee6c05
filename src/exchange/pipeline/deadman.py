"""Cancels the server submits on its own: the dead-man switch and cancel-on-disconnect.

`DeadMan.arm(account_id, timeout_s)` arms, refreshes or (0) disarms an account's timer.
All timers share one heap served by one task (`serve`, in the runtime's nursery) rather
than a task each: thousands of bots refreshing every second cost a dict update each. When
a timer fires, one `CancelAllOrders` of the account goes to the sequencer.

`submit(commands)` queues cancels at once (a WebSocket connection with
`cancel_on_disconnect` dropped): the inbox is FIFO, so they run before anything the account
sends afterwards. A cancel the inbox cannot take now (full), or that its deadline withdrew
before the engine took it, is submitted again every `RETRY` seconds: while the server runs,
a cancel is never forgotten. They are answered like any command once durable; nobody waits
for them. Timers live in memory only: a restart forgets them (the orders stay).
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Iterable

import trio

from exchange.engine.commands import AnyCommand, CancelAllOrders
from exchange.pipeline.sequencer import Overloaded, Request, Sequencer, Unavailable, wall_clock_us

log = logging.getLogger("exchange.server")

RETRY = 0.1  # seconds between attempts at a cancel the inbox refused or withdrew
MAX_TIMEOUT_S = 86_400


class DeadMan:
    def __init__(self, sequencer: Sequencer, *, deadline: float) -> None:
        self._sequencer = sequencer
        self._deadline = deadline  # the sequencer's one request timeout (its deadline queue)
        self.timers: dict[int, float] = {}  # account_id -> trio.current_time() it fires at
        # (time, account_id), at most one entry per timer in the usual case: a refresh that
        # moves a timer later only updates `timers`, and the entry is pushed again when it
        # comes up (see `_fire`); one that moves it earlier pushes a new entry.
        self._heap: list[tuple[float, int]] = []
        self._retry: list[AnyCommand] = []
        self._wakeup = trio.Event()

    def arm(self, account_id: int, timeout_s: int) -> int | None:
        """Arms the account's timer for `timeout_s` seconds from now (0: disarms it); returns
        when it fires, in wall-clock microseconds (None when disarmed)."""
        if not timeout_s:
            self.timers.pop(account_id, None)
            return None
        at = trio.current_time() + timeout_s
        previous = self.timers.get(account_id)
        self.timers[account_id] = at
        if previous is None or at < previous:
            heapq.heappush(self._heap, (at, account_id))
            self._wakeup.set()
        return wall_clock_us() + timeout_s * 1_000_000

    def submit(self, commands: Iterable[AnyCommand]) -> None:
        """Queues `commands` now, in order; see the module docstring."""
        queue = list(commands)
        for index, command in enumerate(queue):
            try:
                self._sequencer.submit(command, callback=self._answered,
                                       deadline=self._deadline)
            except Overloaded:  # the inbox is full: this one and the rest, in order, later
                for later in queue[index:]:
                    self._later(later)
                return
            except Unavailable:  # the pipeline has ended: nothing can run any more
                log.warning("the server is stopping: %r was not submitted", command)

    def _answered(self, request: Request) -> None:
        if isinstance(request.error, Unavailable):  # withdrawn, never executed: again
            self._later(request.command)

    def _later(self, command: AnyCommand) -> None:
        self._retry.append(command)
        self._wakeup.set()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        """Fires the timers and retries the refused cancels, until cancelled."""
        task_status.started()
        while True:
            wake = self._heap[0][0] if self._heap else math.inf
            if self._retry:
                wake = min(wake, trio.current_time() + RETRY)
            with trio.move_on_at(wake):
                await self._wakeup.wait()
            self._wakeup = trio.Event()
            self._fire(trio.current_time())
            retry, self._retry = self._retry, []
            self.submit(retry)

    def _fire(self, now: float) -> None:
        heap, timers = self._heap, self.timers
        while heap and heap[0][0] <= now:
            _, account_id = heapq.heappop(heap)
            current = timers.get(account_id)
            if current is None:  # disarmed, or fired from another entry
                continue
            if current > now:  # refreshed since this entry was pushed: keep it for later
                heapq.heappush(heap, (current, account_id))
                continue
            del timers[account_id]
            log.info("dead-man switch: cancelling every open order of account %s", account_id)
            self.submit([CancelAllOrders(account_id=account_id)])
