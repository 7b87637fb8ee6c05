"""Cancel-replace through the store: a `ReplaceOrder` is written as the ordinary events of a
cancel and a placement (there is no command journal: recovery rebuilds from those), so an
engine recovered after random streams with replaces in them is the same engine."""

from __future__ import annotations

import random

import msgspec
import pytest

from exchange.engine import Engine
from exchange.engine.commands import AnyCommand, ReplaceOrder
from exchange.engine.events import OrderAccepted, OrderCancelled
from exchange.store.recovery import recover

from .conftest import Database
from .streams import StreamMaker, engine_state
from .test_roundtrip import write_commands


def with_replaces(maker: StreamMaker, count: int) -> tuple[list[AnyCommand], int]:
    """The maker's random stream with a replace of a random target every fourth command
    (the new order on the target's symbol and account, mostly), and how many of them both
    cancelled and placed."""
    out: list[AnyCommand] = []
    done = 0
    rng = maker.rng
    for command in maker.commands(count):
        out.append(command)
        if rng.random() < 0.25:
            account_id, order_id = maker._target()
            order = maker._place()
            target = maker.engine.orders.get(order_id)
            if target is not None and rng.random() < 0.8:
                order = msgspec.structs.replace(order, symbol=target.instrument.symbol)
            replace = ReplaceOrder(ts=maker.ts, account_id=account_id, order_id=order_id,
                                   order=order, allow_failure=rng.random() < 0.5)
            kinds = {type(event) for event in maker._run(replace)}
            done += {OrderCancelled, OrderAccepted} <= kinds
            out.append(replace)
    return out, done


@pytest.mark.parametrize("seed", [4, 5])
async def test_a_recovered_engine_after_replaces_is_the_same_engine(db: Database,
                                                                   seed: int) -> None:
    rng = random.Random(seed)
    maker = StreamMaker(seed)
    setup = maker.setup()
    stream, done = with_replaces(maker, 800)
    commands = setup + stream
    original = Engine()
    async with db.bridge() as bridge:
        empty = await recover(bridge)
        await write_commands(bridge, empty.ledger, original, commands, rng)
        assert done > 50  # not vacuous
        recovered = await recover(bridge)
        assert engine_state(recovered.engine) == engine_state(original)
        assert recovered.engine.state_hash() == original.state_hash()
        # And it goes on as the original does, replaces included.
        then, _ = with_replaces(maker, 200)
        assert recovered.engine.process(then) == original.process(then)
