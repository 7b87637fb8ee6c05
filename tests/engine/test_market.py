"""Market orders: by quantity, by quote quantity, on an empty book, and limited by funds."""

import pytest

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
    inc,
    kinds,
    of_type,
    one,
    usd,
)


@pytest.fixture
def asks(sim: Sim) -> Sim:
    """Asks: 1 @ 100 (ALICE), 1 @ 101 (BOB)."""
    sim.limit(ALICE, "sell", "1", "100")
    sim.limit(BOB, "sell", "1", "101")
    return sim


@pytest.fixture
def bids(sim: Sim) -> Sim:
    """Bids: 1 @ 100 (ALICE), 1 @ 99 (BOB)."""
    sim.limit(ALICE, "buy", "1", "100")
    sim.limit(BOB, "buy", "1", "99")
    return sim


def test_market_buy_by_quantity_sweeps_levels(asks: Sim) -> None:
    sim = asks
    events = sim.market(CAROL, "buy", "1.5")

    assert fills(events) == [(10000, 1000), (10100, 500)]
    trades = of_type(events, TradeExecuted)
    # Taker fee per order: ceil((10_000_000 + 5_050_000) x 0.002) = 30_100 increments,
    # charged as the rise of the rounded total: 20_000 then 10_100.
    assert [t.taker_fee for t in trades] == [inc(20_000), inc(10_100)]
    assert [e.order_id for e in of_type(events, OrderFilled)] == [1, accepted_id(events)]
    assert sim.balance(CAROL, "USD") == (usd("1000000") - usd("150.5") - usd("0.301"), 0)
    assert sim.balance(CAROL, "BTC") == (btc("101.5"), 0)
    assert sim.depth() == ([], [(10100, 500, 1)])
    sim.assert_conserved()


def test_market_sell_by_quantity_sweeps_bids(bids: Sim) -> None:
    sim = bids
    events = sim.market(CAROL, "sell", "1.5")

    assert fills(events) == [(10000, 1000), (9900, 500)]
    assert [e.order_id for e in of_type(events, OrderFilled)] == [1, accepted_id(events)]
    # Gross 149.5, taker fee ceil(14_950_000 x 0.002) = 29_900 increments = 0.299.
    assert sim.balance(CAROL, "USD") == (usd("1000000") + usd("149.5") - usd("0.299"), 0)
    assert sim.balance(CAROL, "BTC") == (btc("98.5"), 0)
    assert sim.depth() == ([(9900, 500, 1)], [])


def test_market_buy_by_quote_spends_at_most_the_quote_including_fees(asks: Sim) -> None:
    sim = asks
    events = sim.market(CAROL, "buy", quote_quantity="150")

    # 1 BTC at 100 costs 100.2. With 49.8 left, q lots at 101 cost
    # 10_100 q + ceil(20_000 + 20.2 q) - 20_000 increments: q = 492 costs 4_999_139,
    # q = 493 would cost 5_009_259 > 4_980_000.
    assert fills(events) == [(10000, 1000), (10100, 492)]
    assert [t.taker_fee for t in of_type(events, TradeExecuted)] == [inc(20_000), inc(9_939)]
    # The maker at 100 and the taker, whose budget cannot pay for another lot, are filled.
    assert [e.order_id for e in of_type(events, OrderFilled)] == [1, accepted_id(events)]
    spent = usd("1000000") - sim.balance(CAROL, "USD")[0]
    assert spent == inc(14_999_139)
    assert spent <= usd("150")
    assert sim.balance(CAROL, "USD")[1] == 0
    assert sim.balance(CAROL, "BTC") == (btc("101.492"), 0)
    sim.assert_conserved()


def test_market_sell_by_quote_sells_until_gross_proceeds_reach_it(bids: Sim) -> None:
    sim = bids
    events = sim.market(CAROL, "sell", quote_quantity="150")

    # 1 BTC at 100 gives 100; the remaining 50 buys floor(50 / 0.099) = 505 lots at 99.
    assert fills(events) == [(10000, 1000), (9900, 505)]
    assert [e.order_id for e in of_type(events, OrderFilled)] == [1, accepted_id(events)]
    assert of_type(events, OrderExpired) == []
    gross = sum(t.price * t.quantity for t in of_type(events, TradeExecuted))
    assert inc(gross) == usd("149.995")
    fee = sum(t.taker_fee for t in of_type(events, TradeExecuted))
    assert fee == usd("0.29999")
    assert sim.balance(CAROL, "USD") == (usd("1000000") + usd("149.995") - fee, 0)
    assert sim.balance(CAROL, "BTC") == (btc("98.495"), 0)
    assert sim.depth() == ([(9900, 495, 1)], [])


