"""Standings (positions, fees, trade counts) kept by the writer: a restart reads them back
instead of replaying the trades, and the migration that introduced them computes the same
numbers from the trades of an older database."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import trio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.client import ExchangeError
from exchange.engine.events import TradeExecuted
from exchange.store.bridge import open_bridge
from exchange.store.database import normalize_url
from exchange.store.standings import Position, Standing
from web.support import Exchange, Trader, start_exchange

MINUTE = 60_000_000


async def _trade_randomly(exchange: Exchange, traders: list[Trader], rng: random.Random,
                          steps: int) -> None:
    for _ in range(steps):
        trader = rng.choice(traders)
        try:
            await trader.client.place_order(
                "BTC-USD", rng.choice(("buy", "sell")), quantity=rng.randint(1, 5),
                price=rng.randint(97, 103))
        except ExchangeError as exc:  # a round's small balances run out
            if exc.code != "insufficient_funds":
                raise


async def _standing(exchange: Exchange, traders: list[Trader]) -> dict[str, Any]:
    out: dict[str, Any] = {"candles": {
        interval: await exchange.admin.candles("BTC-USD", interval)
        for interval in ("1m", "5m", "1h", "1d")}}
    for trader in traders:
        out[f"positions-{trader.account_id}"] = await trader.client.positions()
    board = await exchange.admin.leaderboard()
    out["leaderboard"] = [{k: v for k, v in row.items() if k != "max_drawdown"}
                          for row in board["accounts"]]
    return out


async def _as_before_standings(engine: AsyncEngine) -> None:
    """The database as revision 0004 left it: no standings table (nor the later ones)."""
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE instruments DROP COLUMN max_quantity"))  # 0007
        await conn.execute(text("ALTER TABLE instruments DROP COLUMN min_notional"))
        await conn.execute(text("DROP TABLE api_keys"))
        await conn.execute(text("DROP TABLE standings"))
        await conn.execute(text("UPDATE alembic_version SET version_num = '0004'"))


async def test_restart_and_migration_give_the_standings_trading_gave(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'exchange.db'}"
    rng = random.Random(7)
    async with trio.open_nursery() as nursery:
        first = await start_exchange(nursery, database_url=url, keep_trades=3)
        await first.instrument("BTC-USD", tick="1", lot="1")
        traders = [await first.trader(name, USD="10000000", BTC="100000")
                   for name in ("alice", "bob", "carol")]
        await _trade_randomly(first, traders, rng, 60)
        # A round for two of them starts their standings over; the third keeps all of its.
        await first.admin.start_round("round", {"USD": "100000", "BTC": "1000"},
                                      accounts=[t.account_id for t in traders[:2]])
        await _trade_randomly(first, traders, rng, 60)
        before = await _standing(first, traders)
        keys = [t.api_key for t in traders]
        await first.admin.aclose()
        first.server.shutdown()
    assert any(p for name, p in before.items() if name.startswith("positions"))

    async def restarted() -> dict[str, Any]:
        async with trio.open_nursery() as nursery:
            again = await start_exchange(nursery, database_url=url, keep_trades=3)
            clients = [Trader(again.admin.with_key(key), t.account_id, key)
                       for t, key in zip(traders, keys, strict=True)]
            try:
                return await _standing(again, clients)
            finally:
                await again.admin.aclose()
                again.server.shutdown()

    assert await restarted() == before
    async with open_bridge(normalize_url(url)) as bridge:
        await bridge.run(_as_before_standings)
    assert await restarted() == before  # the migration computed them from the trades


def _trade(trade_id: int, price: int, quantity: int, taker_side: str) -> TradeExecuted:
    return TradeExecuted(trade_id=trade_id, symbol="S", price=price, quantity=quantity,
                         taker_side=taker_side, maker_order_id=1, taker_order_id=2,
                         maker_account_id=1, taker_account_id=2, maker_fee=3, taker_fee=5,
                         ts=trade_id)


@pytest.mark.parametrize("seed", range(5))
def test_a_standing_survives_its_row(seed: int) -> None:
    """Uneven averages make fractions; the row keeps them exact."""
    rng = random.Random(seed)
    standing = Standing()
    for trade_id in range(1, 40):
        standing.record(_trade(trade_id, rng.randint(1, 10**12), rng.randint(1, 10**9),
                               rng.choice(("buy", "sell"))), maker=rng.random() < 0.5)
        row = dict(zip(("account_id", "symbol", "quantity", "cost_num", "cost_den",
                        "realized_num", "realized_den", "fees", "trades", "updated_at"),
                       standing.as_tuple(1, "S", trade_id), strict=True))
        back = Standing.from_row(row)
        assert (back.fees, back.trades) == (standing.fees, standing.trades)
        for name in Position.__slots__:
            assert Fraction(getattr(back.position, name)) == Fraction(
                getattr(standing.position, name))
            assert type(getattr(back.position, name)) is type(getattr(standing.position, name))
