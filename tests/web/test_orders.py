"""Order entry end to end: every order type, cancel, amend, listings and fills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import trio

from exchange.client import ExchangeError

from .support import Exchange, Trader
from .wsclient import connect


async def _pair(exchange: Exchange) -> tuple[Trader, Trader]:
    await exchange.instrument()
    alice = await exchange.trader("alice", USD="100000", BTC="100")
    bob = await exchange.trader("bob", USD="100000", BTC="100")
    return alice, bob


async def test_limit_rests_then_fills_at_maker_price(exchange: Exchange) -> None:
    alice, bob = await _pair(exchange)
    sell = await alice.client.place_order("BTC-USD", "sell", quantity="1", price="100",
                                          client_order_id="ask-1")
    assert sell["status"] == "new"
    assert sell["remaining_quantity"] == "1"
    assert sell["average_fill_price"] is None
    assert sell["fills"] == []
    buy = await bob.client.place_order("BTC-USD", "buy", quantity="0.4", price="101")
    assert buy["status"] == "filled"
    assert buy["remaining_quantity"] == "0"
    assert buy["average_fill_price"] == "100"
    [fill] = buy["fills"]
    assert fill["price"] == "100"
    assert fill["quantity"] == "0.4"
    assert fill["liquidity"] == "taker"
    assert fill["fee"] == "0.08"  # 40 x 0.002
    assert fill["fee_asset"] == "USD"
    after = await alice.client.order(sell["order_id"])
    assert after["status"] == "partially_filled"
    assert after["filled_quantity"] == "0.4"
    assert after["remaining_quantity"] == "0.6"
    book = await bob.client.book("BTC-USD")
    assert book["asks"] == [["100", "0.6", 1]]
    assert book["bids"] == []
    assert book["sequence"] >= 2
    [maker_fill] = await alice.client.fills()
    assert maker_fill["liquidity"] == "maker"
    assert maker_fill["side"] == "sell"
    assert maker_fill["order_id"] == sell["order_id"]
    by_client = await alice.client.order_by_client_id("ask-1")
    assert by_client["order_id"] == sell["order_id"]


async def test_market_order_on_empty_book_expires(exchange: Exchange) -> None:
    alice, _ = await _pair(exchange)
    order = await alice.client.place_order("BTC-USD", "buy", "market", quantity="1")
    assert order["status"] == "expired"
    assert order["fills"] == []
    assert order["remaining_quantity"] == "0"


async def test_market_by_quote_quantity(exchange: Exchange) -> None:
    alice, bob = await _pair(exchange)
    await alice.client.place_order("BTC-USD", "sell", quantity="5", price="100")
    order = await bob.client.place_order("BTC-USD", "buy", "market", quote_quantity="100.2")
    assert order["quantity"] is None
    assert order["quote_quantity"] == "100.2"
    assert order["status"] == "filled"
    assert order["filled_quantity"] == "1"


async def test_ioc_and_fok(exchange: Exchange) -> None:
    alice, bob = await _pair(exchange)
    await alice.client.place_order("BTC-USD", "sell", quantity="1", price="100")
    fok = await bob.client.place_order("BTC-USD", "buy", quantity="2", price="100",
                                       time_in_force="fok")
    assert fok["status"] == "expired"
    assert fok["filled_quantity"] == "0"
    ioc = await bob.client.place_order("BTC-USD", "buy", quantity="2", price="100",
                                       time_in_force="ioc")
    assert ioc["status"] == "expired"
    assert ioc["filled_quantity"] == "1"
    assert ioc["remaining_quantity"] == "0"


async def test_gtd_expires(exchange: Exchange) -> None:
    alice, _ = await _pair(exchange)
    soon = (datetime.now(UTC) + timedelta(milliseconds=300)).isoformat()
    order = await alice.client.place_order("BTC-USD", "buy", quantity="1", price="90",
                                           time_in_force="gtd", expire_time=soon)
    assert order["status"] == "new"
    assert order["expire_time"] is not None
    with trio.fail_after(5):
        while (await alice.client.order(order["order_id"]))["status"] != "expired":  # noqa: ASYNC110
            await trio.sleep(0.1)
    assert (await alice.client.book("BTC-USD"))["bids"] == []


async def test_stops_trigger(exchange: Exchange) -> None:
    alice, bob = await _pair(exchange)
    stop = await alice.client.place_order("BTC-USD", "buy", "stop_market", quantity="1",
                                          stop_price="105")
    assert stop["status"] == "pending"
    stop_limit = await alice.client.place_order("BTC-USD", "buy", "stop_limit", quantity="1",
                                                stop_price="105", price="120")
    assert stop_limit["status"] == "pending"
    await bob.client.place_order("BTC-USD", "sell", quantity="3", price="105")
    await alice.client.place_order("BTC-USD", "buy", quantity="1", price="105")
    triggered = await alice.client.order(stop["order_id"])
    assert triggered["status"] == "filled"
    assert (await alice.client.order(stop_limit["order_id"]))["status"] == "filled"


async def test_take_profits_wait_then_trigger_the_other_way(exchange: Exchange) -> None:
    """A sell take-profit (REST) triggers when a trade rises to its stop price, a buy
    take-profit limit (WebSocket) when one falls to it; each then fills as a market or limit
    order, and the order reads back with its type and stop price throughout."""
    alice, bob = await _pair(exchange)
    carol = await exchange.trader("carol", USD="100000", BTC="100")
    sell = await alice.client.place_order("BTC-USD", "sell", "take_profit_market",
                                          quantity="1", stop_price="110")
    assert (sell["status"], sell["type"], sell["stop_price"], sell["price"]) == (
        "pending", "take_profit_market", "110", None)
    async with connect(exchange.url, api_key=alice.api_key) as ws:
        reply = await ws.call("place", order={
            "symbol": "BTC-USD", "side": "buy", "type": "take_profit_limit", "quantity": "1",
            "stop_price": "95", "price": "96"})
    buy = reply["order"]
    assert (buy["status"], buy["type"], buy["stop_price"], buy["price"]) == (
        "pending", "take_profit_limit", "95", "96")
    held = {b["asset"]: b["held"] for b in (await alice.client.account())["balances"]}
    assert held == {"BTC": "1", "USD": "96.192"}  # the sell's base; the limit and its fee
    assert {o["order_id"] for o in await alice.client.orders(status="open")} == {
        sell["order_id"], buy["order_id"]}

    await bob.client.place_order("BTC-USD", "buy", quantity="1", price="108")
    await bob.client.place_order("BTC-USD", "sell", quantity="1", price="109.99")
    await carol.client.place_order("BTC-USD", "buy", quantity="1", price="109.99")
    assert (await alice.client.order(sell["order_id"]))["status"] == "pending"  # 109.99 < 110
    await bob.client.place_order("BTC-USD", "sell", quantity="1", price="110")
    await carol.client.place_order("BTC-USD", "buy", quantity="1", price="110")
    sold = await alice.client.order(sell["order_id"])
    assert (sold["status"], sold["type"], sold["filled_quantity"]) == (
        "filled", "take_profit_market", "1")
    assert sold["average_fill_price"] == "108"  # the best bid when it triggered
    assert (await alice.client.order(buy["order_id"]))["status"] == "pending"  # 108 > 95

    await bob.client.place_order("BTC-USD", "sell", quantity="1", price="96")
    await bob.client.place_order("BTC-USD", "buy", quantity="1", price="95")
    await carol.client.place_order("BTC-USD", "sell", quantity="1", price="95")
    bought = await alice.client.order(buy["order_id"])
    assert (bought["status"], bought["filled_quantity"], bought["average_fill_price"]) == (
        "filled", "1", "96")
    fills = await alice.client.fills()
    assert sorted((f["order_id"], f["price"]) for f in fills) == [
        (sell["order_id"], "108"), (buy["order_id"], "96")]
    assert await alice.client.orders(status="open") == []


async def test_take_profit_fields_are_checked(exchange: Exchange) -> None:
    alice, _ = await _pair(exchange)
    for fields in ({"type": "take_profit_market", "quantity": "1"},
                   {"type": "take_profit_limit", "quantity": "1", "stop_price": "95"},
                   {"type": "take_profit_market", "quantity": "1", "stop_price": "95",
                    "price": "96"}):
        with pytest.raises(ExchangeError) as caught:
            await alice.client.place_order("BTC-USD", "buy", **fields)
        assert (caught.value.status, caught.value.code) == (400, "invalid_request"), fields


async def test_post_only_and_stp(exchange: Exchange) -> None:
    alice, bob = await _pair(exchange)
    await alice.client.place_order("BTC-USD", "sell", quantity="1", price="100")
    with pytest.raises(ExchangeError) as caught:
        await bob.client.place_order("BTC-USD", "buy", quantity="1", price="100",
                                     post_only=True)
    assert caught.value.status == 422
    assert caught.value.code == "post_only_would_take"
    self_trade = await alice.client.place_order("BTC-USD", "buy", quantity="1", price="100")
    assert self_trade["status"] == "expired"  # cancel_newest
    resting = await alice.client.orders(status="open")
    assert [o["side"] for o in resting] == ["sell"]


async def test_bracket_children(exchange: Exchange) -> None:
    alice, bob = await _pair(exchange)
    await bob.client.place_order("BTC-USD", "sell", quantity="1", price="100")
    parent = await alice.client.place_order("BTC-USD", "buy", quantity="1", price="100",
                                            take_profit_price="110", stop_loss_price="90")
    assert parent["status"] == "filled"
    assert parent["take_profit_price"] == "110"
    children = [o for o in await alice.client.orders(status="open")
                if o["parent_order_id"] == parent["order_id"]]
    assert sorted((o["type"], o["status"]) for o in children) == [
        ("limit", "new"), ("stop_market", "pending"),
    ]


async def test_cancel_amend_and_their_errors(exchange: Exchange) -> None:
    alice, bob = await _pair(exchange)
    order = await alice.client.place_order("BTC-USD", "buy", quantity="2", price="99")
    amended = await alice.client.amend_order(order["order_id"], quantity="1.5", price="98")
    assert amended["quantity"] == "1.5"
    assert amended["price"] == "98"
    assert (await alice.client.book("BTC-USD"))["bids"] == [["98", "1.5", 1]]
    with pytest.raises(ExchangeError) as caught:
        await bob.client.cancel_order(order["order_id"])
    assert (caught.value.status, caught.value.code) == (403, "forbidden")
    with pytest.raises(ExchangeError) as caught:
        await bob.client.order(order["order_id"])
    assert caught.value.status == 403
    with pytest.raises(ExchangeError) as caught:
        await bob.client.amend_order(order["order_id"], price="97")
    assert caught.value.status == 403
    with pytest.raises(ExchangeError) as caught:
        await alice.client.amend_order(order["order_id"], price="98.001")
    assert caught.value.code == "price_not_on_tick"
    cancelled = await alice.client.cancel_order(order["order_id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["remaining_quantity"] == "0"
    for call in (alice.client.cancel_order(order["order_id"]),
                 alice.client.amend_order(order["order_id"], quantity="1")):
        with pytest.raises(ExchangeError) as caught:
            await call
        assert (caught.value.status, caught.value.code) == (409, "order_not_open")
    with pytest.raises(ExchangeError) as caught:
        await alice.client.cancel_order(999_999)
    assert caught.value.status == 404


async def test_amend_below_filled_is_invalid(exchange: Exchange) -> None:
    alice, bob = await _pair(exchange)
    order = await alice.client.place_order("BTC-USD", "sell", quantity="2", price="100")
    await bob.client.place_order("BTC-USD", "buy", quantity="1", price="100")
    with pytest.raises(ExchangeError) as caught:
        await alice.client.amend_order(order["order_id"], quantity="1")
    assert (caught.value.status, caught.value.code) == (422, "invalid_order")


async def test_list_cancel_all_and_fills_paging(exchange: Exchange) -> None:
    alice, bob = await _pair(exchange)
    await exchange.instrument("ETH-USD", lot="0.01")
    await exchange.admin.deposit(alice.account_id, "ETH", "10")
    ids = []
    for price in ("90", "91", "92"):
        ids.append((await alice.client.place_order("BTC-USD", "buy", quantity="1",
                                                   price=price))["order_id"])
    eth = await alice.client.place_order("ETH-USD", "sell", quantity="1", price="3000")
    listed = await alice.client.orders()
    assert [o["order_id"] for o in listed] == [eth["order_id"], *reversed(ids)]
    assert [o["order_id"] for o in await alice.client.orders(limit=2, before=ids[2])] == [
        ids[1], ids[0],
    ]
    assert len(await alice.client.orders(symbol="ETH-USD")) == 1
    assert await bob.client.orders() == []
    cancelled = await alice.client.cancel_all("BTC-USD")
    assert sorted(cancelled) == ids
    assert len(await alice.client.orders(status="open")) == 1
    assert len(await alice.client.orders(status="closed")) == 3
    assert await alice.client.cancel_all() == [eth["order_id"]]
    # fills: newest first, paging by trade id
    await alice.client.place_order("BTC-USD", "sell", quantity="3", price="100")
    for _ in range(3):
        await bob.client.place_order("BTC-USD", "buy", quantity="1", price="100")
    fills = await bob.client.fills()
    assert [f["trade_id"] for f in fills] == sorted((f["trade_id"] for f in fills),
                                                    reverse=True)
    older = await bob.client.fills(before=fills[0]["trade_id"], limit=1)
    assert [f["trade_id"] for f in older] == [fills[1]["trade_id"]]
    trades = await bob.client.trades("BTC-USD")
    assert [t["trade_id"] for t in trades] == [f["trade_id"] for f in fills]
    assert trades[0]["taker_side"] == "buy"
