"""A small market driver for the browser tests: one maker quoting a ladder around a drifting
mid price and one taker sending small market orders, through the REST API.

It stands in for `exchange simulate` where a test needs a moving book and trades but nothing
more; `run_market` runs until cancelled and calls `task_status.started()` once both sides of
the book are quoted.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from decimal import Decimal

import trio

from exchange.client import ExchangeClient, ExchangeError

LEVELS = 12            # quotes per side
STEP = Decimal("2.50")  # between quoted levels
START = Decimal("43000")


@dataclass
class MarketStats:
    orders: int = 0
    trades: int = 0
    rejects: int = 0


async def funded(admin: ExchangeClient, name: str) -> ExchangeClient:
    created = await admin.create_account(name)
    for asset, amount in (("USD", "100000000"), ("BTC", "10000"), ("ETH", "100000")):
        await admin.deposit(created["account_id"], asset, amount)
    return admin.with_key(created["api_key"])


async def run_market(url: str, admin_token: str, symbol: str = "BTC-USD", *,
                     seed: int = 1, stats: MarketStats | None = None,
                     task_status: trio.TaskStatus[MarketStats] = trio.TASK_STATUS_IGNORED,
                     ) -> None:
    stats = stats or MarketStats()
    rng = random.Random(seed)
    async with ExchangeClient(url, admin_token=admin_token) as admin:
        maker = await funded(admin, f"market-maker-{seed}")
        taker = await funded(admin, f"market-taker-{seed}")
        mid = START
        resting: list[int] = []

        def size() -> Decimal:
            return Decimal(rng.randint(500, 60000)) / 100000  # 0.005 .. 0.6 BTC

        async def quote(side: str, level: int) -> None:
            offset = STEP * level
            price = mid - offset if side == "buy" else mid + offset
            try:
                order = await maker.place_order(symbol, side, quantity=size(), price=price,
                                                post_only=True)
                resting.append(order["order_id"])
                stats.orders += 1
            except ExchangeError:
                stats.rejects += 1  # post-only meeting a moved book: intended, skip it

        for level in range(1, LEVELS + 1):
            await quote("buy", level)
            await quote("sell", level)
        task_status.started(stats)
        while True:
            # Drift the mid, refresh a few quotes, and take some liquidity.
            mid += STEP * rng.choice((-1, 0, 0, 1))
            for _ in range(2):
                if len(resting) > LEVELS * 2:
                    order_id = resting.pop(rng.randrange(len(resting) // 2))
                    with contextlib.suppress(ExchangeError):  # already filled
                        await maker.cancel_order(order_id)
                await quote(rng.choice(("buy", "sell")), rng.randint(1, LEVELS))
            order = await taker.place_order(symbol, rng.choice(("buy", "sell")), "market",
                                            quantity=Decimal(rng.randint(100, 5000)) / 100000)
            stats.orders += 1
            stats.trades += len(order.get("fills") or [])
            await trio.sleep(0.15)
