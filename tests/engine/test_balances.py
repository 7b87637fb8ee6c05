"""Balances: holds, releases, fees and their rounding, conservation, deposits and withdrawals."""

import pytest

from exchange.engine.events import (
    BalanceChanged,
    FundsDeposited,
    FundsWithdrawn,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    RequestRejected,
    TradeExecuted,
)

from .helpers import (
    ALICE,
    BOB,
    CAROL,
    FEE_ACCOUNT,
    Sim,
    btc,
    fee_increments,
    inc,
    kinds,
    of_type,
    one,
    usd,
)

START_USD = usd("1000000")
START_BTC = btc("100")
TERMINAL = (OrderFilled, OrderCancelled, OrderExpired)


# -- HOLDS --


def test_buy_limit_holds_price_times_quantity_plus_the_fee_rounded_up(sim: Sim) -> None:
    sim.limit(ALICE, "buy", "1", "100")
    # 1 lot at 100.01: notional 10_001 increments, fee ceil(20.002) = 21 increments.
    sim.limit(BOB, "buy", "0.001", "100.01")

    assert sim.balance(ALICE, "USD") == (START_USD, usd("100.2"))
    assert sim.balance(BOB, "USD") == (START_USD, inc(10_001 + 21))
    assert sim.balance(ALICE, "BTC") == (START_BTC, 0)


def test_sell_limit_holds_its_base_quantity(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "2.5", "100")

    assert sim.balance(ALICE, "BTC") == (START_BTC, btc("2.5"))
    assert sim.balance(ALICE, "USD") == (START_USD, 0)


def test_cancel_releases_the_hold(sim: Sim) -> None:
    buy = sim.limit(ALICE, "buy", "1", "100")
    sell = sim.limit(ALICE, "sell", "1", "101")

    events = sim.cancel(ALICE, buy) + sim.cancel(ALICE, sell)

    assert sim.balance(ALICE, "USD") == (START_USD, 0)
    assert sim.balance(ALICE, "BTC") == (START_BTC, 0)
    changes = of_type(events, BalanceChanged)
    assert [(c.asset, c.total, c.held) for c in changes] == [
        ("USD", START_USD, 0), ("BTC", START_BTC, 0),
    ]


def test_placement_beyond_the_available_balance_is_rejected(sim: Sim) -> None:
    dave = sim.new_account(USD="100.1", BTC="0.5")

    buy = sim.place(dave, "buy", "1", "100")  # needs 100.2
    sell = sim.place(dave, "sell", "0.501", "100")

    for events in (buy, sell):
        assert kinds(events, balances=True) == ["OrderRejected"]
        assert one(events, OrderRejected).reason == "insufficient_funds"
    assert sim.balance(dave, "USD") == (usd("100.1"), 0)
    assert sim.balance(dave, "BTC") == (btc("0.5"), 0)


def test_taker_buy_filled_below_its_limit_releases_the_excess(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "1", "100")

    sim.place(BOB, "buy", "2", "105")

    # Paid 100.2 for the lot filled at 100; the rest rests at 105 and holds 105.21.
    assert sim.balance(BOB, "USD") == (START_USD - usd("100.2"), usd("105.21"))
    sim.place(CAROL, "buy", "1", "99")
    assert sim.depth()[0] == [(10500, 1000, 1), (9900, 1000, 1)]


def test_fully_filled_taker_buy_releases_everything(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "1", "100")

    sim.place(BOB, "buy", "1", "105")

    assert sim.balance(BOB, "USD") == (START_USD - usd("100.2"), 0)


def test_maker_buy_releases_the_unused_part_of_its_fee_bound(sim: Sim) -> None:
    sim.limit(BOB, "buy", "2", "100")  # holds 200.4 (taker rate bound)

    sim.place(ALICE, "sell", "1", "100")

    # Paid 100 + 0.1 maker fee; the remaining lot holds 100 x 1.002 again.
    assert sim.balance(BOB, "USD") == (START_USD - usd("100.1"), usd("100.2"))
    sim.place(ALICE, "sell", "1", "100")
    assert sim.balance(BOB, "USD") == (START_USD - usd("200.2"), 0)


# -- FEES --


def test_fees_on_both_sides_go_to_the_fee_account(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "1", "100")

    events = sim.place(BOB, "buy", "1", "100")

    trade = one(events, TradeExecuted)
    assert (trade.maker_fee, trade.taker_fee) == (usd("0.1"), usd("0.2"))
    assert sim.balance(BOB, "USD") == (START_USD - usd("100.2"), 0)
    assert sim.balance(ALICE, "USD") == (START_USD + usd("99.9"), 0)
    assert sim.balance(FEE_ACCOUNT, "USD") == (usd("0.3"), 0)
    assert sim.balance(FEE_ACCOUNT, "BTC") == (0, 0)


