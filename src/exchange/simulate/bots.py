"""The bots' decisions: pure functions of the fair price, the bot's view of its own open
orders and a seeded `random.Random`. No I/O, no clock (callers pass `now`).

- `MarketMaker` keeps a ladder of limit orders on both sides around the fair price. Each
  call of `next_action` returns the one request that brings its quotes closest to the
  target ladder: first orders left on the wrong side of a moved price, then orders off
  their level (amended, sometimes cancelled and placed anew), then missing levels; with
  nothing to fix it refreshes a quote (the flicker of real books).
- `Taker` sends what moves the market: market orders (by quantity or quote amount),
  aggressive limits (GTC, IOC, FOK), stops and stop-limits, brackets, and post-only orders
  at the touch (which the exchange may refuse: that refusal is intended). It cancels its
  own orders that have rested too long, so nothing piles up.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from exchange.simulate.actions import POST_ONLY, Action, Amend, Cancel, Grid, Place, Resting


@dataclass(frozen=True, slots=True)
class Shape:
    """The market's shape around the fair price, in basis points of the price, and the
    typical order size in quote (e.g. USD) so that every instrument gets sensible lots."""

    half_spread_bps: float = 2.0
    level_bps: float = 2.0
    levels: int = 6
    size: float = 5_000.0  # a maker level's notional; takers trade 0.05x to 3x of it

    def half_spread(self, fair: int) -> int:
        return max(1, round(fair * self.half_spread_bps / 10_000))

    def step(self, fair: int) -> int:
        return max(1, round(fair * self.level_bps / 10_000))


class MarketMaker:
    """One maker's quotes on one instrument. `index` staggers makers so their levels
    interleave instead of stacking; the runner feeds back what the exchange answered
    (`placed`, `forget`, `sync`)."""

    def __init__(self, grid: Grid, rng: random.Random, *, index: int = 0,
                 shape: Shape | None = None) -> None:
        self.grid = grid
        self.rng = rng
        self.index = index
        self.shape = shape or Shape()
        self.orders: dict[int, Resting] = {}

    # -- VIEW --

    def sync(self, orders: Iterable[Resting]) -> None:
        """Replaces the view with the exchange's list of open orders."""
        self.orders = {order.order_id: order for order in orders}

    def placed(self, order: Resting) -> None:
        self.orders[order.order_id] = order

    def forget(self, order_id: int) -> None:
        self.orders.pop(order_id, None)

    # -- DECISIONS --

    def targets(self, fair: int) -> tuple[list[int], list[int]]:
        """The ladder's prices in ticks, best first: (bids, asks)."""
        shape = self.shape
        step = shape.step(fair)
        inner = shape.half_spread(fair) + (self.index * step) // 2
        bids = [fair - inner - i * step for i in range(shape.levels)]
        asks = [fair + inner + i * step for i in range(shape.levels)]
        return [price for price in bids if price >= 1], asks

    def size(self, fair: int, level: int) -> int:
        """A fresh quote size for `level` (deeper levels are larger), in lots."""
        notional = self.shape.size * self.rng.uniform(0.5, 1.5) * (1 + 0.3 * level)
        return self.grid.lots_worth(notional, fair)

    def next_action(self, fair: int) -> Action:
        """The most useful single request now."""
        step = self.shape.step(fair)
        bids, asks = self.targets(fair)
        plans = []
        for side, targets in (("buy", bids), ("sell", asks)):
            mine = [order for order in self.orders.values() if order.side == side]
            plans.append((side, targets, *_match(mine, targets, tolerance=step)))
        # 1. An order on the wrong side of the fair price would trade against the next
        #    taker at a loss (or cross another maker): move it first.
        for side, targets, misplaced, missing in plans:
            for order in misplaced:
                if _wrong_side(order, fair):
                    return self._relocate(order, side, targets, missing, fair)
        # 2. Orders off their level, worst first, then missing levels, nearest the touch.
        rng = self.rng
        rng.shuffle(plans)
        for side, targets, misplaced, missing in plans:
            if misplaced:
                worst = max(misplaced, key=lambda order: _distance(order, targets))
                return self._relocate(worst, side, targets, missing, fair)
        for side, targets, _misplaced, missing in plans:
            if missing:
                level = min(missing)
                return Place(side, "limit", "quote", quantity=self.size(fair, level),
                             price=targets[level])
        return self._refresh(fair)

    def _relocate(self, order: Resting, side: str, targets: list[int], missing: list[int],
                  fair: int) -> Action:
        if not missing or self.rng.random() < 0.25:
            return Cancel(order.order_id)  # the level is placed anew by a later call
        level = min(missing)
        return Amend(order.order_id, price=targets[level])

    def _refresh(self, fair: int) -> Action:
        """Everything is on its level: cancel a random quote (it is placed again, with a
        new size, by the next call) or raise a small one."""
        order = self.rng.choice(sorted(self.orders.values(), key=lambda o: o.order_id))
        small = self.grid.lots_worth(self.shape.size * 0.8, fair)
        if order.quantity < small and self.rng.random() < 0.5:
            return Amend(order.order_id, quantity=order.quantity + small)
        return Cancel(order.order_id)


