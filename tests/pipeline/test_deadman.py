"""The dead-man timers and the server's own cancels, on trio's mock clock with a stand-in
sequencer: when timers fire after refreshes, shortening and disarming, and that a cancel the
inbox refuses or withdraws is submitted again."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from exchange.engine.commands import AnyCommand, CancelAllOrders, CancelOrder
from exchange.pipeline.deadman import DeadMan
from exchange.pipeline.sequencer import Overloaded, Request, Unavailable


class FakeSequencer:
    """Records what is submitted (with the time); refuses the first `refuse` submissions."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.submitted: list[tuple[float, AnyCommand]] = []
        self.requests: list[Request] = []

    def submit(self, command: AnyCommand, account: Any = None, callback: Any = None,
               deadline: float = 30.0) -> Request:
        if self.refuse:
            self.refuse -= 1
            raise Overloaded
        self.submitted.append((trio.current_time(), command))
        request = Request(command, None, callback)
        self.requests.append(request)
        return request


async def _running(nursery: trio.Nursery, sequencer: FakeSequencer) -> DeadMan:
    deadman = DeadMan(sequencer, deadline=30.0)  # type: ignore[arg-type]
    await nursery.start(deadman.serve)
    return deadman


async def test_timers_fire_once_after_the_last_refresh(autojump_clock: trio.testing.MockClock
                                                       ) -> None:
    sequencer = FakeSequencer()
    async with trio.open_nursery() as nursery:
        deadman = await _running(nursery, sequencer)
        start = trio.current_time()
        assert deadman.arm(1, 10) is not None
        deadman.arm(2, 5)
        for _ in range(4):  # account 1 refreshed every 3 s for 12 s
            await trio.sleep(3)
            deadman.arm(1, 10)
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    fired = [(round(at - start), command) for at, command in sequencer.submitted]
    assert fired == [(5, CancelAllOrders(account_id=2)), (22, CancelAllOrders(account_id=1))]
    assert deadman.timers == {}


async def test_shortened_and_disarmed_timers(autojump_clock: trio.testing.MockClock) -> None:
    sequencer = FakeSequencer()
    async with trio.open_nursery() as nursery:
        deadman = await _running(nursery, sequencer)
        start = trio.current_time()
        deadman.arm(1, 100)
        deadman.arm(1, 2)  # earlier than the first: fires at 2
        deadman.arm(2, 3)
        assert deadman.arm(2, 0) is None
        deadman.arm(3, 4)
        deadman.arm(3, 0)
        deadman.arm(3, 6)  # re-armed after a disarm
        await trio.sleep(200)
        nursery.cancel_scope.cancel()
    fired = [(round(at - start), command) for at, command in sequencer.submitted]
    assert fired == [(2, CancelAllOrders(account_id=1)), (6, CancelAllOrders(account_id=3))]


async def test_refused_and_withdrawn_cancels_are_submitted_again(
        autojump_clock: trio.testing.MockClock) -> None:
    sequencer = FakeSequencer(refuse=2)
    cancels = [CancelOrder(account_id=1, order_id=order_id) for order_id in (7, 8)]
    async with trio.open_nursery() as nursery:
        deadman = await _running(nursery, sequencer)
        deadman.submit(cancels)  # refused (the inbox is full), then refused once more
        await trio.sleep(1)
        assert [command for _, command in sequencer.submitted] == cancels
        request = sequencer.requests[0]
        request.error = Unavailable("withdrawn")
        request.callback(request)  # type: ignore[misc]
        await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert [command for _, command in sequencer.submitted] == [*cancels, cancels[0]]
