"""The WebSocket client library against a real server in the test's nursery (memory store)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import trio

from exchange.client import (
    BookWatcher,
    ExchangeError,
    levels_of,
    open_exchange_socket,
    watch_book,
)
from web.support import Exchange, Trader, start_exchange

SYMBOL = "BTC-USD"


async def _exchange(nursery: trio.Nursery) -> Exchange:
    running = await start_exchange(nursery)
    await running.instrument(SYMBOL)
    return running


async def _stop(running: Exchange) -> None:
    for trader in running.traders:
        await trader.client.aclose()
    await running.admin.aclose()
    running.server.shutdown()


async def _random_orders(traders: list[Trader], count: int, seed: int) -> None:
    """Limits on both sides around 100 (many cross and trade), some cancels and amends."""
    rng = random.Random(seed)
    live: list[tuple[Trader, int]] = []
    for _ in range(count):
        trader = rng.choice(traders)
        roll = rng.random()
        try:
            if roll < 0.15 and live:
                owner, order_id = live.pop(rng.randrange(len(live)))
                await owner.client.cancel_order(order_id)
            elif roll < 0.25 and live:
                owner, order_id = live[rng.randrange(len(live))]
                await owner.client.amend_order(order_id, quantity=f"0.{rng.randint(1, 9)}")
            else:
                side = rng.choice(["buy", "sell"])
                order = await trader.client.place_order(
                    SYMBOL, side, "limit", quantity=f"{rng.randint(1, 30) / 10:.1f}",
                    price=f"{rng.randint(9_900, 10_100) / 100:.2f}")
                if order["status"] in ("new", "partially_filled"):
                    live.append((trader, order["order_id"]))
        except ExchangeError as exc:
            if exc.code not in ("order_not_open", "invalid_order"):  # else: raced a fill
                raise


def _assert_book_equal(watcher: BookWatcher, rest: dict[str, Any]) -> None:
    assert watcher.book.sequence == rest["sequence"]
    assert watcher.book.bids() == levels_of(rest["bids"])
    assert watcher.book.asks() == levels_of(rest["asks"])


async def test_local_books_equal_the_rest_book_after_random_orders(
        nursery: trio.Nursery) -> None:
    running = await _exchange(nursery)
    traders = [await running.trader(f"t{index}", USD="10000000", BTC="100000")
               for index in range(3)]
    async with watch_book(running.url, SYMBOL) as early:
        await _random_orders(traders, 200, seed=1)
        # A subscriber arriving on a busy book: its snapshot joins the updates exactly.
        async with watch_book(running.url, SYMBOL) as late:
            await _random_orders(traders, 200, seed=2)
            rest = await running.admin.book(SYMBOL, depth=1000)
            assert rest["bids"]
            assert rest["asks"]
            with trio.fail_after(10):
                await early.wait_for_sequence(rest["sequence"])
                await late.wait_for_sequence(rest["sequence"])
            _assert_book_equal(early, rest)
            _assert_book_equal(late, rest)
            assert early.resubscribes == late.resubscribes == 0
    await _stop(running)


async def test_watcher_resubscribes_after_a_lost_update(nursery: trio.Nursery) -> None:
    running = await _exchange(nursery)
    traders = [await running.trader(f"t{index}", USD="10000000", BTC="100000")
               for index in range(2)]
    async with open_exchange_socket(running.url) as socket:
        watcher = BookWatcher(socket, SYMBOL)
        await socket.subscribe([watcher.channel])
        dropped: list[dict[str, Any]] = []

        async def losing_one() -> AsyncIterator[dict[str, Any]]:
            async for message in socket:
                if message.get("type") == "update" and not dropped:
                    dropped.append(message)  # as if the network lost it
                    continue
                yield message

        async with trio.open_nursery() as inner:
            inner.start_soon(watcher.run, losing_one())
            await _random_orders(traders, 60, seed=3)
            rest = await running.admin.book(SYMBOL, depth=1000)
            with trio.fail_after(10):
                await watcher.wait_for_sequence(rest["sequence"])
            inner.cancel_scope.cancel()
        assert dropped
        assert watcher.resubscribes == 1
        _assert_book_equal(watcher, rest)
    await _stop(running)


async def test_order_entry_over_the_socket(nursery: trio.Nursery) -> None:
    running = await _exchange(nursery)
    trader = await running.trader("ws", USD="1000", BTC="1")
    order = {"symbol": SYMBOL, "side": "buy", "type": "limit", "quantity": "0.01"}
    async with open_exchange_socket(running.url, api_key=trader.api_key) as socket:
        placed: list[dict[str, Any]] = []

        async def place(price: int) -> None:
            placed.append(await socket.place({**order, "price": f"{price}.00"}))

        async with trio.open_nursery() as inner:  # several in flight at once
            for price in range(90, 100):
                inner.start_soon(place, price)
        assert sorted(Decimal(item["price"]) for item in placed) == list(range(90, 100))
        assert {item["account_id"] for item in placed} == {trader.account_id}
        amended = await socket.amend(placed[0]["order_id"], quantity="0.005")
        assert Decimal(amended["quantity"]) == Decimal("0.005")
        cancelled = await socket.cancel(placed[1]["order_id"])
        assert cancelled["status"] == "cancelled"
        with pytest.raises(ExchangeError) as caught:
            await socket.place({**order, "quantity": "100", "price": "99.00"})
        assert caught.value.code == "insufficient_funds"
        with pytest.raises(ExchangeError) as caught:
            await socket.cancel(placed[1]["order_id"])
        assert caught.value.code == "order_not_open"
        assert await socket.ping() > 0  # the connection lives on
    rest = await trader.client.orders(symbol=SYMBOL, status="open")
    assert len(rest) == 9
    async with open_exchange_socket(running.url) as anonymous:
        with pytest.raises(ExchangeError) as caught:
            await anonymous.place({**order, "price": "1.00"})
        assert caught.value.code == "unauthorized"
        assert await anonymous.authenticate(trader.api_key) == trader.account_id
        assert (await anonymous.place({**order, "price": "1.00"}))["status"] == "new"
    await _stop(running)


async def test_a_wrong_key_on_the_upgrade_is_refused(nursery: trio.Nursery) -> None:
    running = await _exchange(nursery)
    with pytest.raises(ExchangeError) as caught:
        async with open_exchange_socket(running.url, api_key="nokey.nosecret"):
            pass
    assert caught.value.status == 401
    assert caught.value.code == "unauthorized"
    await _stop(running)
