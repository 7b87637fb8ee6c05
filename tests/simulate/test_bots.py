"""The bots' decisions, against a toy exchange that rests every order it is given."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest

from exchange.simulate.actions import POST_ONLY, RACED, Amend, Cancel, Grid, Place, Resting
from exchange.simulate.bots import MarketMaker, Shape, Taker
from exchange.simulate.runner import plan

BTC = Grid("BTC-USD", "BTC", "USD", Decimal("0.01"), Decimal("0.00001"))
FAIR = 5_000_000  # 50,000.00


class Toy:
    """Applies a maker's actions as a quiet exchange would: everything rests."""

    def __init__(self, maker: MarketMaker) -> None:
        self.maker = maker
        self.next_id = 1

    def apply(self, fair: int) -> Place | Cancel | Amend:
        action = self.maker.next_action(fair)
        match action:
            case Place():
                assert action.price is not None
                assert action.quantity is not None
                self.maker.placed(Resting(self.next_id, action.side, action.price,
                                          action.quantity))
                self.next_id += 1
            case Cancel():
                self.maker.forget(action.order_id)
            case Amend():
                order = self.maker.orders[action.order_id]
                if action.price is not None:
                    order.price = action.price
                if action.quantity is not None:
                    order.quantity = action.quantity
        return action


def test_grid_renders_plain_decimals() -> None:
    assert BTC.price(FAIR) == "50000"
    assert BTC.price(5_000_001) == "50000.01"
    assert BTC.quantity(1) == "0.00001"
    assert BTC.quantity(100_000) == "1"
    assert BTC.ticks("50000.01") == 5_000_001
    assert BTC.lots_worth(5_000.0, FAIR) == 10_000  # 0.1 BTC
    assert BTC.lots_worth(0.0001, FAIR) == 1  # never below the minimum


def test_grid_of_an_instrument_uses_its_minimum() -> None:
    grid = Grid.of({"symbol": "X-Y", "base": "X", "quote": "Y", "tick_size": "0.5",
                    "lot_size": "0.1", "min_quantity": "1"})
    assert (grid.tick, grid.lot, grid.min_lots) == (Decimal("0.5"), Decimal("0.1"), 10)


def test_a_maker_builds_its_ladder_on_both_sides() -> None:
    maker = MarketMaker(BTC, random.Random(1))
    toy = Toy(maker)
    actions = [toy.apply(FAIR) for _ in range(2 * maker.shape.levels)]
    assert all(isinstance(action, Place) and not action.post_only for action in actions)
    bids, asks = maker.targets(FAIR)
    assert sorted((o.price or 0 for o in maker.orders.values() if o.side == "buy"),
                  reverse=True) == bids
    assert sorted(o.price or 0 for o in maker.orders.values() if o.side == "sell") == asks
    assert max(bids) < FAIR < min(asks)
    assert min(asks) - max(bids) == 2 * Shape().half_spread(FAIR)  # 2 bps each side


def test_makers_interleave_rather_than_stack() -> None:
    first, second = (MarketMaker(BTC, random.Random(1), index=i).targets(FAIR)
                     for i in (0, 1))
    assert not set(first[0]) & set(second[0])
    assert not set(first[1]) & set(second[1])


def test_after_a_jump_the_maker_moves_wrong_side_orders_first() -> None:
    maker = MarketMaker(BTC, random.Random(2))
    toy = Toy(maker)
    for _ in range(2 * maker.shape.levels):
        toy.apply(FAIR)
    jumped = FAIR + FAIR // 100  # +1%: every ask is now below the fair price
    asks_before = {o.order_id for o in maker.orders.values() if o.side == "sell"}
    first = [toy.apply(jumped) for _ in range(len(asks_before))]
    assert all(isinstance(a, Cancel | Amend) and a.order_id in asks_before for a in first)
    # ... and converges on the new ladder.
    for _ in range(60):
        toy.apply(jumped)
    bids, asks = maker.targets(jumped)
    step = maker.shape.step(jumped)
    for order in maker.orders.values():
        targets = bids if order.side == "buy" else asks
        assert min(abs((order.price or 0) - t) for t in targets) <= step
    # Settled, it refreshes one quote at a time: at most one level is briefly missing.
    assert len(bids) + len(asks) - 1 <= len(maker.orders) <= len(bids) + len(asks)


