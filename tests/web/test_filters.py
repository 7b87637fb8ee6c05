"""Instrument filters through `/v1`: created by the admin, shown with the instrument,
enforced on placements and amends (422 in the envelope, nothing created), and kept across a
restart."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest
import trio

from exchange.client import ExchangeError

from .support import Exchange, start_exchange

FILTERS = {"min_notional": "10", "max_quantity": "5"}


async def refused(call: Awaitable[Any]) -> tuple[int, str, str]:
    with pytest.raises(ExchangeError) as caught:
        await call
    return caught.value.status, caught.value.code, caught.value.message


async def test_the_admin_creates_an_instrument_with_filters(exchange: Exchange) -> None:
    created = await exchange.instrument("ETH-USD", min_quantity="0.01", **FILTERS)
    assert (created["min_notional"], created["max_quantity"]) == ("10", "5")
    assert await exchange.admin.instrument("ETH-USD") == created
    assert await exchange.admin.instruments() == [created]
    plain = await exchange.instrument("BTC-USD")
    assert (plain["min_notional"], plain["max_quantity"]) == ("0", None)


@pytest.mark.parametrize("bad", [
    {"min_notional": "-1"},
    {"min_notional": "0.0000000000001"},  # finer than the asset unit
    {"min_notional": "1e16"},
    {"min_notional": "ten"},
    {"max_quantity": "0"},
    {"max_quantity": "0.0015"},  # off the lot grid
    {"max_quantity": "1e16"},
    {"max_quantity": "0.001", "min_quantity": "0.002"},  # below the minimum
])
async def test_filters_off_their_grid_are_a_400(exchange: Exchange, bad: dict[str, str]) -> None:
    status, code, message = await refused(exchange.instrument("ETH-USD", **bad))
    assert (status, code) == (400, "invalid_request"), message
    assert await exchange.admin.instruments() == []


async def test_orders_breaking_a_filter_are_a_422(exchange: Exchange) -> None:
    await exchange.instrument("ETH-USD", **FILTERS)
    alice = await exchange.trader("alice", USD="10000", ETH="100")
    client = alice.client
    before = (await client.account())["balances"]
    below = ("notional_below_minimum",
             "the order is worth less than the instrument's min_notional")
    above = ("quantity_above_maximum", "quantity is above the instrument's max_quantity")
    for call, expected in (
        (client.place_order("ETH-USD", "buy", quantity="0.099", price="100"), below),
        (client.place_order("ETH-USD", "sell", "stop_limit", quantity="0.1", price="50",
                            stop_price="200"), below),
        (client.place_order("ETH-USD", "buy", "market", quote_quantity="9.99"), below),
        (client.place_order("ETH-USD", "buy", quantity="5.001", price="100"), above),
        (client.place_order("ETH-USD", "sell", "market", quantity="6"), above),
    ):
        assert await refused(call) == (422, *expected)
    assert await client.orders() == []
    assert (await client.account())["balances"] == before
    order = await client.place_order("ETH-USD", "buy", quantity="0.1", price="100")
    assert order["status"] == "new"
    assert await refused(client.amend_order(order["order_id"], price="99.99")) == (
        422, *below)
    assert await refused(client.amend_order(order["order_id"], quantity="5.5")) == (
        422, *above)
    amended = await client.amend_order(order["order_id"], quantity="5", price="2")
    assert (amended["quantity"], amended["price"]) == ("5", "2")


async def test_a_market_order_is_valued_at_the_last_trade(exchange: Exchange) -> None:
    await exchange.instrument("ETH-USD", **FILTERS)
    alice = await exchange.trader("alice", USD="10000", ETH="100")
    bob = await exchange.trader("bob", USD="10000", ETH="100")
    # No trade yet: there is nothing to value it at, so the minimum does not apply.
    first = await alice.client.place_order("ETH-USD", "sell", "market", quantity="0.001")
    assert first["status"] == "expired"
    await bob.client.place_order("ETH-USD", "sell", quantity="1", price="200")
    await alice.client.place_order("ETH-USD", "buy", quantity="0.5", price="200")
    status, code, _ = await refused(
        alice.client.place_order("ETH-USD", "buy", "market", quantity="0.049"))
    assert (status, code) == (422, "notional_below_minimum")  # 9.80 at the last 200
    taken = await alice.client.place_order("ETH-USD", "buy", "market", quantity="0.05")
    assert taken["status"] == "filled"


async def test_the_filters_survive_a_restart(url: str) -> None:
    async with trio.open_nursery() as nursery:
        exchange = await start_exchange(nursery, database_url=url)
        created = await exchange.instrument("ETH-USD", **FILTERS)
        alice = await exchange.trader("alice", USD="10000", ETH="100")
        key = alice.api_key
        await exchange.admin.aclose()
        exchange.server.shutdown()
    async with trio.open_nursery() as nursery:
        exchange = await start_exchange(nursery, database_url=url)
        assert await exchange.admin.instrument("ETH-USD") == created
        client = exchange.admin.with_key(key)
        status, code, _ = await refused(
            client.place_order("ETH-USD", "buy", quantity="0.099", price="100"))
        assert (status, code) == (422, "notional_below_minimum")
        await client.aclose()
        await exchange.admin.aclose()
        exchange.server.shutdown()
