"""Reference data and housekeeping: instruments, halts, order limits, cancels, accounts."""

from decimal import Decimal

import pytest

from exchange.engine.commands import AddInstrument, HaltInstrument, ResumeInstrument
from exchange.engine.events import (
    InstrumentAdded,
    InstrumentStatusChanged,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    OrderTriggered,
    RequestRejected,
    TradeExecuted,
)

from .helpers import (
    ALICE,
    BOB,
    Sim,
    accepted_id,
    btc,
    fills,
    kinds,
    levels,
    make_sim,
    of_type,
    one,
    usd,
)

# -- INSTRUMENTS --


def test_add_instrument_announces_its_definition(sim: Sim) -> None:
    events = sim.add_instrument("ETH-USD", "ETH", "USD", min_quantity=5,
                                maker_fee_rate=Decimal("0"), taker_fee_rate=Decimal("0.0005"))

    added = one(events, InstrumentAdded)
    assert (added.symbol, added.base, added.quote) == ("ETH-USD", "ETH", "USD")
    assert (added.tick_size, added.lot_size, added.min_quantity) == (
        Decimal("0.01"), Decimal("0.001"), 5,
    )
    assert (added.maker_fee_rate, added.taker_fee_rate) == (Decimal("0"), Decimal("0.0005"))
    assert sim.depth("ETH-USD") == ([], [])


def test_adding_an_existing_symbol_is_a_conflict(sim: Sim) -> None:
    events = sim.add_instrument(tick_size=Decimal("1"))

    rejected = one(events, RequestRejected)
    assert rejected.reason == "conflict"
    assert of_type(events, InstrumentAdded) == []
    # The original definition stands: 100.01 is still on the tick grid.
    assert one(sim.place(ALICE, "buy", "1", "100.01"), OrderAccepted)


@pytest.mark.parametrize(
    "fields",
    [
        {"tick_size": Decimal("0")},
        {"tick_size": Decimal("-0.01")},
        {"lot_size": Decimal("0")},
        {"lot_size": Decimal("1E-13")},  # off the 10^-12 unit grid
        {"tick_size": Decimal("0.0000001"), "lot_size": Decimal("0.000001")},  # tick x lot
        {"min_quantity": 0},
        {"maker_fee_rate": Decimal("0.1")},
        {"taker_fee_rate": Decimal("-0.001")},
        {"taker_fee_rate": Decimal("0.000000001")},  # finer than 10^-8
    ],
)
def test_invalid_instrument_definitions_are_rejected(sim: Sim, fields: dict[str, object]) -> None:
    events = sim.add_instrument("ETH-USD", "ETH", "USD", **fields)

    assert one(events, RequestRejected).reason == "invalid_order"
    assert one(sim.place(ALICE, "buy", "1", "1", symbol="ETH-USD"), OrderRejected).reason == (
        "unknown_symbol"
    )


def test_empty_symbol_is_invalid(sim: Sim) -> None:
    events = sim.handle(AddInstrument(symbol="", base="X", quote="USD", tick_size=Decimal(1),
                                      lot_size=Decimal(1)))

    assert one(events, RequestRejected).reason == "invalid_order"


def test_quantity_below_the_minimum_is_rejected(sim: Sim) -> None:
    sim.add_instrument("ETH-USD", "ETH", "USD", min_quantity=5)
    sim.deposit(ALICE, "ETH", btc("1"))

    below = sim.place(ALICE, "sell", "0.004", "10", symbol="ETH-USD")
    at = sim.place(ALICE, "sell", "0.005", "10", symbol="ETH-USD")

    assert one(below, OrderRejected).reason == "quantity_below_minimum"
    assert one(at, OrderAccepted).order.quantity == 5


def test_decimals_off_the_grid_are_refused_at_the_edge(sim: Sim) -> None:
    instrument = sim.engine.instruments["BTC-USD"]

    assert instrument.ticks(Decimal("100.01")) == 10_001
    assert instrument.ticks(Decimal("100.005")) is None  # price_not_on_tick
    assert instrument.lots(Decimal("1.5")) == 1_500
    assert instrument.lots(Decimal("0.0005")) is None  # quantity_not_on_lot
    assert instrument.price_decimal(10_001) == Decimal("100.01")
    assert instrument.quantity_decimal(1_500) == Decimal("1.5")


# -- HALTS --


