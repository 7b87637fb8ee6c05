"""The ledger: events to one row per changed key per write set, statuses, fills, bracket
links, counters."""

from __future__ import annotations

from decimal import Decimal

from exchange.engine import Engine
from exchange.engine.codes import OrderType, Side
from exchange.engine.commands import (
    AddInstrument,
    AmendOrder,
    AnyCommand,
    CancelOrder,
    CreateAccount,
    Deposit,
    PlaceOrder,
)
from exchange.engine.events import AnyEvent
from exchange.store import rows
from exchange.store.ledger import Ledger
from exchange.store.rows import AccountInfo, WriteSet

UNIT = 10**12
SETUP: list[AnyCommand] = [
    AddInstrument(symbol="BTC-USD", base="BTC", quote="USD", tick_size=Decimal("0.01"),
                  lot_size=Decimal("0.001"), maker_fee_rate=Decimal("0.001"),
                  taker_fee_rate=Decimal("0.002")),
    CreateAccount(ts=1),
    CreateAccount(ts=1),
    Deposit(ts=1, account_id=1, asset="USD", amount=10**6 * UNIT, transfer_id="d1"),
    Deposit(ts=1, account_id=2, asset="BTC", amount=100 * UNIT),
]


def run(engine: Engine, commands: list[AnyCommand]) -> list[AnyEvent]:
    return engine.process(commands)


def by_id(write_set: WriteSet, attribute: str = "new_orders") -> dict[int, dict[str, object]]:
    columns = rows.ORDER_COLUMNS if attribute == "new_orders" else rows.ORDER_UPDATE_COLUMNS
    return {
        row[0]: dict(zip(columns, row, strict=True))  # type: ignore[misc]
        for row in getattr(write_set, attribute)
    }


def buy(price: int, quantity: int, **fields: object) -> PlaceOrder:
    return PlaceOrder(ts=2, account_id=1, symbol="BTC-USD", side=Side.BUY, price=price,
                      quantity=quantity, **fields)  # type: ignore[arg-type]


def sell(price: int, quantity: int, **fields: object) -> PlaceOrder:
    return PlaceOrder(ts=2, account_id=2, symbol="BTC-USD", side=Side.SELL, price=price,
                      quantity=quantity, **fields)  # type: ignore[arg-type]


def test_setup_rows() -> None:
    engine, ledger = Engine(), Ledger()
    write_set = ledger.build([run(engine, SETUP)], [AccountInfo(2, "bob", "k2", "h2")])
    assert [row[0] for row in write_set.instruments] == ["BTC-USD"]
    assert write_set.accounts == [(1, None, None, None, 1), (2, "bob", "k2", "h2", 1)]
    assert write_set.account_infos == []
    assert [(r[0], r[2], r[3], r[4]) for r in write_set.transfers] == [
        (1, "deposit", 10**6 * UNIT, "d1"), (2, "deposit", 100 * UNIT, None),
    ]
    assert write_set.balances == []  # none existed: all are inserts
    assert sorted(r[:4] for r in write_set.new_balances) == [
        (1, "USD", 10**6 * UNIT, 0), (2, "BTC", 100 * UNIT, 0),
    ]
    assert dict(write_set.counters)[rows.NEXT_ACCOUNT_ID] == 3
    assert dict(write_set.counters)[rows.WRITES] == 1
    # Names and keys for an account created earlier become an update of its row.
    later = ledger.build([[]], [AccountInfo(1, "alice", "k1", "h1")])
    assert later.account_infos == [(1, "alice", "k1", "h1", 0)]
    assert later.accounts == []


