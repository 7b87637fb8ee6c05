"""The server on the real store (SQLite here, PostgreSQL in test_postgres.py): restarts
rebuild the same state, and concurrent trading conserves every asset."""

from __future__ import annotations

import random
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import trio

from exchange.client import ExchangeError
from web.support import Exchange, start_exchange

VOLATILE = {"ts"}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


async def _snapshot(exchange: Exchange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "instruments": await exchange.admin.instruments(),
        "book": await exchange.admin.book("BTC-USD", depth=1000),
        "trades": await exchange.admin.trades("BTC-USD", limit=1000),
        "candles": await exchange.admin.candles("BTC-USD", "1m"),
    }
    ticker = await exchange.admin.ticker("BTC-USD")
    out["ticker"] = {k: v for k, v in ticker.items() if k != "ts"}
    for trader in exchange.traders:
        out[f"account-{trader.account_id}"] = await trader.client.account()
        out[f"orders-{trader.account_id}"] = await trader.client.orders(limit=1000)
        out[f"fills-{trader.account_id}"] = await trader.client.fills(limit=1000)
        out[f"positions-{trader.account_id}"] = await trader.client.positions()
    return _strip(out)  # type: ignore[no-any-return]


async def test_restart_rebuilds_the_same_state(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'exchange.db'}"
    async with trio.open_nursery() as nursery:
        first = await start_exchange(nursery, database_url=url)
        await first.instrument()
        alice = await first.trader("alice", USD="100000", BTC="100")
        bob = await first.trader("bob", USD="100000", BTC="100")
        await alice.client.place_order("BTC-USD", "sell", quantity="2", price="100",
                                       client_order_id="a1")
        await alice.client.place_order("BTC-USD", "sell", quantity="1", price="101")
        await bob.client.place_order("BTC-USD", "buy", quantity="2.5", price="101")
        await bob.client.place_order("BTC-USD", "buy", "stop_market", quantity="1",
                                     stop_price="120")
        order = await bob.client.place_order("BTC-USD", "buy", quantity="1", price="90",
                                             client_order_id="b1")
        await bob.client.amend_order(order["order_id"], quantity="0.5", price="89")
        before = await _snapshot(first)
        await first.admin.aclose()
        first.server.shutdown()
    async with trio.open_nursery() as nursery:
        second = await start_exchange(nursery, database_url=url)
        second.traders = [
            type(t)(second.admin.with_key(t.api_key), t.account_id, t.api_key)
            for t in (alice, bob)
        ]
        after = await _snapshot(second)
        assert after == before
        # idempotency survives the restart
        again = await second.traders[0].client.place_order(
            "BTC-USD", "sell", quantity="2", price="100", client_order_id="a1")
        assert again["filled_quantity"] == "2"
        # ... also for an order amended since: the repeat is compared with the request as
        # placed, and answers the order as it is now
        amended = await second.traders[1].client.place_order(
            "BTC-USD", "buy", quantity="1", price="90", client_order_id="b1")
        assert (amended["order_id"], amended["quantity"], amended["price"]) == (
            order["order_id"], "0.5", "89")
        # ids go on from where they were
        new = await second.traders[1].client.place_order("BTC-USD", "buy", quantity="1",
                                                         price="95")
        assert new["order_id"] > order["order_id"]
        await second.admin.aclose()
        second.server.shutdown()


async def test_concurrent_traders_conserve_balances(tmp_path: Path) -> None:
    path = tmp_path / "exchange.db"
    acknowledged: set[int] = set()
    async with trio.open_nursery() as nursery:
        running = await start_exchange(nursery, database_url=f"sqlite+aiosqlite:///{path}")
        await running.instrument()
        traders = []

        async def make(index: int) -> None:
            traders.append(await running.trader(f"t{index}", USD="100000", BTC="100"))

        async with trio.open_nursery() as setup:
            for index in range(50):
                setup.start_soon(make, index)

        async def trade(seed: int) -> None:
            rng = random.Random(seed)
            trader = traders[seed]
            for _ in range(8):
                side = rng.choice(("buy", "sell"))
                try:
                    order = await trader.client.place_order(
                        "BTC-USD", side, quantity=str(Decimal(rng.randint(1, 500)) / 1000),
                        price=str(Decimal(rng.randint(9900, 10100)) / 100),
                    )
                    acknowledged.add(order["order_id"])
                    if order["status"] == "new" and rng.random() < 0.3:
                        await trader.client.cancel_order(order["order_id"])
                except ExchangeError as exc:
                    refusals.append(exc.status)

        refusals: list[int] = []
        async with trio.open_nursery() as trading:
            for seed in range(50):
                trading.start_soon(trade, seed)
        assert set(refusals) <= {409, 422}
        totals = {"USD": Decimal(0), "BTC": Decimal(0)}
        fees = Decimal(0)
        for trader in traders:
            for balance in (await trader.client.account())["balances"]:
                totals[balance["asset"]] += Decimal(balance["total"])
                assert Decimal(balance["available"]) >= 0
            fees += sum(Decimal(f["fee"]) for f in await trader.client.fills(limit=1000))
        assert fees > 0
        assert totals["BTC"] == 50 * 100
        assert totals["USD"] + fees == 50 * 100000
        await running.admin.aclose()
        running.server.shutdown()
    with sqlite3.connect(path) as db:
        stored = {row[0] for row in db.execute("SELECT order_id FROM orders")}
        fee_usd = Decimal(db.execute(
            "SELECT total FROM balances WHERE account_id = 0 AND asset = 'USD'"
        ).fetchone()[0]) / 10**12
    db.close()
    assert acknowledged <= stored
    assert fee_usd == fees
