"""Fixtures for the engine scenario tests (builders and helpers live in `helpers.py`)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from .helpers import BOB, CAROL, Sim, make_sim


@pytest.fixture
def sim() -> Sim:
    """BTC-USD and three funded accounts (ALICE, BOB, CAROL); see `make_sim`."""
    return make_sim()


@pytest.fixture
def at_100(sim: Sim) -> Sim:
    """Last price 100 (BOB bought 0.001 from CAROL); ask 1 @ 106 and bid 1 @ 94 (BOB)."""
    sim.trade_at("100", buyer=BOB, seller=CAROL)
    sim.limit(BOB, "sell", "1", "106")
    sim.limit(BOB, "buy", "1", "94")
    return sim


@dataclass(frozen=True)
class Trigger:
    """A kind of order that waits for its trigger, for the tests of what stops and
    take-profits do alike. At `at_100`, a buy placed at `buy_at` (a sell at `sell_at`)
    waits, and a trade at that very price sets it off."""

    name: str  # the types are `<name>_market` and `<name>_limit`
    buy_at: str
    sell_at: str
    buy_near: str  # a trade price just short of `buy_at`, then one beyond it
    buy_past: str
    sell_near: str
    sell_past: str

    def place(self, sim: Sim, account_id: int, side: str, quantity: str,
              price: str | None = None, **fields: Any) -> list[Any]:
        """Places one at `buy_at`/`sell_at`: a market one, or a limit one with `price`."""
        place: Callable[..., list[Any]] = sim.stop if self.name == "stop" else sim.take_profit
        return place(account_id, side, quantity, self.at(side), price, **fields)

    def at(self, side: str) -> str:
        return self.buy_at if side == "buy" else self.sell_at

    def rises(self, side: str) -> bool:
        """Whether one of `side` triggers when the price rises to it (else when it falls)."""
        return (side == "buy") == (self.name == "stop")


@pytest.fixture(params=[Trigger("stop", "105", "95", "104.99", "105.5", "95.01", "94.5"),
                        Trigger("take_profit", "95", "105", "95.01", "94.5", "104.99", "105.5")],
                ids=lambda kind: kind.name)
def trigger(request: pytest.FixtureRequest) -> Trigger:
    """Each kind in turn: a buy stop waits above the price and a buy take-profit below it."""
    kind: Trigger = request.param
    return kind