def test_halt_rejects_orders_and_amends_but_not_cancels(sim: Sim) -> None:
    resting = sim.limit(ALICE, "sell", "1", "100")
    other = sim.limit(ALICE, "sell", "1", "101")

    halted = sim.handle(HaltInstrument(symbol="BTC-USD"))
    place = sim.place(BOB, "buy", "1", "100")
    market = sim.market(BOB, "buy", "1")
    amend = sim.amend(ALICE, resting, quantity="0.5")
    cancel = sim.cancel(ALICE, other)

    status = one(halted, InstrumentStatusChanged)
    assert (status.symbol, status.halted) == ("BTC-USD", True)
    for events in (place, market):
        rejected = one(events, OrderRejected)
        assert (rejected.reason, rejected.order_id) == ("instrument_halted", 0)
        assert of_type(events, TradeExecuted) == []
    assert one(amend, RequestRejected).reason == "instrument_halted"
    assert one(cancel, OrderCancelled).order_id == other
    assert levels(cancel) == [("sell", 10100, 0, 0)]
    assert sim.depth() == ([], [(10000, 1000, 1)])
    assert sim.balance(BOB, "USD") == (usd("1000000"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("1"))


def test_resume_lets_trading_go_on(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "1", "100")
    sim.handle(HaltInstrument(symbol="BTC-USD"))

    resumed = sim.handle(ResumeInstrument(symbol="BTC-USD"))
    events = sim.place(BOB, "buy", "1", "100")

    assert one(resumed, InstrumentStatusChanged).halted is False
    assert one(events, TradeExecuted).price == 10000


def test_children_of_a_parent_cancelled_while_halted_never_trade(sim: Sim) -> None:
    sim.limit(BOB, "sell", "0.5", "100")
    sim.limit(BOB, "buy", "0.5", "90")
    parent = accepted_id(sim.place(ALICE, "buy", "1", "100", take_profit_price="90"))
    sim.handle(HaltInstrument(symbol="BTC-USD"))

    events = sim.cancel(ALICE, parent)

    assert of_type(events, TradeExecuted) == []
    refused = one(events, OrderRejected)
    assert (refused.reason, refused.order_id) == ("instrument_halted", 0)
    assert sim.depth() == ([(9000, 500, 1)], [])
    sim.assert_conserved()


def test_a_stop_loss_due_while_halted_triggers_on_resume(sim: Sim) -> None:
    sim.limit(BOB, "sell", "1", "100")
    sim.limit(BOB, "buy", "1", "99")
    # Fills 1 at 100 (the last price), rests 1; a sell stop at 100 is due as soon as it exists.
    parent = accepted_id(sim.place(ALICE, "buy", "2", "100", stop_loss_price="100"))
    sim.handle(HaltInstrument(symbol="BTC-USD"))

    cancelled = sim.cancel(ALICE, parent)  # creates the stop-loss while halted
    resumed = sim.handle(ResumeInstrument(symbol="BTC-USD"))

    assert of_type(cancelled, TradeExecuted) == []
    assert [e.parent_order_id for e in of_type(cancelled, OrderAccepted)] == [parent]
    assert len(of_type(resumed, OrderTriggered)) == 1
    assert fills(resumed) == [(9900, 1000)]
    sim.assert_conserved()


def test_halting_an_unknown_symbol_is_not_found(sim: Sim) -> None:
    events = sim.handle(HaltInstrument(symbol="DOGE-USD"))

    assert one(events, RequestRejected).reason == "not_found"


# -- LIMITS AND REFERENCES --


def test_too_many_open_orders() -> None:
    sim = make_sim(max_open_orders=3)
    first = sim.limit(ALICE, "buy", "1", "90")
    sim.limit(ALICE, "sell", "1", "110")
    sim.stop(ALICE, "sell", "1", "80")  # a pending stop counts too

    refused = sim.place(ALICE, "buy", "1", "91")
    others = sim.place(BOB, "buy", "1", "91")  # the limit is per account
    sim.cancel(ALICE, first)
    room = sim.place(ALICE, "buy", "1", "91")

    rejected = one(refused, OrderRejected)
    assert (rejected.reason, rejected.order_id) == ("too_many_open_orders", 0)
    assert sim.balance(ALICE, "USD")[1] == usd("91.182")  # only the new bid holds
    assert one(others, OrderAccepted)
    assert one(room, OrderAccepted)


def test_finished_orders_do_not_count_towards_the_limit() -> None:
    sim = make_sim(max_open_orders=3)
    for price in ("101", "102", "103"):
        sim.limit(BOB, "sell", "1", price)
    sim.limit(ALICE, "buy", "1", "90")
    sim.limit(ALICE, "buy", "1", "91")

    taker = sim.place(ALICE, "buy", "1", "101")  # the third order, filled at once
    after = sim.market(ALICE, "buy", "1")  # and another

    assert one(taker, TradeExecuted).price == 10100
    assert one(after, TradeExecuted).price == 10200


def test_bracket_children_respect_the_open_order_limit() -> None:
    sim = make_sim(max_open_orders=3)
    sim.limit(ALICE, "buy", "1", "90")
    sim.limit(ALICE, "buy", "1", "91")
    sim.limit(BOB, "sell", "1", "100")

    # The parent fills at once (2 open orders) and would bring two children (4 open).
    sim.place(ALICE, "buy", "1", "100", take_profit_price="110", stop_loss_price="95")

    assert len(of_type(sim.cancel_all(ALICE), OrderCancelled)) <= 3


@pytest.mark.parametrize(
    ("account", "order_id", "reason"),
    [
        (ALICE, 999, "not_found"),
        (ALICE, 0, "not_found"),
        (ALICE, 3, "order_not_open"),  # filled
        (ALICE, 2, "order_not_open"),  # already cancelled
        (BOB, 1, "forbidden"),
    ],
)
def test_cancel_refusals(sim: Sim, account: int, order_id: int, reason: str) -> None:
    assert sim.limit(ALICE, "sell", "1", "100") == 1
    assert sim.limit(ALICE, "sell", "1", "101") == 2
    sim.cancel(ALICE, 2)
    assert accepted_id(sim.place(ALICE, "buy", "1", "99")) == 3
    sim.place(BOB, "sell", "1", "99")

    events = sim.cancel(account, order_id)

    assert kinds(events, balances=True) == ["RequestRejected"]
    rejected = one(events, RequestRejected)
    assert (rejected.account_id, rejected.reason, rejected.order_id) == (
        account, reason, order_id,
    )
    assert sim.depth() == ([], [(10000, 1000, 1)])


def test_cancel_all_cancels_every_open_order_of_the_account(sim: Sim) -> None:
    sim.add_instrument("ETH-USD", "ETH", "USD")
    sim.deposit(ALICE, "ETH", btc("10"))
    mine = [
        sim.limit(ALICE, "buy", "1", "90"),
        sim.limit(ALICE, "sell", "1", "110"),
        sim.limit(ALICE, "sell", "1", "20", symbol="ETH-USD"),
        accepted_id(sim.stop(ALICE, "sell", "1", "80")),
    ]
    theirs = sim.limit(BOB, "buy", "1", "89")

    events = sim.cancel_all(ALICE)

    cancelled = of_type(events, OrderCancelled)
    assert sorted(e.order_id for e in cancelled) == sorted(mine)
    assert {e.reason for e in cancelled} == {"user"}
    assert theirs not in [e.order_id for e in cancelled]
    assert sim.depth() == ([(8900, 1000, 1)], [])
    assert sim.depth("ETH-USD") == ([], [])
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)
    assert sim.balance(ALICE, "ETH") == (btc("10"), 0)
    assert sim.cancel_all(ALICE) == []