def test_fee_is_rounded_up_to_the_quote_increment(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "0.001", "100.01")

    events = sim.place(BOB, "buy", "0.001", "100.01")

    # Notional 10_001 increments: maker 10.001 -> 11, taker 20.002 -> 21 increments.
    trade = one(events, TradeExecuted)
    assert (trade.maker_fee, trade.taker_fee) == (inc(11), inc(21))
    assert sim.balance(ALICE, "USD") == (START_USD + inc(10_001 - 11), 0)
    assert sim.balance(BOB, "USD") == (START_USD - inc(10_001 + 21), 0)
    assert sim.balance(FEE_ACCOUNT, "USD") == (inc(32), 0)


def test_an_orders_fees_are_rounded_once_not_per_fill(sim: Sim) -> None:
    # Each order's total fee is ceil(sum of its notionals x rate), charged as it rises.
    maker = sim.limit(ALICE, "sell", "0.002", "100.01")
    first = sim.place(BOB, "buy", "0.001", "100.01")
    second = sim.place(CAROL, "buy", "0.001", "100.01")

    t1, t2 = one(first, TradeExecuted), one(second, TradeExecuted)
    assert t1.maker_order_id == t2.maker_order_id == maker
    # Maker: ceil(10.001) = 11, then ceil(20.002) - 11 = 10 (not 11 again).
    assert (t1.maker_fee, t2.maker_fee) == (inc(11), inc(10))
    # The takers are separate orders: each pays ceil(20.002) = 21.
    assert (t1.taker_fee, t2.taker_fee) == (inc(21), inc(21))
    assert sim.balance(ALICE, "USD") == (START_USD + inc(2 * 10_001 - 21), 0)
    assert sim.balance(FEE_ACCOUNT, "USD") == (inc(11 + 10 + 21 + 21), 0)


def test_a_taker_sweeping_several_makers_pays_the_rise_of_its_rounded_fee(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "0.001", "100.01")
    sim.limit(CAROL, "sell", "0.001", "100.01")
    sim.limit(ALICE, "sell", "0.001", "100.03")

    events = sim.place(BOB, "buy", "0.003", "100.03")

    trades = of_type(events, TradeExecuted)
    notionals = [t.price * t.quantity for t in trades]
    assert notionals == [10_001, 10_001, 10_003]
    # Cumulative exact fee 20.002, 40.004, 60.010 -> 21, 41, 61: charged 21, 20, 20.
    assert [t.taker_fee for t in trades] == [inc(21), inc(20), inc(20)]
    assert [t.maker_fee for t in trades] == [inc(11), inc(11), inc(11)]
    total = fee_increments(sum(notionals), 200_000)
    assert total == 61
    assert sim.balance(BOB, "USD") == (START_USD - inc(sum(notionals) + total), 0)
    sim.assert_conserved()


def test_every_asset_is_conserved_through_a_busy_session(sim: Sim) -> None:
    dave = sim.new_account(USD="5000", BTC="3")
    sim.limit(ALICE, "sell", "0.7", "100.03")
    sim.limit(BOB, "sell", "1.3", "100.07")
    sim.limit(CAROL, "buy", "0.9", "99.99")
    sim.place(dave, "buy", "1.1", "100.05")  # partial fill, rests
    sim.market(ALICE, "sell", "1.2")  # sweeps the bids
    sim.market(CAROL, "buy", quote_quantity="77.77")
    sim.place(ALICE, "buy", "0.5", "100.07", self_trade_prevention="none")
    sim.stop(BOB, "sell", "0.4", "99.5")
    sim.place(CAROL, "buy", "0.6", "100.07", take_profit_price="101", stop_loss_price="99.8")
    sim.place(dave, "sell", "2", "99", time_in_force="ioc")
    sim.withdraw(dave, "USD", usd("1.23"))
    sim.cancel_all(ALICE)
    sim.cancel_all(BOB)

    assert of_type(sim.log, TradeExecuted)
    assert sim.balance(FEE_ACCOUNT, "USD")[0] > 0
    sim.assert_conserved()
    # Totals of every account, fee account included, add up to what was paid in and out.
    assert sum(sim.balance(a, "USD")[0] for a in sim.accounts) == (
        3 * START_USD + usd("5000") - usd("1.23")
    )
    assert sum(sim.balance(a, "BTC")[0] for a in sim.accounts) == 3 * START_BTC + btc("3")
    # With every order cancelled, each accepted order has had exactly one terminal event.
    for account in (BOB, CAROL, dave):
        sim.cancel_all(account)
    assert all(held == 0 for a in sim.accounts for _, held in
               (sim.balance(a, "USD"), sim.balance(a, "BTC")))
    accepted = [e.order_id for e in of_type(sim.log, OrderAccepted)]
    ends = [e.order_id for e in sim.log if isinstance(e, TERMINAL)] + [
        e.order_id for e in of_type(sim.log, OrderRejected) if e.order_id
    ]
    assert sorted(ends) == sorted(accepted)


