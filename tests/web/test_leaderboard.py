"""The leaderboard's figures from a read model fed by a real engine: marks, equity, PnL and
the sampled max drawdown."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from exchange.engine import Engine
from exchange.engine.codes import Side
from exchange.engine.commands import (
    AddInstrument,
    AnyCommand,
    CancelAllOrders,
    CreateAccount,
    Deposit,
    PlaceOrder,
    SetHouse,
    StartRound,
)
from exchange.pipeline.readmodel import ReadModel
from exchange.web import leaderboard

UNIT = 10**12


class World:
    def __init__(self) -> None:
        self.engine = Engine()
        self.model = ReadModel()
        self.ts = 0

    def run(self, command: AnyCommand) -> None:
        self.ts += 1
        self.model.apply(self.engine.handle(msgspec.structs.replace(command, ts=self.ts)))

    def quote(self, account_id: int, bid: int, ask: int) -> None:
        """A one-lot market around the mid (prices in whole USD, tick 1)."""
        for side, price in ((Side.BUY, bid), (Side.SELL, ask)):
            self.run(PlaceOrder(account_id=account_id, symbol="BTC-USD", side=side,
                                price=price, quantity=1))


def world() -> World:
    w = World()
    w.run(AddInstrument(symbol="BTC-USD", base="BTC", quote="USD", tick_size=Decimal(1),
                        lot_size=Decimal(1)))
    for _ in range(3):
        w.run(CreateAccount())
    for account_id in (1, 2, 3):
        for asset in ("USD", "BTC"):
            w.run(Deposit(account_id=account_id, asset=asset, amount=10**6 * UNIT))
    w.run(SetHouse(account_id=3, house=True))
    w.run(StartRound(name="r", balances={"USD": 1000 * UNIT, "BTC": 2 * UNIT}))
    return w


def test_marks_equity_and_pnl() -> None:
    w = world()
    view = w.model.rounds[1]
    assert view.account_ids == (1, 2)
    found, prices = leaderboard.standings(w.model, view, "USD")
    assert prices["BTC"].source == "none"
    assert [s.equity for s in found] == [Decimal(1000), Decimal(1000)]  # BTC unpriced
    w.quote(3, 99, 102)
    found, prices = leaderboard.standings(w.model, view, "USD")
    assert (prices["BTC"].price, prices["BTC"].source) == (Decimal("100.5"), "mid")
    assert found[0].equity == found[0].starting_equity == Decimal(1201)
    # Account 1 buys the house's ask at 102: 1 BTC for 102 USD, worth 100.5 at the mid.
    w.run(PlaceOrder(account_id=1, symbol="BTC-USD", side=Side.BUY, price=102, quantity=1))
    found, prices = leaderboard.standings(w.model, view, "USD")
    assert prices["BTC"].source == "last"  # the ask side is empty now
    by_id = {s.account_id: s for s in found}
    assert by_id[1].equity == 898 + 3 * 102
    assert by_id[1].equity - by_id[1].starting_equity == Decimal(898 + 306 - 1000 - 204)
    assert by_id[1].trades == 1
    assert [s.account_id for s in found] == [1, 2]  # 1204 ahead of 1000 + 2 x 102


def test_max_drawdown_is_the_largest_fall_from_a_peak() -> None:
    w = world()
    view = w.model.rounds[1]
    equities = []
    for bid, ask in ((99, 101), (149, 151), (49, 51), (99, 101), (29, 31)):
        w.quote(3, bid, ask)
        leaderboard.sample(w.model, w.ts)
        equities.append(1000 + 2 * (bid + ask) // 2)
        # Take the quotes away again (the house cancels both).
        w.run(CancelAllOrders(account_id=3))
    peak = max(equities[:2])
    expected = max(peak - e for e in equities)
    found, _ = leaderboard.standings(w.model, view, "USD")
    assert all(s.max_drawdown == expected for s in found)
    assert expected == 1300 - 1060
    snapshot = leaderboard.snapshot(w.model, view, "USD")
    assert snapshot["accounts"][0]["max_drawdown"] == "240"
