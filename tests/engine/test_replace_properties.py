"""Property: a cancel-replace is a cancel then a placement, in one step.

After a random scenario (`strategies.command_sequences`), one `ReplaceOrder` of a random
target (mostly an open order of its owner) by a random new order runs in one engine, and the
same `CancelOrder` and `PlaceOrder` (same `ts`) run in a second one, fed the same scenario:

- allowing failure, the two end in the same state, with the same events (but for the
  `BalanceChanged` of each command, which one step reports once);
- both or neither (STOP_ON_FAILURE): when the cancel and the placement both succeed there,
  the same; when either fails there, the replace changes nothing at all and its one event is
  that failure (the cancel's `RequestRejected`, or the placement's `OrderRejected` with the
  same reason), unless the target is a bracket parent with fills (refused whole).

The engine checks its invariants (`Engine.check()`) after every command of both.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import event as note_case
from hypothesis import given
from hypothesis import strategies as st

from exchange.engine import Engine
from exchange.engine.codes import OrderType, RejectReason, Side, TimeInForce
from exchange.engine.commands import (
    AnyCommand,
    CancelOrder,
    ExpireOrders,
    PlaceOrder,
    ReplaceOrder,
)
from exchange.engine.contingent import is_bracket_parent
from exchange.engine.events import AnyEvent, BalanceChanged, OrderRejected, RequestRejected

from . import strategies
from .test_properties import state_of


@st.composite
def replaces(draw: st.DrawFn) -> tuple[list[AnyCommand], ReplaceOrder]:
    """A scenario and a cancel-replace after it."""
    commands = draw(strategies.command_sequences(max_steps=40))
    scratch = strategies.new_engine()
    scratch.process(commands)
    ts = max(command.ts for command in commands) + draw(st.integers(0, 2))
    account_id, order_id = strategies._target(draw, scratch, scratch.next_order_id)
    order = msgspec.structs.replace(strategies._place(draw, ts, 10**6),
                                    account_id=account_id)
    target = scratch.orders.get(order_id)
    if target is not None and target.price is not None and draw(st.booleans()):
        # Near the target itself, where the released hold and its place in the book count
        # to the last unit: a limit on its symbol, a little more or less, a tick off.
        order = msgspec.structs.replace(
            order, symbol=target.instrument.symbol, type=OrderType.LIMIT,
            side=draw(st.sampled_from([target.command.side, target.command.side,
                                       Side.BUY, Side.SELL])),
            quantity=max(1, target.quantity - target.filled + draw(st.integers(-2, 3))),
            price=max(1, target.price + draw(st.integers(-1, 1))), stop_price=None,
            quote_quantity=None, time_in_force=TimeInForce.GTC, expire_time=None,
            post_only=draw(st.booleans()), take_profit_price=None, stop_loss_price=None)
    return commands, ReplaceOrder(ts=ts, account_id=account_id, order_id=order_id,
                                  order=order, allow_failure=draw(st.booleans()))


def checked(engine: Engine, command: AnyCommand) -> list[AnyEvent]:
    events = engine.handle(command)
    engine.check()
    return events


def without_balances(events: list[AnyEvent]) -> list[AnyEvent]:
    return [event for event in events if not isinstance(event, BalanceChanged)]


def placement_refusal(events: list[AnyEvent], cmd: PlaceOrder) -> OrderRejected | None:
    for event in events:
        if (isinstance(event, OrderRejected) and event.order_id == 0
                and event.client_order_id == cmd.client_order_id):
            return event
    return None


@given(replaces())
def test_a_replace_is_a_cancel_then_a_placement(case: tuple[list[AnyCommand], Any]) -> None:
    commands, command = case
    one, two = strategies.new_engine(), strategies.new_engine()
    for engine in (one, two):
        for scenario_command in commands:
            checked(engine, scenario_command)
        # What falls due by the replace's time expires first, apart: "before" is after it.
        checked(engine, ExpireOrders(ts=command.ts))
    before, digest = state_of(one), one.state_hash()
    target = one.orders.get(command.order_id)
    spawns = target is not None and target.filled > 0 and is_bracket_parent(target)
    replaced = checked(one, command)
    cancel = CancelOrder(ts=command.ts, account_id=command.account_id,
                         order_id=command.order_id)
    place = msgspec.structs.replace(command.order, ts=command.ts)
    cancelled = checked(two, cancel)
    cancel_failed = any(isinstance(event, RequestRejected) for event in cancelled)
    placed = [] if cancel_failed and not command.allow_failure else checked(two, place)
    refusal = placement_refusal(placed, place)
    note_case(f"allow_failure={command.allow_failure} cancel_failed={cancel_failed} "
          f"refused={refusal is not None} spawns={spawns}")
    if command.allow_failure or not (cancel_failed or refusal is not None or spawns):
        assert without_balances(replaced) == without_balances(cancelled + placed)
        assert state_of(one) == state_of(two)
        assert one.state_hash() == two.state_hash()
        return
    # Both or neither, and it was neither.
    assert state_of(one) == before
    assert one.state_hash() == digest
    if cancel_failed:
        assert replaced == without_balances(cancelled)
    elif spawns:
        [event] = replaced
        assert isinstance(event, OrderRejected)
        assert event.reason == RejectReason.INVALID_ORDER
    else:
        assert replaced == [refusal]
