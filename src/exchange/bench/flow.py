"""The `mixed` order mix of bench.md for the network benches (`http`, `ws`, `fanout`).

`OrderFlow.next()` draws the next operation of one client as an `Op` (a place body, a cancel
or an amend of one of the client's live orders); each bench turns it into its protocol's
request and reports the answer back with `observe`, so cancels and amends target orders the
client knows to be live. All clients share one `Market`, the mid price's slow random walk.
Setup (instrument, funded accounts) goes through the admin API.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import trio

from exchange.client import ExchangeClient, ExchangeError

SYMBOL = "BENCH-USD"
MID = 10_000  # ticks of 0.01: 100.00
LIVE_LIMIT = 200  # live orders remembered per client (the oldest are forgotten)


class Market:
    """The shared mid price: a slow random walk."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.mid = MID

    def step(self) -> int:
        self.mid = max(1_000, self.mid + self.rng.choice((-1, 0, 0, 1)))
        return self.mid


def px(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}"


def qty(lots: int) -> str:
    return f"{lots // 1000}.{lots % 1000:03d}"


@dataclass(slots=True)
class Op:
    """One operation: `kind` is the mix's name for it; a place has `order` (the
    `POST /v1/orders` body), a cancel `order_id`, an amend `order_id` and `changes`."""

    kind: str
    order: dict[str, Any] | None = None
    order_id: int | None = None
    changes: dict[str, str] | None = None

    def http(self) -> tuple[str, str, dict[str, Any] | None]:
        """(method, path, body) of the REST request."""
        if self.kind == "cancel":
            return "DELETE", f"/v1/orders/{self.order_id}", None
        if self.kind == "amend":
            return "PATCH", f"/v1/orders/{self.order_id}", self.changes
        return "POST", "/v1/orders", self.order

    def ws(self) -> dict[str, Any]:
        """The WebSocket op (without `id`)."""
        if self.kind == "cancel":
            return {"op": "cancel", "order_id": self.order_id}
        if self.kind == "amend":
            return {"op": "amend", "order_id": self.order_id, **(self.changes or {})}
        return {"op": "place", "order": self.order}


class OrderFlow:
    """One client's draws: 50% passive GTC limits, 20% cancels of a live order, 10%
    aggressive limits (GTC or IOC), 5% market orders, 10% amends (half quantity reductions,
    half price moves), 5% stop-limits or post-only limits. Without `amends` (Binance's
    order entry has no plain amend) the amends' tenth are passive limits instead."""

    def __init__(self, seed: int, market: Market, symbol: str = SYMBOL, *,
                 amends: bool = True) -> None:
        self.rng = random.Random(seed)
        self.market = market
        self.symbol = symbol
        self.amends = amends
        self.live: list[int] = []

    def next(self) -> Op:
        rng, live, symbol = self.rng, self.live, self.symbol
        roll = rng.random()
        mid = self.market.step()
        side = rng.choice(("buy", "sell"))
        sign = -1 if side == "buy" else 1
        if roll < 0.20 and live:
            return Op("cancel", order_id=live.pop(rng.randrange(len(live))))
        if roll < 0.30 and live and not self.amends:
            roll = 1.0  # a passive limit instead
        elif roll < 0.30 and live:
            order_id = live[rng.randrange(len(live))]
            if rng.random() < 0.5:
                return Op("amend", order_id=order_id, changes={"quantity": qty(rng.randint(1, 5))})
            return Op("amend", order_id=order_id,
                      changes={"price": px(mid + sign * rng.randint(5, 90))})
        if roll < 0.40:
            return Op("aggressive", {"symbol": symbol, "side": side, "type": "limit",
                                     "quantity": qty(rng.randint(1, 20)),
                                     "price": px(mid - sign * rng.randint(20, 100)),
                                     "time_in_force": rng.choice(("gtc", "ioc"))})
        if roll < 0.45:
            return Op("market", {"symbol": symbol, "side": side, "type": "market",
                                 "quantity": qty(rng.randint(1, 20))})
        if roll < 0.50:
            if rng.random() < 0.5:
                return Op("stop_or_post_only", {
                    "symbol": symbol, "side": side, "type": "stop_limit",
                    "quantity": qty(rng.randint(1, 10)),
                    "stop_price": px(mid - sign * rng.randint(50, 150)),
                    "price": px(mid - sign * rng.randint(50, 150))})
            return Op("stop_or_post_only", {
                "symbol": symbol, "side": side, "type": "limit",
                "quantity": qty(rng.randint(1, 10)),
                "price": px(mid + sign * rng.randint(1, 100)), "post_only": True})
        return Op("passive", {"symbol": symbol, "side": side, "type": "limit",
                              "quantity": qty(rng.randint(1, 20)),
                              "price": px(mid + sign * rng.randint(1, 100))})

    def observe(self, op: Op, order: dict[str, Any] | None) -> None:
        """Learns from an accepted answer's `Order` which orders are live."""
        if (order is not None and op.kind != "cancel"
                and order.get("status") in ("new", "partially_filled")
                and order["order_id"] not in self.live):
            self.live.append(order["order_id"])
            if len(self.live) > LIVE_LIMIT:
                self.live.pop(0)


@dataclass(frozen=True, slots=True)
class Trader:
    """A bench account's keys: the `/v1` bearer key and, if asked for, an HMAC key of the
    Binance-compatible surface with its secret."""

    api_key: str
    hmac_key: str = ""
    hmac_secret: str = ""


async def setup_accounts(url: str, admin_token: str, count: int, *, symbol: str = SYMBOL,
                         prefix: str = "bench") -> list[str]:
    """Creates `symbol` (if absent) and `count` accounts funded so no order of the mix is
    refused for funds; returns their API keys."""
    traders = await setup_traders(url, admin_token, count, symbol=symbol, prefix=prefix)
    return [trader.api_key for trader in traders]


async def setup_traders(url: str, admin_token: str, count: int, *, symbol: str = SYMBOL,
                        prefix: str = "bench", hmac: bool = False) -> list[Trader]:
    """`setup_accounts`, with an HMAC key made for each account when `hmac`."""
    base, quote = symbol.split("-")
    async with ExchangeClient(url, admin_token=admin_token) as admin:
        try:
            await admin.create_instrument(symbol, base, quote, tick_size="0.01",
                                          lot_size="0.001", maker_fee_rate="0.001",
                                          taker_fee_rate="0.002")
        except ExchangeError as exc:
            if exc.code != "conflict":
                raise
        keys: list[Trader] = []
        limiter = trio.CapacityLimiter(16)

        async def make(index: int) -> None:
            async with limiter:
                created = await admin.create_account(f"{prefix}-{index}")
                account_id = created["account_id"]
                await admin.deposit(account_id, quote, "1000000000")
                await admin.deposit(account_id, base, "10000000")
                if not hmac:
                    keys.append(Trader(created["api_key"]))
                    return
                made = await admin.request("POST", f"/v1/admin/accounts/{account_id}/api-keys",
                                           json={"type": "hmac"}, auth="admin")
                keys.append(Trader(created["api_key"], made["api_key"], made["secret_key"]))

        async with trio.open_nursery() as nursery:
            for index in range(count):
                nursery.start_soon(make, index)
        return keys
