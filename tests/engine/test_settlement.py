"""Settlement alone: hold rules, fees, one fill's balances, and release when an order ends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.engine.accounts import FEE_ACCOUNT_ID, Account
from exchange.engine.codes import OrderType
from exchange.engine.context import Context
from exchange.engine.settlement import Settlement, buy_hold, charge, required_hold
from exchange.engine.units import RATE_SCALE

from .parts import instrument, order

QM = 10**7  # USD units per quote increment (tick 0.01 x lot 0.001 = 0.00001 USD)
BM = 10**9  # BTC units per lot (0.001 BTC)


def funded(account_id: int, usd: int = 0, btc: int = 0) -> Account:
    account = Account(account_id)
    account.balance("USD").total = usd
    account.balance("BTC").total = btc
    return account


def test_buy_hold_adds_the_highest_fee_rounded_up() -> None:
    inst = instrument(maker="0.001", taker="0.002")
    # 100 ticks x 3 lots = 300 increments; 0.2% of it is 0.6, rounded up to 1.
    assert buy_hold(inst, 100, 3, 0, 0) == 301 * QM
    assert buy_hold(instrument(), 100, 3, 0, 0) == 300 * QM


def test_required_hold_follows_the_order_kind() -> None:
    inst = instrument()
    alice = Account(1)
    assert required_hold(order(1, alice, inst, "buy", 3, 100), 100, 3) == 300 * QM
    assert required_hold(order(2, alice, inst, "sell", 3, 100), 100, 3) == 3 * BM
    stop_buy = order(3, alice, inst, "buy", 3, type=OrderType.STOP_MARKET, stop_price=90)
    assert required_hold(stop_buy, None, 3) == 0
    half = order(4, alice, inst, "sell", 3, type=OrderType.STOP_MARKET, stop_price=90)
    half.sibling = order(5, alice, inst, "sell", 3, 110)
    assert required_hold(half, None, 3) == 0  # its take-profit holds for both


def test_charge_is_the_rise_of_the_rounded_up_total() -> None:
    made = order(1, Account(1), instrument(), "buy", 10, 100)
    rate = 200_000  # 0.002 at RATE_SCALE 10**8
    assert [charge(made, 100, rate) for _ in range(4)] == [1, 0, 0, 0]
    assert made.fee_paid == 1
    assert made.fee_num == 4 * 100 * rate
    assert charge(made, 100, 0) == 0


def test_a_new_orders_hold_refuses_what_the_account_cannot_fund() -> None:
    inst = instrument()
    alice = funded(1, usd=299 * QM, btc=3 * BM)
    settlement = Settlement({1: alice})
    buy = order(1, alice, inst, "buy", 3, 100)
    assert settlement.new_order_hold(buy.kind, True, 100, 3, None, inst,
                                     alice.balance("USD")) == -1
    sell = order(2, alice, inst, "sell", 3, 100)
    assert settlement.new_order_hold(sell.kind, False, 100, 3, None, inst,
                                     alice.balance("BTC")) == 3 * BM


def test_fill_moves_both_sides_and_the_fees_and_trims_a_resting_buy() -> None:
    inst = instrument(maker="0.001", taker="0.002")
    fees, buyer_acct, seller_acct = Account(FEE_ACCOUNT_ID), funded(1, usd=10**12), funded(
        2, btc=10 * BM)
    settlement = Settlement({FEE_ACCOUNT_ID: fees, 1: buyer_acct, 2: seller_acct})
    ctx = Context(1)
    maker = order(1, buyer_acct, inst, "buy", 4, 100)
    settlement.hold(ctx, maker, buy_hold(inst, 100, 4, 0, 0))
    taker = order(2, seller_acct, inst, "sell", 4, 100)
    settlement.hold(ctx, taker, 4 * BM)
    maker.filled = taker.filled = 1
    maker_fee, taker_fee = settlement.fill(ctx, inst, maker, taker, 100, 1)
    assert (maker_fee, taker_fee) == (1, 1)  # 100 increments x 0.1% and x 0.2%, rounded up
    usd, btc = buyer_acct.balance("USD"), buyer_acct.balance("BTC")
    assert usd.total == 10**12 - 101 * QM
    assert btc.total == 1 * BM
    assert seller_acct.balance("USD").total == 99 * QM
    assert fees.balance("USD").total == 2 * QM
    # The maker's hold is exactly what its 3 remaining lots need now.
    assert maker.hold == buy_hold(inst, 100, 3, maker.fee_num, maker.fee_paid) == usd.held
    assert {bal.asset for bal in ctx.touched} == {"USD", "BTC"}


def test_release_gives_back_what_an_order_holds_once() -> None:
    inst = instrument()
    alice = funded(1, btc=5 * BM)
    ctx = Context(1)
    made = order(1, alice, inst, "sell", 5, 100)
    Settlement.hold(ctx, made, 5 * BM)
    Settlement.release(ctx, made)
    Settlement.release(ctx, made)
    assert made.hold == 0
    assert alice.balance("BTC").held == 0


def test_a_market_buy_wants_what_its_hold_pays_for_fee_included() -> None:
    inst = instrument(taker="0.002")
    alice = funded(1, usd=1000 * QM)
    settlement = Settlement({1: alice})
    made = order(1, alice, inst, "buy", 100)
    made.is_market = True
    Settlement.hold(Context(1), made, 1000 * QM)
    # 9 lots at 100 cost 900 + fee 2 = 902 increments; 10 would cost 1002.
    assert settlement.market_want(made, inst, 100) == 9


@settings(max_examples=300, deadline=None)
@given(
    taker_rate=st.sampled_from(["0", "0.001", "0.002", "0.0075"]),
    budget=st.integers(min_value=0, max_value=10**15),
    quantity=st.integers(min_value=1, max_value=10**6),
    filled=st.integers(min_value=0, max_value=10**6 - 1),
    price=st.integers(min_value=1, max_value=10**7),
    fee_num=st.integers(min_value=0, max_value=10**12),
)
def test_a_market_buy_wants_the_least_of_its_rest_and_what_it_can_afford(
    taker_rate: str, budget: int, quantity: int, filled: int, price: int, fee_num: int
) -> None:
    # `market_want` answers without `affordable` when the rest is affordable: the same
    # answer as the least of the two, whatever the fees paid so far.
    inst = instrument(taker=taker_rate)
    alice = funded(1, usd=budget * QM)
    made = order(1, alice, inst, "buy", quantity)
    made.is_market = True
    made.filled = min(filled, quantity - 1)
    made.fee_num = fee_num if inst.taker_rate else 0
    made.fee_paid = -(-made.fee_num // RATE_SCALE)
    Settlement.hold(Context(1), made, budget * QM)
    rest = made.quantity - made.filled
    expected = min(rest, Settlement.affordable(made, inst, price))
    assert Settlement({1: alice}).market_want(made, inst, price) == expected
