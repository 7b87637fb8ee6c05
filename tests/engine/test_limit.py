"""Limit orders: price-time priority, maker-price trades, partial fills, book events."""

from exchange.engine.events import (
    BookLevelChanged,
    OrderAccepted,
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
    levels,
    of_type,
    one,
    px,
    qty,
    usd,
)


def test_resting_orders_build_levels_with_absolute_quantities_and_counts(sim: Sim) -> None:
    e1 = sim.place(ALICE, "sell", "1", "101")
    e2 = sim.place(BOB, "sell", "2", "101")
    e3 = sim.place(CAROL, "sell", "1", "102")
    e4 = sim.place(ALICE, "buy", "0.5", "99")

    assert levels(e1) == [("sell", 10100, 1000, 1)]
    assert levels(e2) == [("sell", 10100, 3000, 2)]
    assert levels(e3) == [("sell", 10200, 1000, 1)]
    assert levels(e4) == [("buy", 9900, 500, 1)]
    assert sim.depth() == ([(9900, 500, 1)], [(10100, 3000, 2), (10200, 1000, 1)])
    assert of_type(e1 + e2 + e3 + e4, TradeExecuted) == []


def test_book_sequence_rises_by_one_per_event(sim: Sim) -> None:
    sim.place(ALICE, "sell", "1", "101")
    sim.place(BOB, "sell", "1", "102")
    sim.place(BOB, "sell", "1", "103")
    sweep = sim.place(CAROL, "buy", "2.5", "103")  # takes two levels, eats into a third
    order_id = sim.limit(ALICE, "buy", "1", "90")
    cancel = sim.cancel(ALICE, order_id)

    book = of_type(sim.log, BookLevelChanged)
    assert [event.sequence for event in book] == list(range(1, len(book) + 1))
    # One event per level the sweep touched, each with the level's absolute state.
    assert levels(sweep) == [
        ("sell", 10100, 0, 0),
        ("sell", 10200, 0, 0),
        ("sell", 10300, 500, 1),
    ]
    assert [event.sequence for event in of_type(sweep, BookLevelChanged)] == [4, 5, 6]
    assert levels(cancel) == [("buy", 9000, 0, 0)]
    assert of_type(cancel, BookLevelChanged)[0].sequence == 8
    assert all(event.symbol == "BTC-USD" for event in book)


def test_better_price_fills_first_whatever_the_arrival_order(sim: Sim) -> None:
    worse = sim.limit(ALICE, "sell", "1", "102")
    better = sim.limit(BOB, "sell", "1", "101")

    events = sim.place(CAROL, "buy", "1.5", "102")

    trades = of_type(events, TradeExecuted)
    assert [(t.maker_order_id, t.price, t.quantity) for t in trades] == [
        (better, 10100, 1000),
        (worse, 10200, 500),
    ]
    assert sim.depth() == ([], [(10200, 500, 1)])


def test_bids_fill_from_the_highest_price(sim: Sim) -> None:
    low = sim.limit(ALICE, "buy", "1", "98")
    high = sim.limit(BOB, "buy", "1", "99")

    events = sim.place(CAROL, "sell", "2", "98")

    assert [t.maker_order_id for t in of_type(events, TradeExecuted)] == [high, low]
    assert fills(events) == [(9900, 1000), (9800, 1000)]
    assert sim.depth() == ([], [])


def test_earlier_order_at_a_level_fills_first(sim: Sim) -> None:
    first = sim.limit(ALICE, "sell", "1", "100")
    second = sim.limit(BOB, "sell", "1", "100")

    events = sim.place(CAROL, "buy", "1.5", "100")

    trades = of_type(events, TradeExecuted)
    assert [(t.maker_order_id, t.quantity) for t in trades] == [(first, 1000), (second, 500)]
    assert [e.order_id for e in of_type(events, OrderFilled)] == [first, accepted_id(events)]
    assert sim.depth() == ([], [(10000, 500, 1)])
    assert levels(events) == [("sell", 10000, 500, 1)]


