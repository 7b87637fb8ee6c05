"""Time in force: GTC rests, IOC expires its remainder, FOK all or nothing, GTD expiry."""

import pytest

from exchange.engine.commands import Deposit
from exchange.engine.events import (
    BookLevelChanged,
    OrderAccepted,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    TradeExecuted,
)

from .helpers import (
    ALICE,
    BOB,
    CAROL,
    Sim,
    accepted_id,
    btc,
    fills,
    kinds,
    levels,
    of_type,
    one,
    usd,
)

START = 1_000_000  # the sim's clock before the test's first command


@pytest.fixture
def asks(sim: Sim) -> Sim:
    """Asks: 1 @ 100 (ALICE), 1 @ 101 (BOB)."""
    sim.limit(ALICE, "sell", "1", "100")
    sim.limit(BOB, "sell", "1", "101")
    return sim


def test_gtc_rests_until_filled(asks: Sim) -> None:
    sim = asks
    events = sim.place(CAROL, "buy", "2", "100", time_in_force="gtc")

    assert fills(events) == [(10000, 1000)]
    assert of_type(events, OrderExpired) == []
    assert sim.depth()[0] == [(10000, 1000, 1)]


def test_ioc_fills_what_it_can_and_expires_the_remainder(asks: Sim) -> None:
    sim = asks
    events = sim.place(CAROL, "buy", "2", "100", time_in_force="ioc")

    assert fills(events) == [(10000, 1000)]
    expired = one(events, OrderExpired)
    assert (expired.order_id, expired.reason) == (accepted_id(events), "ioc")
    assert levels(events) == [("sell", 10000, 0, 0)]  # nothing rests
    assert sim.depth() == ([], [(10100, 1000, 1)])
    # 100.2 spent, the hold for the unfilled lot released.
    assert sim.balance(CAROL, "USD") == (usd("1000000") - usd("100.2"), 0)


def test_ioc_that_does_not_cross_expires_without_touching_the_book(asks: Sim) -> None:
    sim = asks
    events = sim.place(CAROL, "buy", "1", "99", time_in_force="ioc")

    assert kinds(events) == ["OrderAccepted", "OrderExpired"]
    assert one(events, OrderExpired).reason == "ioc"
    assert sim.balance(CAROL, "USD") == (usd("1000000"), 0)


def test_fok_that_cannot_fill_completely_expires_with_no_trade_and_no_book_change(
    asks: Sim,
) -> None:
    sim = asks
    events = sim.place(CAROL, "buy", "2.5", "101", time_in_force="fok")

    assert kinds(events) == ["OrderAccepted", "OrderExpired"]
    expired = one(events, OrderExpired)
    assert (expired.order_id, expired.reason) == (accepted_id(events), "fok")
    assert of_type(events, TradeExecuted) == []
    assert of_type(events, BookLevelChanged) == []
    assert sim.depth() == ([], [(10000, 1000, 1), (10100, 1000, 1)])
    assert sim.balance(CAROL, "USD") == (usd("1000000"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("1"))


def test_fok_limited_by_its_price_expires(asks: Sim) -> None:
    sim = asks
    events = sim.place(CAROL, "buy", "2", "100", time_in_force="fok")

    assert one(events, OrderExpired).reason == "fok"
    assert of_type(events, BookLevelChanged) == []
    assert sim.depth() == ([], [(10000, 1000, 1), (10100, 1000, 1)])


def test_fok_that_can_fill_takes_every_level_it_needs(asks: Sim) -> None:
    sim = asks
    events = sim.place(CAROL, "buy", "2", "101", time_in_force="fok")

    assert fills(events) == [(10000, 1000), (10100, 1000)]
    assert accepted_id(events) in [e.order_id for e in of_type(events, OrderFilled)]
    assert of_type(events, OrderExpired) == []
    assert sim.depth() == ([], [])


def test_fok_sell_counts_only_bids_at_or_above_its_price(sim: Sim) -> None:
    sim.limit(ALICE, "buy", "1", "100")
    sim.limit(BOB, "buy", "1", "99")

    short = sim.place(CAROL, "sell", "2", "100", time_in_force="fok")
    enough = sim.place(CAROL, "sell", "2", "99", time_in_force="fok")

    assert one(short, OrderExpired).reason == "fok"
    assert of_type(short, BookLevelChanged) == []
    assert fills(enough) == [(10000, 1000), (9900, 1000)]


def test_gtd_rests_then_expires_at_its_expire_time(sim: Sim) -> None:
    order_id = sim.limit(ALICE, "buy", "1", "100", time_in_force="gtd",
                         expire_time=START + 5_000)
    assert sim.balance(ALICE, "USD")[1] == usd("100.2")

    early = sim.expire(START + 4_999)
    due = sim.expire(START + 5_000)

    assert early == []
    assert kinds(due) == ["BookLevelChanged", "OrderExpired"]
    expired = one(due, OrderExpired)
    assert (expired.order_id, expired.reason, expired.ts) == (order_id, "gtd", START + 5_000)
    assert levels(due) == [("buy", 10000, 0, 0)]
    assert sim.depth() == ([], [])
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)


