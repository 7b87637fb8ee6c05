"""`exchange.engine.restore`, without a database: records taken from a live engine give the
same engine back, and inconsistent records are refused."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.engine import Engine
from exchange.engine.codes import TAKE_PROFITS, OrderType
from exchange.engine.restore import (
    ORDER_FIELDS,
    BalanceRecord,
    Counters,
    InstrumentRecord,
    OrderRecord,
    RestoreError,
    restore,
)

from .streams import StreamMaker, engine_state


def records(engine: Engine) -> dict[str, Any]:
    """What the store would hold for `engine`, as restore's records."""
    return {
        "instruments": [
            InstrumentRecord(
                symbol=inst.symbol, base=inst.base, quote=inst.quote, tick_size=inst.tick_size,
                lot_size=inst.lot_size, min_quantity=inst.min_quantity,
                maker_fee_rate=inst.maker_fee_rate, taker_fee_rate=inst.taker_fee_rate,
                halted=inst.halted, sequence=inst.sequence, last_price=inst.last_price,
                min_notional=inst.min_notional, max_quantity=inst.max_quantity,
            )
            for inst in engine.instruments.values()
        ],
        "accounts": list(engine.accounts),
        "balances": [
            BalanceRecord(account_id, asset, bal.total, bal.held)
            for account_id, account in engine.accounts.items()
            for asset, bal in account.balances.items()
        ],
        "orders": [
            OrderRecord(
                order_id=o.order_id, account_id=o.account.account_id,
                symbol=o.instrument.symbol, side=o.command.side, type=o.command.type,
                time_in_force=o.command.time_in_force, post_only=o.command.post_only,
                self_trade_prevention=o.command.self_trade_prevention,
                client_order_id=o.command.client_order_id, price=o.price,
                stop_price=o.stop_price, quantity=o.quantity,
                quote_quantity=o.command.quote_quantity, expire_time=o.expire_time,
                take_profit_price=o.command.take_profit_price,
                stop_loss_price=o.command.stop_loss_price, parent_order_id=o.parent_order_id,
                sibling_order_id=0 if o.sibling is None else o.sibling.order_id,
                pending=o.pending, filled=o.filled, fee=o.fee_paid * o.instrument.quote_mult,
                fee_num=o.fee_num, priority=o.priority, ts=o.command.ts,
            )
            for o in engine.orders.values()
        ],
        "transfer_ids": sorted(engine.transfer_ids),
        "deposited": dict(engine.deposited),
        "withdrawn": dict(engine.withdrawn),
        "counters": Counters(
            next_order_id=engine.next_order_id, next_trade_id=engine.next_trade_id,
            next_account_id=engine.next_account_id, next_priority=engine.next_priority,
        ),
    }


def busy_engine(seed: int) -> tuple[Engine, StreamMaker]:
    maker = StreamMaker(seed)
    engine = Engine()
    engine.process(maker.setup() + maker.commands(1500))
    return engine, maker


@pytest.mark.parametrize("seed", range(20, 30))
def test_restore_gives_the_same_engine(seed: int) -> None:
    engine, maker = busy_engine(seed)
    restored = restore(**records(engine))
    assert engine_state(restored) == engine_state(engine)
    assert restored.state_hash() == engine.state_hash()
    later = maker.commands(400)
    assert restored.process(later) == engine.process(later)
    assert restored.state_hash() == engine.state_hash()


def test_records_in_any_order_restore_the_same_queues() -> None:
    engine, _ = busy_engine(31)
    given = records(engine)
    given["orders"] = list(reversed(given["orders"]))
    assert engine_state(restore(**given)) == engine_state(engine)


def test_empty_records_give_a_fresh_engine() -> None:
    assert engine_state(restore(instruments=[], accounts=[], balances=[], orders=[])) == (
        engine_state(Engine())
    )


def _with_order_change(given: dict[str, Any], **changes: Any) -> dict[str, Any]:
    order = next(o for o in given["orders"] if not o.pending and o.side == "buy")
    given["orders"] = [msgspec.structs.replace(o, **changes) if o is order else o
                       for o in given["orders"]]
    return given


def test_a_hold_that_does_not_add_up_is_refused() -> None:
    engine, _ = busy_engine(32)
    given = records(engine)
    given["balances"] = [
        msgspec.structs.replace(b, held=b.held + 1) if b.held else b for b in given["balances"]
    ]
    with pytest.raises(RestoreError, match="held"):
        restore(**given)


