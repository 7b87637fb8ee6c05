"""A naive reference order book for the differential test: slow and obviously correct.

One instrument, no fees, no balances (the differential test funds accounts far beyond any
order). Supports limit orders (GTC, IOC), market orders by quantity, stops and take-profits
(market or limit) waiting for the last trade price, cancels, and self-trade prevention `none`
and `cancel_newest`. Resting orders live in one plain list in arrival order, pending ones in
another; every step scans them. Outcomes are plain tuples, the same shape `outcomes()` in the
differential test makes from the engine's events:

- `("accepted", order_id)`, `("triggered", order_id)`
- `("trade", price, quantity, maker_order_id, taker_order_id, taker_side)`
- `("filled", order_id)`, `("cancelled", order_id, reason)`, `("expired", order_id, reason)`
- `("request_rejected", order_id, reason)` for a cancel that is refused
"""

from __future__ import annotations

from dataclasses import dataclass

Outcome = tuple[object, ...]


@dataclass
class RestingOrder:
    order_id: int
    account_id: int
    side: str  # "buy" or "sell"
    price: int
    remaining: int


@dataclass
class PendingOrder:
    """A stop or take-profit waiting for its trigger; `price` None: it becomes a market
    order."""

    order_id: int
    account_id: int
    side: str
    kind: str  # "stop" or "take_profit"
    stop_price: int
    quantity: int
    price: int | None
    time_in_force: str
    self_trade_prevention: str

    def due(self, last: int | None) -> bool:
        """A buy stop or a sell take-profit is due when the last price is at or above its
        stop price; a sell stop or a buy take-profit when it is at or below."""
        if last is None:
            return False
        if (self.side == "buy") == (self.kind == "stop"):
            return last >= self.stop_price
        return last <= self.stop_price


class ReferenceBook:
    def __init__(self) -> None:
        self.resting: list[RestingOrder] = []  # in arrival order, which is time priority
        self.pending: list[PendingOrder] = []  # in placement order
        self.owner: dict[int, int] = {}  # every order ever accepted: its account
        self.next_order_id = 1
        self.last_price: int | None = None

    def place(
        self,
        account_id: int,
        side: str,
        quantity: int,
        price: int | None,
        time_in_force: str,
        self_trade_prevention: str,
        trigger: tuple[str, int] | None = None,
    ) -> list[Outcome]:
        """A limit order (with `price`) or a market order (`price` None); with `trigger`
        (`("stop" or "take_profit", stop_price)`), one that waits for its trigger and then
        becomes that order: at once when it is already due."""
        order_id = self.next_order_id
        self.next_order_id += 1
        self.owner[order_id] = account_id
        out: list[Outcome] = [("accepted", order_id)]
        if trigger is None:
            out += self.run(order_id, account_id, side, quantity, price, time_in_force,
                            self_trade_prevention)
        else:
            waiting = PendingOrder(order_id, account_id, side, trigger[0], trigger[1], quantity,
                                   price, time_in_force, self_trade_prevention)
            if waiting.due(self.last_price):
                out += self.trigger(waiting)
            else:
                self.pending.append(waiting)
        return out + self.trigger_due()

    def trigger(self, order: PendingOrder) -> list[Outcome]:
        traded = self.run(order.order_id, order.account_id, order.side, order.quantity,
                          order.price, order.time_in_force, order.self_trade_prevention)
        return [("triggered", order.order_id), *traded]

    def trigger_due(self) -> list[Outcome]:
        """Until none is due: every pending order due at the last price leaves the list, and
        each triggers in placement order (even if an earlier one moved the price back)."""
        out: list[Outcome] = []
        while True:
            due = [order for order in self.pending if order.due(self.last_price)]
            if not due:
                return out
            self.pending = [order for order in self.pending if not order.due(self.last_price)]
            for order in due:
                out += self.trigger(order)

    def run(
        self,
        order_id: int,
        account_id: int,
        side: str,
        quantity: int,
        price: int | None,
        time_in_force: str,
        self_trade_prevention: str,
    ) -> list[Outcome]:
        """Matches an order against the book, then rests or ends it."""
        out: list[Outcome] = []
        remaining = quantity
        stopped_by_stp = False
        while remaining > 0:
            maker = self.best_maker(side)
            if maker is None:
                break
            if price is not None and side == "buy" and maker.price > price:
                break
            if price is not None and side == "sell" and maker.price < price:
                break
            if self_trade_prevention == "cancel_newest" and maker.account_id == account_id:
                stopped_by_stp = True
                break
            traded = min(remaining, maker.remaining)
            out.append(("trade", maker.price, traded, maker.order_id, order_id, side))
            self.last_price = maker.price
            remaining -= traded
            maker.remaining -= traded
            if maker.remaining == 0:
                self.resting.remove(maker)
                out.append(("filled", maker.order_id))
        if remaining == 0:
            out.append(("filled", order_id))
        elif stopped_by_stp:
            out.append(("expired", order_id, "stp"))
        elif price is None:
            out.append(("expired", order_id, "market"))
        elif time_in_force == "ioc":
            out.append(("expired", order_id, "ioc"))
        else:
            self.resting.append(RestingOrder(order_id, account_id, side, price, remaining))
        return out

    def best_maker(self, taker_side: str) -> RestingOrder | None:
        """The first resting order on the other side at its best price (the earliest
        arrival among equals)."""
        best = None
        for order in self.resting:
            if order.side == taker_side:
                continue
            if best is None:
                best = order
                continue
            better = order.price < best.price if taker_side == "buy" else order.price > best.price
            if better:
                best = order
        return best

    def cancel(self, account_id: int, order_id: int) -> list[Outcome]:
        for order in [*self.resting, *self.pending]:
            if order.order_id == order_id:
                if order.account_id != account_id:
                    return [("request_rejected", order_id, "forbidden")]
                if isinstance(order, RestingOrder):
                    self.resting.remove(order)
                else:
                    self.pending.remove(order)
                return [("cancelled", order_id, "user")]
        if order_id in self.owner:
            return [("request_rejected", order_id, "order_not_open")]
        return [("request_rejected", order_id, "not_found")]

    def depth(self) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """`(bids, asks)` as `(price, quantity, order_count)`, best level first."""
        sides = []
        for side in ("buy", "sell"):
            levels: dict[int, list[int]] = {}
            for order in self.resting:
                if order.side == side:
                    level = levels.setdefault(order.price, [0, 0])
                    level[0] += order.remaining
                    level[1] += 1
            prices = sorted(levels, reverse=side == "buy")
            sides.append([(p, levels[p][0], levels[p][1]) for p in prices])
        return sides[0], sides[1]
