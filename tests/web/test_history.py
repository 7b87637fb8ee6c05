"""History at any depth: pages joined from memory and the database equal a naive query.

A server that keeps almost nothing in memory (3 closed orders and 4 fills per account, 5
trades per symbol) runs a random command stream; then every history query, with each filter,
cursor direction and time range at random page sizes, is compared with the answer computed
naively from every row in the database, before and after a restart (which leaves memory
holding the open orders only). Orders read from memory and from the database must render
identically, so the comparison also checks the two sides of the seam against each other.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import trio

from exchange.client import ExchangeError
from exchange.export import _rows
from exchange.pipeline.rows import instrument_view
from exchange.store.bridge import open_bridge
from exchange.store.database import normalize_url
from exchange.store.history import Filters, instrument_rows, page
from exchange.web.render import time_us

from .support import Exchange, Trader, start_exchange

KEEP = {"keep_closed_orders": 3, "keep_fills": 4, "keep_trades": 5}
SYMBOLS = ("BTC-USD", "ETH-USD")
OPEN = ("pending", "new", "partially_filled")


@dataclass(frozen=True)
class Item:
    key: int  # order id or trade id
    ts: int
    body: dict[str, Any]


async def _stream(exchange: Exchange, seed: int, steps: int) -> list[Trader]:
    rng = random.Random(seed)
    for symbol in SYMBOLS:
        await exchange.instrument(symbol, tick="1", lot="1")
    traders = [await exchange.trader(name, USD="100000000", BTC="100000", ETH="100000")
               for name in ("alice", "bob", "carol")]
    placed: dict[int, list[int]] = {t.account_id: [] for t in traders}
    for step in range(steps):
        trader = rng.choice(traders)
        own = placed[trader.account_id]
        roll = rng.random()
        try:
            if roll < 0.2 and own:
                await trader.client.cancel_order(rng.choice(own))
            elif roll < 0.3:
                await trader.client.place_order(rng.choice(SYMBOLS), rng.choice(("buy", "sell")),
                                                "market", quantity=rng.randint(1, 4))
            else:
                order = await trader.client.place_order(
                    rng.choice(SYMBOLS), rng.choice(("buy", "sell")),
                    quantity=rng.randint(1, 4), price=rng.randint(95, 105),
                    client_order_id=f"c{step}" if rng.random() < 0.3 else None,
                )
                own.append(order["order_id"])
        except ExchangeError as exc:  # order_not_open: cancelled or filled already
            if exc.status != 409:
                raise
        if rng.random() < 0.1:
            await trio.sleep(0.002)  # some batches of one, some of many
    return traders


class Naive:
    """Every order and trade in the database, rendered as the API renders them."""

    def __init__(self) -> None:
        self.orders: list[tuple[int, int, str, str, Item]] = []  # account, symbol, status
        self.trades: list[tuple[str, Item]] = []
        self.fills: list[tuple[int, str, int, Item]] = []  # account, symbol, order id

    @classmethod
    async def read(cls, url: str) -> Naive:
        naive = cls()
        async with open_bridge(normalize_url(url)) as bridge:
            insts = {row["symbol"]: instrument_view(row)
                     for row in await bridge.run(instrument_rows)}
            for kind in ("orders", "trades"):
                after = 0
                while rows := await bridge.run(page, kind, Filters(), after, 1000):
                    after = rows[-1]["order_id" if kind == "orders" else "trade_id"]
                    for row in rows:
                        naive._add(kind, row, insts[row["symbol"]])
        return naive

    def _add(self, kind: str, row: Any, inst: Any) -> None:
        if kind == "orders":
            [body] = _rows("orders", row, inst, None)
            self.orders.append((row["account_id"], row["symbol"], row["status"],
                                Item(row["order_id"], row["created_at"], body)))
            return
        [trade] = _rows("trades", row, inst, None)
        self.trades.append((row["symbol"], Item(row["trade_id"], row["ts"], trade)))
        for fill in _rows("fills", row, inst, None):
            account_id = fill.pop("account_id")
            self.fills.append((account_id, row["symbol"], fill["order_id"],
                               Item(row["trade_id"], row["ts"], fill)))


def _page(items: list[Item], window: dict[str, Any]) -> list[dict[str, Any]]:
    """What a page must hold: newest first; after a cursor, the `limit` right after it."""
    before, after = window.get("before"), window.get("after")
    start, end = window.get("start"), window.get("end")
    chosen = [item for item in items
              if (before is None or item.key < before) and (after is None or item.key > after)
              and (start is None or item.ts >= start) and (end is None or item.ts < end)]
    limit = window["limit"]
    chosen = chosen[:limit] if after is not None else chosen[-limit:]
    return [item.body for item in reversed(chosen)]


def _windows(rng: random.Random, items: list[Item], count: int) -> list[dict[str, Any]]:
    keys = [item.key for item in items] or [1]
    times = [item.ts for item in items] or [0]
    out = []
    for _ in range(count):
        window: dict[str, Any] = {"limit": rng.randint(1, 6)}
        cursor = rng.random()
        if cursor < 0.35:
            window["before"] = rng.choice(keys) + rng.choice((0, 1))
        elif cursor < 0.7:
            window["after"] = rng.choice(keys) - rng.choice((0, 1))
        elif cursor < 0.8:
            low, high = sorted(rng.sample(keys, 2) if len(keys) > 1 else (keys[0], keys[0]))
            window["after"], window["before"] = low, high + 1
        ranged = rng.random()
        if ranged < 0.2:
            window["start"] = rng.choice(times)
        elif ranged < 0.3:
            window["end"] = rng.choice(times) + 1
        elif ranged < 0.4:
            low, high = sorted((rng.choice(times), rng.choice(times)))
            window["start"], window["end"] = low, high + 1
        out.append(window)
    return out


def _query(window: dict[str, Any]) -> dict[str, Any]:
    return {
        "limit": window["limit"], "before": window.get("before"), "after": window.get("after"),
        "start_time": None if window.get("start") is None else time_us(window["start"]),
        "end_time": None if window.get("end") is None else time_us(window["end"]),
    }


async def _compare(exchange: Exchange, traders: list[Trader], naive: Naive, seed: int) -> int:
    """Asks every kind of history query; returns how many were compared."""
    rng = random.Random(seed)
    asked = 0

    async def check(items: list[Item], fetch: Callable[..., Any], **fixed: Any) -> None:
        nonlocal asked
        for window in _windows(rng, items, 8):
            got = await fetch(**fixed, **_query(window))
            assert got == _page(items, window), (fixed, window)
            asked += 1

    for trader in traders:
        mine = [o for o in naive.orders if o[0] == trader.account_id]
        for status in ("open", "closed", "all"):
            for symbol in (None, SYMBOLS[0]):
                items = [item for _, sym, st, item in mine
                         if (symbol is None or sym == symbol)
                         and (status == "all" or (st in OPEN) == (status == "open"))]
                await check(items, trader.client.orders, status=status, symbol=symbol)
        for _, _, _, item in mine:  # each order alone, from memory or the database
            assert await trader.client.order(item.key) == item.body
        fills = [f for f in naive.fills if f[0] == trader.account_id]
        for symbol in (None, SYMBOLS[1]):
            await check([item for _, sym, _, item in fills if symbol is None or sym == symbol],
                        trader.client.fills, symbol=symbol)
        for order_id in rng.sample([o[3].key for o in mine], min(3, len(mine))):
            await check([item for _, _, oid, item in fills if oid == order_id],
                        trader.client.fills, order_id=order_id)
    for symbol in SYMBOLS:
        items = [item for sym, item in naive.trades if sym == symbol]
        await check(items, exchange.admin.trades, symbol=symbol)
    return asked


@pytest.mark.parametrize("seed", [1, 2])
async def test_pages_across_the_seam_equal_a_naive_query(url: str, seed: int) -> None:
    async with trio.open_nursery() as nursery:
        exchange = await start_exchange(nursery, database_url=url, **KEEP)
        traders = await _stream(exchange, seed, 160)
        readmodel = exchange.server.services.readmodel
        assert any(a.order_seam for a in readmodel.accounts.values()), "nothing left memory"
        naive = await Naive.read(url)
        assert len(naive.orders) > 100
        assert len(naive.trades) > 20
        assert await _compare(exchange, traders, naive, seed) > 250
        keys = [t.api_key for t in traders]
        await exchange.admin.aclose()
        exchange.server.shutdown()
    async with trio.open_nursery() as nursery:  # restarted: memory holds the open orders
        exchange = await start_exchange(nursery, database_url=url, **KEEP)
        readmodel = exchange.server.services.readmodel
        assert all(order.is_open for order in readmodel.orders.values())
        again = [Trader(exchange.admin.with_key(key), t.account_id, key)
                 for t, key in zip(traders, keys, strict=True)]
        assert await _compare(exchange, again, await Naive.read(url), seed + 100) > 250
        await exchange.admin.aclose()
        exchange.server.shutdown()


async def test_memory_stays_bounded_and_old_orders_stay_reachable(url: str) -> None:
    async with trio.open_nursery() as nursery:
        exchange = await start_exchange(nursery, database_url=url, **KEEP)
        await exchange.instrument("BTC-USD", tick="1", lot="1")
        alice = await exchange.trader("alice", USD="100000000", BTC="100000")
        bob = await exchange.trader("bob", USD="100000000", BTC="100000")
        first = await alice.client.place_order("BTC-USD", "sell", quantity=1, price=100,
                                               client_order_id="first")
        readmodel = exchange.server.services.readmodel
        for round_ in range(40):
            await alice.client.place_order("BTC-USD", "sell", quantity=1, price=100)
            await bob.client.place_order("BTC-USD", "buy", quantity=2, price=100)
            resting = await alice.client.place_order("BTC-USD", "sell", quantity=1, price=200)
            await alice.client.cancel_order(resting["order_id"])
            for account in readmodel.accounts.values():
                assert len(account.closed_ids) <= KEEP["keep_closed_orders"], round_
                assert len(account.fills) <= KEEP["keep_fills"]
                assert len(account.client_ids) <= KEEP["keep_closed_orders"] + len(
                    account.open_ids)
            for inst in readmodel.instruments.values():
                assert len(inst.trades) <= KEEP["keep_trades"]
            assert len(readmodel.orders) <= sum(len(account.open_ids) + KEEP[
                "keep_closed_orders"] for account in readmodel.accounts.values())
        assert first["order_id"] not in readmodel.orders  # closed long ago
        old = await alice.client.order(first["order_id"])
        assert old["status"] == "filled"
        assert old["client_order_id"] == "first"
        assert await alice.client.order_by_client_id("first") == old
        [fill] = await alice.client.fills(order_id=first["order_id"])
        assert fill["order_id"] == first["order_id"]
        # The same placement again answers the original, not a second order.
        repeat = await alice.client.place_order("BTC-USD", "sell", quantity=1, price=100,
                                                client_order_id="first")
        assert repeat["order_id"] == first["order_id"]
        assert [f["trade_id"] for f in repeat["fills"]] == [fill["trade_id"]]
        with pytest.raises(ExchangeError) as refused:
            await alice.client.place_order("BTC-USD", "sell", quantity=2, price=100,
                                           client_order_id="first")
        assert refused.value.code == "duplicate_client_order_id"
        with pytest.raises(ExchangeError) as not_open:
            await alice.client.cancel_order(first["order_id"])
        assert not_open.value.status == 409
        with pytest.raises(ExchangeError) as forbidden:
            await bob.client.order(first["order_id"])
        assert forbidden.value.status == 403
        await exchange.admin.aclose()
        exchange.server.shutdown()


async def test_a_repeat_whose_lookup_is_slow_does_not_place_twice(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The repeat's database lookup outlasts the first attempt, which is placed, closes
    (IOC) and leaves memory meanwhile: the repeat must still find it."""
    from exchange.pipeline import history

    real = history.StorePast.client_order
    calls = []

    async def slow(self: Any, account_id: int, client_order_id: str) -> Any:
        calls.append(client_order_id)
        found = await real(self, account_id, client_order_id)
        if len(calls) == 1:
            await trio.sleep(0.5)  # slower than the other attempt's commit
        return found

    monkeypatch.setattr(history.StorePast, "client_order", slow)
    async with trio.open_nursery() as nursery:
        exchange = await start_exchange(nursery, database_url=url, keep_closed_orders=0)
        await exchange.instrument("BTC-USD", tick="1", lot="1")
        alice = await exchange.trader("alice", USD="1000000", BTC="1000")
        answers: list[dict[str, Any]] = []

        async def place() -> None:
            answers.append(await alice.client.place_order(
                "BTC-USD", "buy", quantity=1, price=100, time_in_force="ioc",
                client_order_id="once"))

        async with trio.open_nursery() as both:
            both.start_soon(place)  # its lookup is the slow one
            await trio.sleep(0.1)
            both.start_soon(place)
        assert len({answer["order_id"] for answer in answers}) == 1
        placed = [o for o in await alice.client.orders(limit=10)
                  if o["client_order_id"] == "once"]
        assert len(placed) == 1
        await exchange.admin.aclose()
        exchange.server.shutdown()