def test_a_balance_that_breaks_conservation_is_refused() -> None:
    """The rebuilt engine runs its self-check: a total changed behind the engine's back no
    longer adds up to deposits minus withdrawals."""
    engine, _ = busy_engine(34)
    given = records(engine)
    given["balances"] = [
        msgspec.structs.replace(b, total=b.total + 1) if b.account_id == 1 else b
        for b in given["balances"]
    ]
    with pytest.raises(RestoreError, match=r"self-check: asset \w+ not conserved"):
        restore(**given)


def test_inconsistent_orders_are_refused() -> None:
    engine, _ = busy_engine(33)
    with pytest.raises(RestoreError, match="unknown instrument"):
        restore(**_with_order_change(records(engine), symbol="NOPE-USD"))
    with pytest.raises(RestoreError, match="not open"):
        restore(**_with_order_change(records(engine), filled=10**6))
    with pytest.raises(RestoreError, match="unknown account"):
        restore(**_with_order_change(records(engine), account_id=999))
    given = records(engine)
    given["counters"] = Counters(next_order_id=1, next_priority=10**9, next_account_id=10**3)
    with pytest.raises(RestoreError, match="next order id"):
        restore(**given)


def test_take_profits_are_restored_pending_or_resting() -> None:
    """A pending take-profit goes back to the stop list of its trigger's direction (a buy
    into the falling one, a sell into the rising one); a triggered take-profit limit rests."""
    engine, _ = busy_engine(21)
    take_profits = [o for o in engine.orders.values() if o.command.type in TAKE_PROFITS]
    pending = [o for o in take_profits if o.pending]
    assert {o.is_buy for o in pending} == {True, False}
    assert any(not o.pending and o.command.type == OrderType.TAKE_PROFIT_LIMIT
               for o in take_profits)
    restored = restore(**records(engine))
    for order in pending:
        inst = restored.instruments[order.instrument.symbol]
        assert (order.stop_price, order.order_id) in (
            inst.sell_stops if order.is_buy else inst.buy_stops
        )
    assert restored.state_hash() == engine.state_hash()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), count=st.integers(0, 900), shuffle=st.randoms())
def test_any_state_restores_to_the_same_hash(seed: int, count: int,
                                             shuffle: random.Random) -> None:
    """Whatever state the commands leave, and in whatever order the records come, the
    one-pass restore gives an engine that hashes as the one that ran, passes its self-check
    and answers further commands alike."""
    maker = StreamMaker(seed)
    engine = Engine()
    engine.process(maker.setup() + maker.commands(count))
    given_records = records(engine)
    shuffle.shuffle(given_records["orders"])
    restored = restore(**given_records)
    restored.check()
    assert restored.state_hash() == engine.state_hash()
    later = maker.commands(100)
    assert restored.process(later) == engine.process(later)


def test_a_stored_sibling_that_is_not_the_open_pair_is_refused() -> None:
    """A sibling stored on an order that is no bracket child, or on a child whose pair the
    open orders do not make, means the records are not one state."""
    engine, _ = busy_engine(21)
    given = records(engine)
    plain = next(o for o in given["orders"] if not o.parent_order_id)
    given["orders"] = [msgspec.structs.replace(o, sibling_order_id=plain.order_id + 1)
                       if o is plain else o for o in given["orders"]]
    with pytest.raises(RestoreError, match="is not its open pair"):
        restore(**given)
    given = records(engine)
    child = next((o for o in given["orders"] if o.parent_order_id and o.sibling_order_id),
                 None)
    assert child is not None, "the stream should leave an open bracket pair"
    given["orders"] = [msgspec.structs.replace(o, sibling_order_id=0) if o is child else o
                       for o in given["orders"]]
    with pytest.raises(RestoreError, match="is not its open pair"):
        restore(**given)


def test_order_rows_are_the_records_fields_in_order() -> None:
    """Recovery passes orders as tuples (`order_rows`): they must give what the records
    give, and their layout is `OrderRecord`'s fields, which the tuple unpacking names."""
    assert ORDER_FIELDS == (
        "order_id", "account_id", "symbol", "side", "type", "time_in_force", "post_only",
        "self_trade_prevention", "client_order_id", "price", "stop_price", "quantity",
        "quote_quantity", "expire_time", "take_profit_price", "stop_loss_price",
        "parent_order_id", "sibling_order_id", "pending", "filled", "fee", "fee_num",
        "priority", "ts",
    )
    engine, _ = busy_engine(22)
    given = records(engine)
    orders = given.pop("orders")
    half = len(orders) // 2
    restored = restore(**given, orders=orders[:half],
                       order_rows=[msgspec.structs.astuple(o) for o in orders[half:]])
    assert restored.state_hash() == engine.state_hash()