@pytest.mark.parametrize(
    "fields",
    [
        {"quantity": "1", "side": "buy"},
        {"quantity": "1", "side": "sell"},
        {"quote_quantity": "100", "side": "buy"},
        {"quote_quantity": "100", "side": "sell"},
        {"quantity": "1", "side": "buy", "time_in_force": "ioc"},  # ioc means the same
    ],
)
def test_market_order_on_an_empty_book_is_accepted_then_expires(
    sim: Sim, fields: dict[str, str]
) -> None:
    fields = dict(fields)
    side = fields.pop("side")
    quantity = fields.pop("quantity", None)

    events = sim.market(ALICE, side, quantity, **fields)

    assert kinds(events) == ["OrderAccepted", "OrderExpired"]
    expired = one(events, OrderExpired)
    assert (expired.order_id, expired.reason) == (accepted_id(events), "market")
    assert of_type(events, TradeExecuted) == []
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)


def test_market_buy_fills_what_the_funds_cover_and_expires_the_rest(asks: Sim) -> None:
    sim = asks
    dave = sim.new_account(USD="50.1")

    events = sim.market(dave, "buy", "1")

    # One lot at 100 costs 10_000 + 20 increments; 50.1 USD = 5_010_000 pays exactly 500.
    assert fills(events) == [(10000, 500)]
    expired = one(events, OrderExpired)
    assert (expired.order_id, expired.reason) == (accepted_id(events), "market")
    assert sim.balance(dave, "USD") == (0, 0)
    assert sim.balance(dave, "BTC") == (btc("0.5"), 0)
    assert sim.depth() == ([], [(10000, 500, 1), (10100, 1000, 1)])
    sim.assert_conserved()


def test_market_buy_by_quote_beyond_the_funds_expires_when_funds_run_out(asks: Sim) -> None:
    sim = asks
    dave = sim.new_account(USD="50.1")

    events = sim.market(dave, "buy", quote_quantity="80")

    assert fills(events) == [(10000, 500)]
    assert one(events, OrderExpired).reason == "market"
    assert sim.balance(dave, "USD") == (0, 0)


def test_market_buy_that_cannot_pay_one_lot_is_rejected(asks: Sim) -> None:
    sim = asks
    dave = sim.new_account(USD="0.1001")  # one lot at 100 costs 0.1002

    events = sim.market(dave, "buy", "1", client_order_id="m1")

    assert kinds(events) == ["OrderRejected"]
    rejected = one(events, OrderRejected)
    assert (rejected.reason, rejected.order_id, rejected.client_order_id) == (
        "insufficient_funds", 0, "m1",
    )
    assert sim.balance(dave, "USD") == (usd("0.1001"), 0)
    assert sim.depth() == ([], [(10000, 1000, 1), (10100, 1000, 1)])


def test_market_buy_without_funds_is_rejected_even_on_an_empty_book(sim: Sim) -> None:
    dave = sim.new_account()

    events = sim.market(dave, "buy", "1")

    assert one(events, OrderRejected).reason == "insufficient_funds"
    assert of_type(events, OrderAccepted) == []


def test_market_sell_beyond_the_base_balance_is_rejected(bids: Sim) -> None:
    sim = bids
    dave = sim.new_account(BTC="0.5")

    events = sim.market(dave, "sell", "1")

    assert one(events, OrderRejected).reason == "insufficient_funds"
    assert of_type(events, TradeExecuted) == []
    assert sim.balance(dave, "BTC") == (btc("0.5"), 0)


def test_market_order_that_exhausts_the_book_expires_the_rest(asks: Sim) -> None:
    sim = asks
    events = sim.market(CAROL, "buy", "3")

    assert fills(events) == [(10000, 1000), (10100, 1000)]
    assert one(events, OrderExpired).reason == "market"
    assert [e.quantity for e in of_type(events, BookLevelChanged)] == [0, 0]
    assert sim.balance(CAROL, "USD")[1] == 0
    assert sim.depth() == ([], [])


def test_quote_orders_that_exhaust_the_book_expire(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "1", "100")
    sim.limit(BOB, "buy", "1", "99")

    buy = sim.market(CAROL, "buy", quote_quantity="500")
    sell = sim.market(CAROL, "sell", quote_quantity="500")

    assert fills(buy) == [(10000, 1000)]
    assert fills(sell) == [(9900, 1000)]
    for events in (buy, sell):
        assert [(e.order_id, e.reason) for e in of_type(events, OrderExpired)] == [
            (accepted_id(events), "market"),
        ]
    assert sim.balance(CAROL, "USD") == (
        usd("1000000") - usd("100.2") + usd("99") - usd("0.198"), 0,
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"time_in_force": "fok"},
        {"time_in_force": "gtd", "expire_time": 10**12},
        {"post_only": True},
        {"quote_quantity": 10**12},  # with a quantity too
        {"price": 10_000},
    ],
)
def test_market_order_with_wrong_fields_is_invalid(asks: Sim, fields: dict[str, object]) -> None:
    sim = asks
    events = sim.market(CAROL, "buy", "1", **fields)

    assert one(events, OrderRejected).reason == "invalid_order"
    assert of_type(events, TradeExecuted) == []