async def test_a_placement_is_answered_without_the_database(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An order that closes at once leaves memory before its request resumes; the answer
    comes from its events, so a database that cannot be read does not turn an executed
    placement into a 503 ("not executed, safe to retry")."""
    from exchange.pipeline import history
    from exchange.pipeline.sequencer import Unavailable

    async def down(*_: Any) -> Any:
        raise Unavailable("the database cannot be read just now")

    async with trio.open_nursery() as nursery:
        exchange = await start_exchange(nursery, database_url=url, keep_closed_orders=0)
        await exchange.instrument("BTC-USD", tick="1", lot="1")
        alice = await exchange.trader("alice", USD="1000000", BTC="1000")
        bob = await exchange.trader("bob", USD="1000000", BTC="1000")
        await alice.client.place_order("BTC-USD", "sell", quantity=2, price=100)
        monkeypatch.setattr(history.StorePast, "order", down)
        taken = await bob.client.place_order("BTC-USD", "buy", quantity=1, price=100,
                                             time_in_force="ioc")
        assert (taken["status"], taken["filled_quantity"]) == ("filled", "1")
        assert [f["price"] for f in taken["fills"]] == ["100"]
        expired = await bob.client.place_order("BTC-USD", "buy", quantity=1, price=90,
                                               time_in_force="ioc")
        assert expired["status"] == "expired"
        await exchange.admin.aclose()
        exchange.server.shutdown()