def test_trade_executes_at_the_resting_price(sim: Sim) -> None:
    bid = sim.limit(BOB, "buy", "1", "101")

    events = sim.place(ALICE, "sell", "1", "99")

    trade = one(events, TradeExecuted)
    assert trade.price == px("101")
    assert trade.quantity == qty("1")
    assert trade.taker_side == "sell"
    assert (trade.maker_order_id, trade.maker_account_id) == (bid, BOB)
    assert (trade.taker_order_id, trade.taker_account_id) == (accepted_id(events), ALICE)
    # The seller gets the maker's price, less the taker fee of 0.2% on 101.
    assert trade.taker_fee == usd("0.202")
    assert trade.maker_fee == usd("0.101")
    assert sim.balance(ALICE, "USD") == (usd("1000000") + usd("101") - usd("0.202"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("99"), 0)


def test_event_order_of_a_simple_cross(sim: Sim) -> None:
    maker = sim.limit(ALICE, "sell", "1", "100")

    events = sim.place(BOB, "buy", "1", "100")

    assert kinds(events) == [
        "OrderAccepted",
        "TradeExecuted",
        "OrderFilled",  # the maker
        "BookLevelChanged",
        "OrderFilled",  # the taker
    ]
    assert [e.order_id for e in of_type(events, OrderFilled)] == [maker, maker + 1]
    # Balance changes come last, once per changed (account, asset), with absolute values.
    tail = events[5:]
    assert {(b.account_id, b.asset) for b in tail} == {
        (BOB, "USD"), (BOB, "BTC"), (ALICE, "BTC"), (ALICE, "USD"), (0, "USD"),
    }
    assert len(tail) == 5
    for change in tail:
        assert sim.balance(change.account_id, change.asset) == (change.total, change.held)


def test_partial_fill_rests_the_remainder(sim: Sim) -> None:
    sim.place(ALICE, "sell", "1", "100")

    events = sim.place(BOB, "buy", "3", "100")

    assert fills(events) == [(10000, 1000)]
    assert levels(events) == [("sell", 10000, 0, 0), ("buy", 10000, 2000, 1)]
    assert of_type(events, OrderFilled)[0].order_id != accepted_id(events)  # only the maker
    assert len(of_type(events, OrderFilled)) == 1
    assert sim.depth() == ([(10000, 2000, 1)], [])
    # Bob paid 100 + 0.2 fee and still holds 2 x 100 x 1.002 for the rest.
    assert sim.balance(BOB, "USD") == (usd("1000000") - usd("100.2"), usd("200.4"))


def test_maker_partially_filled_keeps_its_place(sim: Sim) -> None:
    first = sim.limit(ALICE, "sell", "2", "100")
    second = sim.limit(BOB, "sell", "1", "100")
    sim.place(CAROL, "buy", "1", "100")

    events = sim.place(CAROL, "buy", "1.5", "100")

    trades = of_type(events, TradeExecuted)
    assert [(t.maker_order_id, t.quantity) for t in trades] == [(first, 1000), (second, 500)]
    assert sim.depth() == ([], [(10000, 500, 1)])


def test_order_and_trade_ids_increase_and_rejections_use_none(sim: Sim) -> None:
    a = sim.limit(ALICE, "sell", "1", "100")
    rejected = sim.place(ALICE, "sell", "1", "100", post_only=True, time_in_force="ioc")
    b = sim.limit(BOB, "sell", "1", "100")
    events = sim.place(CAROL, "buy", "2", "100")

    assert one(rejected, OrderRejected).order_id == 0
    assert of_type(rejected, OrderAccepted) == []
    assert (a, b, accepted_id(events)) == (1, 2, 3)
    assert [t.trade_id for t in of_type(events, TradeExecuted)] == [1, 2]


def test_non_crossing_orders_do_not_trade(sim: Sim) -> None:
    sim.place(ALICE, "sell", "1", "100.01")

    events = sim.place(BOB, "buy", "1", "100")

    assert of_type(events, TradeExecuted) == []
    assert sim.depth() == ([(10000, 1000, 1)], [(10001, 1000, 1)])
    assert sim.balance(BOB, "USD")[1] == inc(10000 * 1000 + 20000)


def test_each_symbol_has_its_own_book_sequence(sim: Sim) -> None:
    sim.add_instrument("ETH-USD", "ETH", "USD")
    sim.place(ALICE, "buy", "1", "100")
    sim.place(ALICE, "buy", "1", "99")

    events = sim.place(ALICE, "buy", "1", "20", symbol="ETH-USD")

    level = one(events, BookLevelChanged)
    assert (level.symbol, level.price, level.sequence) == ("ETH-USD", 2000, 1)
    assert sim.depth("ETH-USD") == ([(2000, 1000, 1)], [])
    assert sim.depth()[0] == [(10000, 1000, 1), (9900, 1000, 1)]