def test_cancel_all_for_one_symbol_leaves_the_others(sim: Sim) -> None:
    sim.add_instrument("ETH-USD", "ETH", "USD")
    sim.deposit(ALICE, "ETH", btc("10"))
    btc_order = sim.limit(ALICE, "buy", "1", "90")
    eth_order = sim.limit(ALICE, "sell", "1", "20", symbol="ETH-USD")

    events = sim.cancel_all(ALICE, symbol="ETH-USD")

    assert [e.order_id for e in of_type(events, OrderCancelled)] == [eth_order]
    assert levels(events) == [("sell", 2000, 0, 0)]
    assert sim.depth() == ([(9000, 1000, 1)], [])
    assert sim.balance(ALICE, "ETH") == (btc("10"), 0)
    assert sim.balance(ALICE, "USD")[1] == usd("90.18")
    assert btc_order != eth_order


def test_cancel_all_for_an_unknown_account_is_not_found(sim: Sim) -> None:
    events = sim.cancel_all(99)

    assert one(events, RequestRejected).reason == "not_found"


@pytest.mark.parametrize(
    ("account", "symbol", "reason"),
    [(99, "BTC-USD", "not_found"), (0, "BTC-USD", "not_found"),
     (ALICE, "ETH-USD", "unknown_symbol")],
)
def test_placement_refusals_for_unknown_accounts_and_symbols(
    sim: Sim, account: int, symbol: str, reason: str
) -> None:
    events = sim.place(account, "buy", "1", "100", symbol=symbol)

    rejected = one(events, OrderRejected)
    assert (rejected.reason, rejected.order_id) == (reason, 0)