def test_a_settled_maker_keeps_refreshing_without_lowering_sizes() -> None:
    maker = MarketMaker(BTC, random.Random(3))
    toy = Toy(maker)
    for _ in range(2 * maker.shape.levels):
        toy.apply(FAIR)
    kinds: Counter[str] = Counter()
    for _ in range(200):
        before = {o.order_id: o.quantity for o in maker.orders.values()}
        action = toy.apply(FAIR)
        kinds[type(action).__name__] += 1
        if isinstance(action, Amend) and action.quantity is not None:
            assert action.quantity > before[action.order_id]
        assert action.expected in (frozenset(), RACED)
    assert kinds["Cancel"] > 0
    assert kinds["Place"] > 0
    assert kinds["Amend"] > 0
    assert len(maker.orders) <= 2 * maker.shape.levels


def test_a_maker_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[Place | Cancel | Amend]:
        toy = Toy(MarketMaker(BTC, random.Random(seed)))
        return [toy.apply(FAIR + i * 37) for i in range(100)]

    assert run(4) == run(4)
    assert run(4) != run(5)


def takers_orders(seed: int, count: int = 2_000) -> list[Place]:
    taker = Taker(BTC, random.Random(seed))
    actions = [taker.next_action(FAIR, now=0.0) for _ in range(count)]
    assert all(isinstance(action, Place) for action in actions)
    return [action for action in actions if isinstance(action, Place)]


def test_a_taker_sends_every_kind_of_order() -> None:
    orders = takers_orders(1)
    shapes = Counter((o.type, o.time_in_force, o.post_only,
                      o.take_profit_price is not None) for o in orders)
    for wanted in [("market", None, False, False), ("limit", None, False, False),
                   ("limit", "ioc", False, False), ("limit", "fok", False, False),
                   ("stop_market", None, False, False), ("stop_limit", None, False, False),
                   ("limit", "ioc", False, True), ("limit", "gtd", True, False)]:
        assert shapes[wanted] > 20, wanted
    assert any(o.quote_quantity is not None for o in orders)
    assert Counter(o.side for o in orders)["buy"] == pytest.approx(1_000, rel=0.1)


def test_taker_prices_are_on_the_right_side() -> None:
    half, step = Shape().half_spread(FAIR), Shape().step(FAIR)
    for order in takers_orders(2):
        sign = 1 if order.side == "buy" else -1
        assert order.quantity is None or order.quantity >= BTC.min_lots
        price, stop = order.price or 0, order.stop_price
        if order.type == "limit" and not order.post_only:
            assert sign * (price - FAIR) >= half  # through the makers' touch
        if stop is not None:
            assert sign * (stop - FAIR) >= step  # a breakout, not yet due
            if order.type == "stop_limit":
                assert sign * (price - stop) > 0
        if order.take_profit_price is not None:
            assert order.stop_loss_price is not None
            assert sign * (order.take_profit_price - FAIR) > 0
            assert sign * (order.stop_loss_price - FAIR) < 0
        if order.post_only:
            assert order.expected == POST_ONLY
            assert order.expire_after is not None
        else:
            assert order.expected == frozenset()


def test_a_taker_cancels_what_rested_too_long_oldest_first() -> None:
    taker = Taker(BTC, random.Random(3), max_age=30.0)
    taker.placed(Resting(11, "buy", FAIR, 5, seen=10.0))
    taker.placed(Resting(12, "sell", FAIR, 5, seen=5.0))
    taker.placed(Resting(13, "sell", FAIR, 5, seen=39.0))
    assert taker.next_action(FAIR, now=41.0) == Cancel(12)
    taker.forget(12)
    assert taker.next_action(FAIR, now=41.0) == Cancel(11)
    taker.forget(11)
    assert isinstance(taker.next_action(FAIR, now=41.0), Place)
    # A sync keeps when an order was first seen.
    taker.sync([Resting(13, "sell", FAIR, 5, seen=41.0), Resting(14, "buy", FAIR, 5, 41.0)])
    assert taker.orders[13].seen == 39.0
    assert set(taker.orders) == {13, 14}


def test_a_taker_is_deterministic_for_a_seed() -> None:
    assert takers_orders(9, 300) == takers_orders(9, 300)
    assert takers_orders(9, 300) != takers_orders(10, 300)


def test_the_plan_keeps_every_account_under_its_share() -> None:
    layout = plan(50, 2)
    assert (layout.makers, layout.takers) == (2, 2)
    assert layout.maker_rate * 2 + layout.taker_rate * 2 == pytest.approx(25)
    heavy = plan(1_000, 2, per_account=20)
    assert heavy.maker_rate <= 20
    assert heavy.taker_rate <= 20
    assert (heavy.maker_rate * heavy.makers + heavy.taker_rate * heavy.takers) * 2 \
        == pytest.approx(1_000)
    with pytest.raises(ValueError, match="positive"):
        plan(0, 1)