def test_balance_changes_come_once_per_account_and_asset_after_the_other_events(
    sim: Sim,
) -> None:
    sim.limit(ALICE, "sell", "0.5", "100")
    sim.limit(CAROL, "sell", "0.5", "101")
    sim.limit(ALICE, "sell", "0.5", "102")

    events = sim.place(BOB, "buy", "1.5", "102")

    first = next(i for i, e in enumerate(events) if isinstance(e, BalanceChanged))
    assert all(isinstance(e, BalanceChanged) for e in events[first:])
    changes = events[first:]
    keys = [(c.account_id, c.asset) for c in changes]
    assert len(keys) == len(set(keys)) == 7  # buyer x2, two sellers x2, fee account
    for change in changes:
        assert (change.total, change.held) == sim.balance(change.account_id, change.asset)


# -- DEPOSITS AND WITHDRAWALS --


def test_deposit_is_idempotent_by_transfer_id(sim: Sim) -> None:
    first = sim.deposit(ALICE, "USD", usd("10"), transfer_id="dep-1")
    again = sim.deposit(ALICE, "USD", usd("10"), transfer_id="dep-1")
    other = sim.deposit(BOB, "USD", usd("10"), transfer_id="dep-1")  # another account's id

    assert one(first, FundsDeposited).amount == usd("10")
    assert kinds(again, balances=True) == ["RequestRejected"]
    assert one(again, RequestRejected).reason == "duplicate_transfer"
    assert one(other, FundsDeposited).transfer_id == "dep-1"
    assert sim.balance(ALICE, "USD") == (START_USD + usd("10"), 0)
    assert sim.balance(BOB, "USD") == (START_USD + usd("10"), 0)


def test_deposits_without_a_transfer_id_all_count(sim: Sim) -> None:
    sim.deposit(ALICE, "ETH", usd("1"))
    sim.deposit(ALICE, "ETH", usd("1"))

    assert sim.balance(ALICE, "ETH") == (usd("2"), 0)


def test_withdrawal_is_idempotent_by_transfer_id(sim: Sim) -> None:
    first = sim.withdraw(ALICE, "BTC", btc("1"), transfer_id="wd-1")
    again = sim.withdraw(ALICE, "BTC", btc("1"), transfer_id="wd-1")

    withdrawn = one(first, FundsWithdrawn)
    assert (withdrawn.account_id, withdrawn.asset, withdrawn.amount) == (ALICE, "BTC", btc("1"))
    assert one(again, RequestRejected).reason == "duplicate_transfer"
    assert sim.balance(ALICE, "BTC") == (START_BTC - btc("1"), 0)
    changes = of_type(first, BalanceChanged)
    assert [(c.total, c.held) for c in changes] == [(START_BTC - btc("1"), 0)]


def test_withdrawal_over_the_available_balance_is_rejected(sim: Sim) -> None:
    sim.limit(ALICE, "sell", "40", "100")  # 60 BTC left available

    over = sim.withdraw(ALICE, "BTC", btc("60") + 1, transfer_id="wd-2")
    exact = sim.withdraw(ALICE, "BTC", btc("60"), transfer_id="wd-3")

    rejected = one(over, RequestRejected)
    assert (rejected.account_id, rejected.reason) == (ALICE, "insufficient_funds")
    assert of_type(over, BalanceChanged) == []
    assert one(exact, FundsWithdrawn).amount == btc("60")
    assert sim.balance(ALICE, "BTC") == (btc("40"), btc("40"))
    # A refused withdrawal does not use up its transfer id.
    sim.deposit(ALICE, "BTC", btc("1"))
    assert one(sim.withdraw(ALICE, "BTC", btc("1"), transfer_id="wd-2"), FundsWithdrawn)


@pytest.mark.parametrize(
    ("account", "amount", "reason"),
    [(ALICE, 0, "invalid_order"), (ALICE, -5, "invalid_order"), (99, 5, "not_found"),
     (FEE_ACCOUNT, 5, "not_found")],
)
def test_bad_transfers_are_rejected(sim: Sim, account: int, amount: int, reason: str) -> None:
    events = sim.deposit(account, "USD", amount) + sim.withdraw(account, "USD", amount)

    assert [e.reason for e in of_type(events, RequestRejected)] == [reason, reason]
    assert kinds(events, balances=True) == ["RequestRejected", "RequestRejected"]