def test_gtd_expires_before_a_later_command_whose_ts_is_past_it(sim: Sim) -> None:
    gtd = sim.limit(ALICE, "sell", "1", "100", time_in_force="gtd", expire_time=START + 100)

    events = sim.place(BOB, "buy", "1", "100", ts=START + 200)

    # The GTD order is gone before the buy runs: the buy rests instead of trading.
    assert kinds(events) == [
        "BookLevelChanged", "OrderExpired", "OrderAccepted", "BookLevelChanged",
    ]
    assert one(events, OrderExpired).order_id == gtd
    assert one(events, OrderExpired).reason == "gtd"
    assert of_type(events, TradeExecuted) == []
    assert sim.depth() == ([(10000, 1000, 1)], [])
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)


def test_gtd_expiry_comes_before_any_kind_of_command(sim: Sim) -> None:
    gtd = sim.limit(ALICE, "sell", "1", "100", time_in_force="gtd", expire_time=START + 100)

    before = sim.handle(Deposit(account_id=BOB, asset="USD", amount=usd("1"), ts=START + 99))
    at = sim.handle(Deposit(account_id=BOB, asset="USD", amount=usd("1"), ts=START + 100))

    assert kinds(before) == ["FundsDeposited"]
    assert kinds(at) == ["BookLevelChanged", "OrderExpired", "FundsDeposited"]
    assert one(at, OrderExpired).order_id == gtd
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)


def test_gtd_partially_filled_expires_its_remainder(sim: Sim) -> None:
    gtd = sim.limit(ALICE, "sell", "2", "100", time_in_force="gtd", expire_time=START + 100)
    sim.place(BOB, "buy", "0.5", "100")

    due = sim.expire(START + 100)

    assert one(due, OrderExpired).order_id == gtd
    assert levels(due) == [("sell", 10000, 0, 0)]
    assert sim.balance(ALICE, "BTC") == (btc("99.5"), 0)


def test_filled_gtd_order_does_not_expire_again(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "1", "100", time_in_force="gtd", expire_time=START + 100)
    sim.place(BOB, "buy", "1", "100")

    assert sim.expire(START + 100) == []


@pytest.mark.parametrize("offset", [0, -1])
def test_gtd_expiring_at_or_before_its_ts_is_invalid(sim: Sim, offset: int) -> None:
    ts = START + 50
    events = sim.place(ALICE, "buy", "1", "100", ts=ts, time_in_force="gtd",
                       expire_time=ts + offset)

    rejected = one(events, OrderRejected)
    assert (rejected.reason, rejected.order_id) == ("invalid_order", 0)
    assert of_type(events, OrderAccepted) == []
    assert sim.depth() == ([], [])


@pytest.mark.parametrize(
    "fields",
    [
        {"time_in_force": "gtd"},  # without an expire_time
        {"time_in_force": "gtc", "expire_time": START + 10**9},
        {"time_in_force": "ioc", "expire_time": START + 10**9},
    ],
)
def test_expire_time_goes_with_gtd_only(sim: Sim, fields: dict[str, object]) -> None:
    events = sim.place(ALICE, "buy", "1", "100", **fields)

    assert one(events, OrderRejected).reason == "invalid_order"