def test_an_order_changed_many_times_in_one_write_is_one_row() -> None:
    engine, ledger = Engine(), Ledger()
    ledger.build([run(engine, SETUP)])
    events = run(engine, [
        buy(10_000, 10),
        sell(10_000, 3),
        sell(10_000, 2),
        AmendOrder(ts=3, account_id=1, order_id=1, quantity=8),
        CancelOrder(ts=4, account_id=1, order_id=1),
    ])
    write_set = ledger.build([events[:5], events[5:]])  # two batches, one transaction
    new = by_id(write_set)
    assert sorted(new) == [1, 2, 3]
    assert write_set.changed_orders == []
    order = new[1]
    assert order["status"] == "cancelled"
    assert order["close_reason"] == "user"
    assert (order["quantity"], order["filled_quantity"]) == (8, 5)
    assert order["notional"] == 5 * 10_000
    assert order["fee_num"] == 5 * 10_000 * 100_000  # maker at 0.001
    assert order["fee"] == sum(trade[9] for trade in write_set.trades)
    assert new[2]["status"] == new[3]["status"] == "filled"
    assert len(write_set.trades) == 2
    # Each (account, asset) once, with its last value; those never written before are new.
    written = write_set.balances + write_set.new_balances
    keys = [(row[0], row[1]) for row in written]
    assert len(keys) == len(set(keys))
    assert sorted((row[0], row[1]) for row in write_set.new_balances) == [
        (0, "USD"), (1, "BTC"), (2, "USD"),
    ]
    assert {(row[0], row[1]): row[2:4] for row in written}[(1, "USD")] == (
        engine.balance(1, "USD")
    )
    assert write_set.batches == 3  # batches made durable so far
    assert ledger.orders == {}


def test_later_changes_of_stored_orders_are_updates() -> None:
    engine, ledger = Engine(), Ledger()
    ledger.build([run(engine, SETUP)])
    ledger.build([run(engine, [buy(10_000, 10), buy(9_000, 1)])])
    write_set = ledger.build([run(engine, [sell(10_000, 4)])])
    assert sorted(by_id(write_set)) == [3]
    changed = by_id(write_set, "changed_orders")
    assert sorted(changed) == [1]
    assert changed[1]["status"] == "partially_filled"
    assert changed[1]["filled_quantity"] == 4
    assert sorted(ledger.orders) == [1, 2]
    write_set = ledger.build([run(engine, [CancelOrder(ts=5, account_id=1, order_id=1)])])
    assert by_id(write_set, "changed_orders")[1]["status"] == "cancelled"
    assert sorted(ledger.orders) == [2]


def test_counters_follow_the_engine() -> None:
    engine, ledger = Engine(), Ledger()
    ledger.build([run(engine, SETUP)])
    ledger.build([run(engine, [buy(10_000, 10), sell(9_990, 4),
                                AmendOrder(ts=3, account_id=1, order_id=1, price=10_001)])])
    counters = ledger.counters
    assert counters[rows.NEXT_ORDER_ID] == engine.next_order_id
    assert counters[rows.NEXT_TRADE_ID] == engine.next_trade_id
    assert counters[rows.NEXT_PRIORITY] == engine.next_priority
    assert counters[rows.SEQUENCE + "BTC-USD"] == engine.instruments["BTC-USD"].sequence
    assert counters[rows.LAST_PRICE + "BTC-USD"] == 10_000


def test_bracket_children_are_linked_until_one_ends() -> None:
    engine, ledger = Engine(), Ledger()
    ledger.build([run(engine, SETUP)])
    write_set = ledger.build([run(engine, [
        sell(10_000, 5),
        buy(10_000, 5, take_profit_price=11_000, stop_loss_price=9_000),
    ])])
    new = by_id(write_set)
    take_profit, stop_loss = (row for row in new.values() if row["parent_order_id"] == 2)
    assert take_profit["type"] == OrderType.LIMIT
    assert stop_loss["type"] == OrderType.STOP_MARKET
    assert take_profit["sibling_order_id"] == stop_loss["order_id"]
    assert stop_loss["sibling_order_id"] == take_profit["order_id"]
    assert stop_loss["status"] == "pending"
    # Cancelling the take-profit unpairs the stop-loss (an update of its stored row).
    tp_id = int(take_profit["order_id"])  # type: ignore[call-overload]
    sl_id = int(stop_loss["order_id"])  # type: ignore[call-overload]
    write_set = ledger.build([run(engine, [CancelOrder(ts=3, account_id=1, order_id=tp_id)])])
    changed = by_id(write_set, "changed_orders")
    assert changed[tp_id]["status"] == "cancelled"
    assert changed[sl_id]["sibling_order_id"] is None
    assert engine.orders[sl_id].sibling is None


def test_a_retried_write_set_is_built_once() -> None:
    engine, ledger = Engine(), Ledger()
    first = ledger.build([run(engine, SETUP)])
    second = ledger.build([run(engine, [buy(10_000, 1)])])
    assert (first.seq, second.seq) == (1, 2)
    assert (first.batches, second.batches) == (1, 2)
