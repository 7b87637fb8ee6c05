"""Self-trade prevention, decided by the incoming order's mode; removed orders expire (stp)."""

from exchange.engine.events import OrderExpired, OrderFilled, TradeExecuted

from .helpers import ALICE, BOB, Sim, accepted_id, btc, fills, inc, kinds, levels, of_type, one, usd


def expired(events: list) -> list[tuple[int, str]]:
    return [(e.order_id, str(e.reason)) for e in of_type(events, OrderExpired)]


def test_cancel_newest_is_the_default_and_expires_the_incoming_order(sim: Sim) -> None:
    resting = sim.limit(ALICE, "sell", "1", "100")

    events = sim.place(ALICE, "buy", "1", "100")

    incoming = accepted_id(events)
    assert one(events, OrderExpired).reason == "stp"
    assert expired(events) == [(incoming, "stp")]
    assert of_type(events, TradeExecuted) == []
    assert kinds(events) == ["OrderAccepted", "OrderExpired"]
    assert sim.depth() == ([], [(10000, 1000, 1)])
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("100"), btc("1"))
    assert resting != incoming


def test_cancel_newest_trades_with_others_first_then_expires_the_remainder(sim: Sim) -> None:
    sim.limit(BOB, "sell", "1", "100")
    own = sim.limit(ALICE, "sell", "1", "100")

    events = sim.place(ALICE, "buy", "2", "100", self_trade_prevention="cancel_newest")

    assert fills(events) == [(10000, 1000)]
    assert expired(events) == [(accepted_id(events), "stp")]
    assert levels(events) == [("sell", 10000, 1000, 1)]
    assert sim.depth() == ([], [(10000, 1000, 1)])
    assert one(events, TradeExecuted).maker_account_id == BOB
    # Alice paid 100.2 for one BTC; her own ask is untouched and still held.
    assert sim.balance(ALICE, "USD") == (usd("1000000") - usd("100.2"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("101"), btc("1"))
    assert kinds(sim.cancel(ALICE, own)) == ["BookLevelChanged", "OrderCancelled"]


def test_cancel_oldest_expires_the_resting_order_and_goes_on_matching(sim: Sim) -> None:
    own = sim.limit(ALICE, "sell", "1", "100")
    other = sim.limit(BOB, "sell", "1", "100")

    events = sim.place(ALICE, "buy", "1", "100", self_trade_prevention="cancel_oldest")

    incoming = accepted_id(events)
    assert expired(events) == [(own, "stp")]
    trade = one(events, TradeExecuted)
    assert (trade.maker_order_id, trade.taker_order_id) == (other, incoming)
    assert [e.order_id for e in of_type(events, OrderFilled)] == [other, incoming]
    assert levels(events) == [("sell", 10000, 0, 0)]
    assert sim.depth() == ([], [])
    assert sim.balance(ALICE, "BTC") == (btc("101"), 0)  # own ask's hold released


def test_cancel_oldest_removes_every_own_order_in_the_way(sim: Sim) -> None:
    first = sim.limit(ALICE, "sell", "1", "100")
    second = sim.limit(ALICE, "sell", "1", "100.5")
    other = sim.limit(BOB, "sell", "1", "101")

    events = sim.place(ALICE, "buy", "1", "101", self_trade_prevention="cancel_oldest")

    assert expired(events) == [(first, "stp"), (second, "stp")]
    assert one(events, TradeExecuted).maker_order_id == other
    assert levels(events) == [("sell", 10000, 0, 0), ("sell", 10050, 0, 0),
                              ("sell", 10100, 0, 0)]


def test_cancel_both_expires_both_orders(sim: Sim) -> None:
    own = sim.limit(ALICE, "sell", "1", "100")
    sim.limit(BOB, "sell", "1", "101")

    events = sim.place(ALICE, "buy", "2", "101", self_trade_prevention="cancel_both")

    incoming = accepted_id(events)
    assert expired(events) == [(own, "stp"), (incoming, "stp")]
    assert of_type(events, TradeExecuted) == []
    assert levels(events) == [("sell", 10000, 0, 0)]
    assert sim.depth() == ([], [(10100, 1000, 1)])
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)


def test_none_lets_the_self_trade_happen_with_both_fees(sim: Sim) -> None:
    own = sim.limit(ALICE, "sell", "1", "100")

    events = sim.place(ALICE, "buy", "1", "100", self_trade_prevention="none")

    trade = one(events, TradeExecuted)
    assert (trade.maker_order_id, trade.taker_order_id) == (own, accepted_id(events))
    assert (trade.maker_account_id, trade.taker_account_id) == (ALICE, ALICE)
    assert (trade.maker_fee, trade.taker_fee) == (usd("0.1"), usd("0.2"))
    assert of_type(events, OrderExpired) == []
    assert sim.balance(ALICE, "USD") == (usd("1000000") - usd("0.3"), 0)
    assert sim.balance(ALICE, "BTC") == (btc("100"), 0)
    assert sim.balance(0, "USD") == (inc(30_000), 0)
    sim.assert_conserved()


def test_mode_of_the_resting_order_does_not_matter(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "1", "100", self_trade_prevention="none")

    events = sim.place(ALICE, "buy", "1", "100")  # cancel_newest

    assert expired(events) == [(accepted_id(events), "stp")]
    assert of_type(events, TradeExecuted) == []


def test_market_order_stopped_by_stp_expires_with_reason_stp(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "1", "100")

    events = sim.market(ALICE, "buy", "1")

    assert expired(events) == [(accepted_id(events), "stp")]
    assert sim.balance(ALICE, "USD") == (usd("1000000"), 0)


def test_fok_that_would_meet_its_own_order_expires_without_trading(sim: Sim) -> None:
    sim.limit(BOB, "sell", "1", "100")
    sim.limit(ALICE, "sell", "1", "100")

    events = sim.place(ALICE, "buy", "2", "100", time_in_force="fok")

    assert expired(events) == [(accepted_id(events), "fok")]
    assert of_type(events, TradeExecuted) == []
    assert sim.depth() == ([], [(10000, 2000, 2)])


def test_fok_with_cancel_oldest_counts_only_the_others_liquidity(sim: Sim) -> None:
    own = sim.limit(ALICE, "sell", "1", "100")
    sim.limit(BOB, "sell", "1", "100")

    short = sim.place(ALICE, "buy", "2", "100", time_in_force="fok",
                      self_trade_prevention="cancel_oldest")
    enough = sim.place(ALICE, "buy", "1", "100", time_in_force="fok",
                       self_trade_prevention="cancel_oldest")

    assert expired(short) == [(accepted_id(short), "fok")]
    assert of_type(short, TradeExecuted) == []
    assert expired(enough) == [(own, "stp")]
    assert fills(enough) == [(10000, 1000)]
    assert sim.depth() == ([], [])
