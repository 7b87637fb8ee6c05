"""`Engine.check()` and `Engine.state_hash()`: a planted corruption of each kind is caught
(so the check run after every command of the property tests is not a no-op), and the hash
follows the state, not the way there."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from exchange.engine import Engine, InvariantError
from exchange.engine.book import Order

from .helpers import ALICE, BOB, CAROL, SYMBOL, Sim, make_sim


def busy() -> Sim:
    """Two bid levels (one with two orders), an ask, a pending stop and a partial fill."""
    sim = make_sim()
    sim.limit(ALICE, "buy", "1", "99")
    sim.limit(BOB, "buy", "2", "99")
    sim.limit(CAROL, "buy", "1", "98")
    sim.limit(ALICE, "sell", "3", "101")
    sim.stop(BOB, "sell", "1", "90")
    sim.place(CAROL, "buy", "1", "101")  # partly fills ALICE's ask
    sim.engine.check()
    return sim


def resting(engine: Engine, price: int, *, bids: bool = True) -> Order:
    inst = engine.instruments[SYMBOL]
    head = (inst.bids if bids else inst.asks).levels[price].head
    assert head is not None
    return head


def _level_total(engine: Engine) -> None:
    resting(engine, 9_900).level.quantity += 1  # type: ignore[union-attr]


def _order_quantity(engine: Engine) -> None:
    resting(engine, 9_900).quantity += 1


def _order_hold(engine: Engine) -> None:
    resting(engine, 9_900).hold -= 1


def _balance_held(engine: Engine) -> None:
    engine.accounts[BOB].balances["USD"].held += 1


def _balance_total(engine: Engine) -> None:
    engine.accounts[CAROL].balances["BTC"].total += 1


def _over_held(engine: Engine) -> None:
    bal = engine.accounts[CAROL].balances["USD"]
    engine.deposited["USD"] -= bal.total
    bal.total = 0  # conserved, but held > total


def _book_order(engine: Engine) -> None:
    keys = engine.instruments[SYMBOL].bids.keys
    keys[0], keys[1] = keys[1], keys[0]


def _crossed(engine: Engine) -> None:
    order = resting(engine, 10_100, bids=False)
    asks = engine.instruments[SYMBOL].asks
    level = asks.levels.pop(10_100)
    asks.keys.remove(-10_100)
    level.price = order.price = 9_800
    asks.levels[9_800] = level
    asks.keys.append(-9_800)


def _unindexed(engine: Engine) -> None:
    order = resting(engine, 9_800)
    del engine.accounts[order.account.account_id].orders[order.order_id]


def _lost_stop(engine: Engine) -> None:
    engine.instruments[SYMBOL].sell_stops.clear()


@pytest.mark.parametrize(("corrupt", "message"), [
    (_level_total, r"level 9900: total \d+ in 2 orders, but its orders have"),
    (_order_quantity, r"level 9900: total .* but its orders have"),
    (_order_hold, r"order \d+ holds \d+, the hold rule asks"),
    (_balance_held, rf"account {BOB} USD: held \d+ but its open orders hold"),
    (_balance_total, "asset BTC not conserved"),
    (_over_held, rf"account {CAROL} USD: held \d+ of total 0"),
    (_book_order, "bids not sorted"),
    (_crossed, "crossed: best bid 9900 >= best ask 9800"),
    (_unindexed, r"order \d+ is not indexed under its account"),
    (_lost_stop, r"open orders but \d+ rest on a book and 0 wait as stops"),
])
def test_check_catches_a_planted_corruption(corrupt: Callable[[Engine], None],
                                            message: str) -> None:
    sim = busy()
    corrupt(sim.engine)
    with pytest.raises(InvariantError, match=message):
        sim.engine.check()


def test_state_hash_follows_the_state_not_the_path() -> None:
    first = busy()
    second = busy()
    assert first.engine.state_hash() == second.engine.state_hash()
    digest = first.engine.state_hash()
    assert len(digest) == 64
    assert int(digest, 16) >= 0

    # A different path to the same state: an order placed then cancelled leaves only the
    # used id and priority behind, so the ids differ and so does the hash...
    order_id = first.limit(ALICE, "buy", "1", "50")
    first.cancel(ALICE, order_id)
    assert first.engine.state_hash() != digest
    # ...while a rejected command changes nothing.
    before = second.engine.state_hash()
    second.withdraw(ALICE, "USD", 10**30)
    assert second.engine.state_hash() == before


def test_state_hash_sees_every_kind_of_change() -> None:
    sim = busy()
    seen = {sim.engine.state_hash()}
    for corrupt in (_order_hold, _balance_total, _book_order, _lost_stop):
        corrupt(sim.engine)
        seen.add(sim.engine.state_hash())
    sim.engine.next_trade_id += 1
    seen.add(sim.engine.state_hash())
    assert len(seen) == 6