def _wrong_side(order: Resting, fair: int) -> bool:
    price = order.price or 0
    return price >= fair if order.side == "buy" else price <= fair


def _distance(order: Resting, targets: list[int]) -> int:
    price = order.price or 0
    return min((abs(price - target) for target in targets), default=price)


def _match(orders: list[Resting], targets: list[int], *, tolerance: int
           ) -> tuple[list[Resting], list[int]]:
    """Pairs orders with target levels within `tolerance` ticks (nearest first, one order
    per level). Returns the orders left over and the levels (indexes) still missing."""
    free = set(range(len(targets)))
    misplaced = []
    for order in sorted(orders, key=lambda o: o.order_id):
        price = order.price or 0
        near = [(abs(price - targets[level]), level) for level in free
                if abs(price - targets[level]) <= tolerance]
        if near:
            free.discard(min(near)[1])
        else:
            misplaced.append(order)
    return misplaced, sorted(free)


# -- TAKERS --

# How a taker's orders are drawn: (weight, kind).
TAKER_MIX: tuple[tuple[float, str], ...] = (
    (25, "market"), (30, "limit"), (10, "stop_market"), (10, "stop_limit"),
    (15, "bracket"), (10, "post_only"),
)


class Taker:
    """One taker on one instrument. Its view holds the orders it left resting (stops,
    bracket children, post-only and unfilled limits) so it can cancel them when stale."""

    def __init__(self, grid: Grid, rng: random.Random, *, shape: Shape | None = None,
                 max_age: float = 45.0) -> None:
        self.grid = grid
        self.rng = rng
        self.shape = shape or Shape()
        self.max_age = max_age
        self.orders: dict[int, Resting] = {}
        self._kinds = [kind for _, kind in TAKER_MIX]
        self._weights = [weight for weight, _ in TAKER_MIX]

    def sync(self, orders: Iterable[Resting]) -> None:
        """Replaces the view with the exchange's open orders, keeping when each was first
        seen."""
        fresh = {}
        for order in orders:
            known = self.orders.get(order.order_id)
            fresh[order.order_id] = order if known is None else known
        self.orders = fresh

    def placed(self, order: Resting) -> None:
        self.orders.setdefault(order.order_id, order)

    def forget(self, order_id: int) -> None:
        self.orders.pop(order_id, None)

    def stale(self, now: float) -> list[Resting]:
        """Orders that have rested longer than `max_age`, oldest first."""
        old = [order for order in self.orders.values() if now - order.seen > self.max_age]
        return sorted(old, key=lambda order: order.seen)

    def next_action(self, fair: int, now: float) -> Action:
        stale = self.stale(now)
        if stale:
            return Cancel(stale[0].order_id)
        rng = self.rng
        kind = rng.choices(self._kinds, self._weights)[0]
        side = "buy" if rng.random() < 0.5 else "sell"
        sign = 1 if side == "buy" else -1
        shape = self.shape
        half, step = shape.half_spread(fair), shape.step(fair)
        # Lognormal-ish sizes: many small orders, a few large ones.
        notional = shape.size * math.exp(rng.uniform(math.log(0.05), math.log(3.0)))
        lots = self.grid.lots_worth(notional, fair)
        # A price through the opposite touch, by up to two levels.
        through = max(1, fair + sign * (half + rng.randint(0, 2) * step))
        match kind:
            case "market":
                if rng.random() < 0.3:
                    amount = Decimal(max(1, round(notional)))
                    return Place(side, "market", "market", quote_quantity=amount)
                return Place(side, "market", "market", quantity=lots)
            case "limit":
                tif = rng.choices(["gtc", "ioc", "fok"], [40, 40, 20])[0]
                return Place(side, "limit", tif, quantity=lots, price=through,
                             time_in_force=None if tif == "gtc" else tif)
            case "stop_market" | "stop_limit":
                # A breakout stop: a buy above the price, a sell below.
                stop = max(1, fair + sign * rng.randint(1, 4) * step)
                if kind == "stop_market":
                    return Place(side, "stop_market", "stop", quantity=lots, stop_price=stop)
                limit = max(1, stop + sign * step)
                return Place(side, "stop_limit", "stop", quantity=lots, price=limit,
                             stop_price=stop)
            case "bracket":
                profit = max(1, fair + sign * rng.randint(3, 6) * step)
                loss = max(1, fair - sign * rng.randint(3, 6) * step)
                return Place(side, "limit", "bracket", quantity=lots, price=through,
                             time_in_force="ioc", take_profit_price=profit,
                             stop_loss_price=loss)
            case _:
                # Post-only at the touch: half try to join inside the spread, half lean
                # over it and are (usually) refused; both outcomes are intended.
                inside = fair - sign * rng.randint(0, half)
                over = fair + sign * (half + step)
                price = max(1, inside if rng.random() < 0.5 else over)
                return Place(side, "limit", "post_only", quantity=lots, price=price,
                             time_in_force="gtd", expire_after=rng.uniform(5.0, 30.0),
                             post_only=True, expected=POST_ONLY)
