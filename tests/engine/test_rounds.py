"""Rounds: one command cancels the accounts' orders, sets their balances exactly by
transfers (so every asset stays conserved), and limits when they may place orders."""

from __future__ import annotations

from exchange.engine.codes import RejectReason
from exchange.engine.commands import SetHouse, StartRound
from exchange.engine.events import (
    OrderCancelled,
    OrderRejected,
    RequestRejected,
    RoundStarted,
)

from .helpers import (
    ALICE,
    BOB,
    CAROL,
    Sim,
    btc,
    make_sim,
    of_type,
    one,
    usd,
)


def start(sim: Sim, **fields: object) -> list:  # type: ignore[type-arg]
    # The sim counts the reset's transfers into its supply, as it counts deposits.
    return sim.handle(StartRound(name="r", **fields))  # type: ignore[arg-type]


def test_a_reset_cancels_orders_and_sets_balances_exactly() -> None:
    sim = make_sim()
    sim.trade_at("100", "1", buyer=ALICE, seller=BOB)  # fees go to account 0
    resting = sim.limit(ALICE, "buy", "2", "99")
    sim.stop(ALICE, "sell", "1", "90")
    events = start(sim, account_ids=(ALICE, BOB), balances={"USD": usd("1000")})
    assert len(of_type(events, OrderCancelled)) == 2
    assert not sim.engine.accounts[ALICE].orders
    for account in (ALICE, BOB):
        assert sim.balance(account, "USD") == (usd("1000"), 0)
        assert sim.balance(account, "BTC") == (0, 0)  # not named: zero
    assert sim.balance(CAROL, "BTC") == (btc("100"), 0)  # not in the round
    started = one(events, RoundStarted)
    assert started.round_id == 1
    assert started.account_ids == (ALICE, BOB)
    assert started.first_trade_id == sim.engine.next_trade_id
    assert resting  # the order existed before
    sim.assert_conserved()
    sim.engine.check()  # conservation against the deposited and withdrawn totals, holds, ...
    assert start(sim, account_ids=(CAROL,), balances={})
    assert sim.engine.next_round_id == 3


def test_all_means_every_account_but_house_ones() -> None:
    sim = make_sim()
    sim.handle(SetHouse(account_id=CAROL, house=True))
    events = start(sim, balances={"BTC": btc("1")})
    assert one(events, RoundStarted).account_ids == (ALICE, BOB)
    assert sim.balance(CAROL, "BTC") == (btc("100"), 0)
    sim.assert_conserved()


def test_placement_is_refused_outside_the_round() -> None:
    sim = make_sim()
    now = sim.ts
    start(sim, account_ids=(ALICE,), balances={"USD": usd("1000")}, start=now + 100,
          end=now + 200)
    sim.ts = now + 50
    refused = one(sim.place(ALICE, "buy", "1", "10"), OrderRejected)
    assert refused.reason == RejectReason.ROUND_CLOSED
    sim.ts = now + 150
    assert not of_type(sim.place(ALICE, "buy", "1", "10"), OrderRejected)
    sim.ts = now + 200
    assert one(sim.place(ALICE, "buy", "1", "10"), OrderRejected).reason == "round_closed"
    assert not of_type(sim.place(BOB, "buy", "1", "10"), OrderRejected)
    start(sim, account_ids=(ALICE,), balances={"USD": usd("1000")})  # a new round reopens
    assert not of_type(sim.place(ALICE, "buy", "1", "10"), OrderRejected)


def test_bad_rounds_change_nothing() -> None:
    sim = make_sim()
    order = sim.limit(ALICE, "buy", "1", "10")
    before = sim.balance(ALICE, "USD")
    for fields, reason in (
        ({"account_ids": (ALICE, 99)}, RejectReason.NOT_FOUND),
        ({"account_ids": (0,)}, RejectReason.NOT_FOUND),
        ({"account_ids": (ALICE, ALICE)}, RejectReason.INVALID_ORDER),
        ({"balances": {"USD": -1}}, RejectReason.INVALID_ORDER),
        ({"balances": {"EUR": 1}}, RejectReason.INVALID_ORDER),
        ({"start": sim.ts + 10, "end": sim.ts + 5}, RejectReason.INVALID_ORDER),
        ({"end": 1}, RejectReason.INVALID_ORDER),
    ):
        fields.setdefault("balances", {"USD": 1})
        events = start(sim, **fields)
        assert [type(e) for e in events] == [RequestRejected], fields
        assert one(events, RequestRejected).reason == reason, fields
    assert sim.balance(ALICE, "USD") == before
    assert order
    assert sim.engine.accounts[ALICE].orders
    assert sim.engine.next_round_id == 1


def test_restore_brings_back_house_flags_windows_and_round_ids() -> None:
    from exchange.engine.restore import Counters, RoundRecord, restore

    engine = restore(
        instruments=[], accounts=[1, 2], balances=[], orders=[], house_accounts=[2],
        counters=Counters(next_account_id=3),
        rounds=[RoundRecord(round_id=4, account_ids=(1,), start=0, end=50),
                RoundRecord(round_id=2, account_ids=(1, 2), start=10, end=0)],
    )
    # The latest round decides the window, whatever the order the records come in.
    assert (engine.accounts[1].opens_at, engine.accounts[1].closes_at) == (0, 50)
    assert (engine.accounts[2].opens_at, engine.accounts[2].closes_at) == (10, 0)
    assert engine.accounts[2].house
    assert not engine.accounts[1].house
    assert engine.next_round_id == 5
