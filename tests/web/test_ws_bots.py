"""What bots get over the WebSocket and the dead-man switch, against a real server: the
balances and candles channels, the open-orders snapshot, cancel_on_disconnect and
`POST /v1/orders/cancel-after`."""

from __future__ import annotations

import socket
import struct
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed

from exchange.bench.rawws import RawWebSocket
from exchange.client import ExchangeError, open_exchange_socket

from .support import Exchange, Templates, Trader, database_url_for, start_exchange
from .wsclient import Socket, connect, messages_of

SYMBOL = "BTC-USD"


def _limit(side: str, quantity: str, price: str) -> dict[str, Any]:
    return {"symbol": SYMBOL, "side": side, "type": "limit", "quantity": quantity,
            "price": price}


async def _open_ids(trader: Trader) -> set[int]:
    return {order["order_id"] for order in await trader.client.orders(status="open",
                                                                      limit=1000)}


async def _wait_open(trader: Trader, expected: set[int], within: float = 5.0) -> None:
    with trio.fail_after(within):
        while await _open_ids(trader) != expected:  # noqa: ASYNC110 - polls REST
            await trio.sleep(0.05)


# -- BALANCES --


async def test_balances_start_with_a_snapshot_and_carry_every_change(
        exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    buyer = await exchange.trader("buyer", USD="1000")
    seller = await exchange.trader("seller", BTC="5")
    async with connect(exchange.url, api_key=buyer.api_key) as ws:
        reply = await ws.call("subscribe", channels=["balances"])
        assert reply["type"] == "subscribed"
        snapshot = await ws.next()
        assert snapshot == {"type": "balances_snapshot", "channel": "balances",
                            "balances": (await buyer.client.account())["balances"]}
        balances = {item["asset"]: item for item in snapshot["balances"]}
        await buyer.client.place_order(SYMBOL, "buy", quantity="2", price="100")
        held = await ws.until("balance")
        assert held["asset"] == "USD"
        assert Decimal(held["held"]) > 0
        assert Decimal(held["total"]) == Decimal(held["available"]) + Decimal(held["held"])
        balances["USD"] = held
        await seller.client.place_order(SYMBOL, "sell", quantity="1", price="100")
        await exchange.admin.deposit(buyer.account_id, "ETH", "3")
        rest = (await buyer.client.account())["balances"]
        with trio.fail_after(5):
            while [balances[asset] for asset in sorted(balances)] != rest:
                message = await ws.until("balance")
                assert message["channel"] == "balances"
                balances[message["asset"]] = {key: message[key] for key in
                                              ("asset", "total", "available", "held")}
    assert {item["asset"] for item in rest} == {"USD", "BTC", "ETH"}


async def test_balances_need_authentication(exchange: Exchange) -> None:
    async with connect(exchange.url) as ws:
        reply = await ws.call("subscribe", channels=["balances"])
        assert reply["error"]["code"] == "unauthorized"


# -- THE OPEN-ORDERS SNAPSHOT --


async def test_orders_start_with_the_open_orders_and_the_updates_follow_them(
        exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("t", USD="1000000")
    first = await trader.client.place_order(SYMBOL, "buy", quantity="1", price="10")
    gone = await trader.client.place_order(SYMBOL, "buy", quantity="1", price="11")
    await trader.client.cancel_order(gone["order_id"])
    async with connect(exchange.url, api_key=trader.api_key) as ws:
        await ws.call("subscribe", channels=["orders"])
        snapshot = await ws.next()
        assert snapshot["type"] == "orders_snapshot"
        assert snapshot["channel"] == "orders"
        assert snapshot["orders"] == [await trader.client.order(first["order_id"])]
    # Subscribing while orders arrive: the snapshot and the events after it meet exactly.
    async with connect(exchange.url, api_key=trader.api_key) as ws:
        placed: list[int] = []
        enough = [1000]

        async def place() -> None:
            while len(placed) < enough[0]:
                order = await trader.client.place_order(SYMBOL, "buy", quantity="1",
                                                        price=str(20 + len(placed) % 50))
                placed.append(order["order_id"])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(place)
            with trio.fail_after(10):
                while len(placed) < 10:  # noqa: ASYNC110 - waits for the other task
                    await trio.sleep(0.01)
            await ws.call("subscribe", channels=["orders"])
            snapshot = await ws.until("orders_snapshot")
            enough[0] = len(placed) + 20  # and more after the snapshot
        seen = {order["order_id"] for order in snapshot["orders"]}
        assert first["order_id"] in seen
        assert 10 < len(seen) < len(placed) + 1  # it did start mid-stream
        new: list[int] = []
        with trio.fail_after(5):
            while seen | set(new) != {first["order_id"], *placed}:
                message = await ws.until("order")
                assert message["event"] == "new"
                new.append(message["order"]["order_id"])
        assert not seen & set(new), "an order both in the snapshot and as an event"
        assert len(new) == len(set(new))


# -- CANDLES --


async def test_candles_channel_first_the_current_candle_then_each_change(
        exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    maker = await exchange.trader("maker", BTC="10")
    taker = await exchange.trader("taker", USD="10000")
    async with connect(exchange.url) as ws:
        channels = [f"candles.{SYMBOL}.1m", f"candles.{SYMBOL}.1h"]
        await ws.call("subscribe", channels=channels)
        for channel in channels:
            assert await ws.next() == {"type": "candle", "channel": channel, "candle": None}
        await maker.client.place_order(SYMBOL, "sell", quantity="5", price="100")
        await maker.client.place_order(SYMBOL, "sell", quantity="5", price="101")
        for quantity, expected_trades in (("1", 1), ("6", 3)):
            await taker.client.place_order(SYMBOL, "buy", "market", quantity=quantity)
            for interval in ("1m", "1h"):
                message = await ws.until("candle", channel=f"candles.{SYMBOL}.{interval}")
                rest = await exchange.admin.candles(SYMBOL, interval)
                assert message["candle"] == rest[-1]
            assert message["candle"]["trades"] == expected_trades  # the hour's (1m may roll)
        assert message["candle"]["high"] == "101"
        assert message["candle"]["volume"] == "7"
        ws.drop("candle")
        assert (await ws.call("ping"))["type"] == "pong"
        assert not ws.pending  # one message per batch and channel, no more
    async with connect(exchange.url) as late:
        await late.call("subscribe", channels=[f"candles.{SYMBOL}.5m"])
        message = await late.next()
        assert message["candle"] == (await exchange.admin.candles(SYMBOL, "5m"))[-1]


@pytest.mark.parametrize(("channel", "code"), [
    (f"candles.{SYMBOL}.2m", "invalid_request"),
    (f"candles.{SYMBOL}", "invalid_request"),
    ("candles.NOPE-USD.1m", "unknown_symbol"),
])
async def test_bad_candle_channels_are_refused(exchange: Exchange, channel: str, code: str
                                               ) -> None:
    await exchange.instrument(SYMBOL)
    async with connect(exchange.url) as ws:
        reply = await ws.call("subscribe", channels=[channel])
        assert reply["type"] == "error"
        assert reply["error"]["code"] == code


# -- CANCEL ON DISCONNECT --


async def _place_over(ws: Socket, *orders: dict[str, Any]) -> list[int]:
    ids = []
    for order in orders:
        reply = await ws.call("place", order=order)
        assert reply["type"] == "result", reply
        ids.append(reply["order"]["order_id"])
    return ids


async def test_cancel_on_disconnect_cancels_only_the_connections_orders(
        exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("bot", USD="1000000")
    by_rest = (await trader.client.place_order(SYMBOL, "buy", quantity="1",
                                               price="10"))["order_id"]
    async with connect(exchange.url, api_key=trader.api_key) as other, \
            connect(exchange.url) as ws:
        reply = await ws.call("auth", api_key=trader.api_key, cancel_on_disconnect=True)
        assert reply == {"type": "authenticated", "id": 1, "account_id": trader.account_id,
                         "cancel_on_disconnect": True}
        mine = await _place_over(ws, _limit("buy", "1", "11"), _limit("buy", "2", "12"))
        (elsewhere,) = await _place_over(other, _limit("buy", "1", "13"))
        await trio.sleep(0.5)  # nothing is cancelled while connected
        assert await _open_ids(trader) == {by_rest, elsewhere, *mine}
    # `other` (without the option) closed too: its order stays, like the REST one.
    await _wait_open(trader, {by_rest, elsewhere})
    for order_id in mine:
        assert (await trader.client.order(order_id))["status"] == "cancelled"


async def test_cancel_on_disconnect_after_a_tcp_reset(exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("bot", USD="1000000")
    raw = await RawWebSocket.open(exchange.url, trader.api_key)
    # Authenticated by the upgrade's header: auth carries only the option.
    await raw.send_text(b'{"op":"auth","id":1,"cancel_on_disconnect":true}')
    await raw.send_text(b'{"op":"place","id":2,"order":{"symbol":"BTC-USD","side":"buy",'
                        b'"type":"limit","quantity":"1","price":"10"}}')
    replies: dict[int, dict[str, Any]] = {}
    with trio.fail_after(5):
        while 2 not in replies:
            for data in await raw.receive():
                for message in messages_of(data):
                    if "id" in message:
                        replies[message["id"]] = message
    assert replies[1]["cancel_on_disconnect"] is True
    order_id = replies[2]["order"]["order_id"]
    assert await _open_ids(trader) == {order_id}
    # SO_LINGER 0: close() sends a RST, no close frame, no FIN.
    raw.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.stream.socket.close()
    await _wait_open(trader, set())
    assert (await trader.client.order(order_id))["status"] == "cancelled"


async def test_cancel_on_disconnect_covers_orders_still_in_flight(exchange: Exchange
                                                                   ) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("bot", USD="1000000")
    async with connect(exchange.url, api_key=trader.api_key) as ws:
        await ws.call("auth", cancel_on_disconnect=True)
        # Gone before any answer: half by callback, half (client_order_id) by a task.
        await ws.send([{"op": "place", "id": i, "order": {
            **_limit("buy", "1", str(10 + i)),
            **({"client_order_id": f"c{i}"} if i % 2 else {})}} for i in range(20)])
    with trio.fail_after(5):
        while len(await trader.client.orders(limit=100)) < 20:  # noqa: ASYNC110 - polls REST
            await trio.sleep(0.05)
    await _wait_open(trader, set())


async def test_the_client_library_sets_the_option(exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("bot", USD="1000000")
    async with open_exchange_socket(exchange.url, trader.api_key) as client:
        assert await client.authenticate(cancel_on_disconnect=True) == trader.account_id
        order = await client.place(_limit("buy", "1", "10"))
        assert await _open_ids(trader) == {order["order_id"]}
    await _wait_open(trader, set())


async def test_cancel_on_disconnect_at_shutdown_is_durable(tmp_path: Path,
                                                           templates: Templates) -> None:
    """The server stopping drops the connection too: after a restart on the same database
    the order is cancelled."""
    url = await database_url_for("sqlite", tmp_path, templates)
    async with trio.open_nursery() as nursery:
        running = await start_exchange(nursery, database_url=url)
        await running.instrument(SYMBOL)
        trader = await running.trader("bot", USD="1000000")
        kept = (await trader.client.place_order(SYMBOL, "buy", quantity="1",
                                                price="9"))["order_id"]
        async with connect(running.url, api_key=trader.api_key, queue=64) as ws:
            await ws.call("auth", cancel_on_disconnect=True)
            (order_id,) = await _place_over(ws, _limit("buy", "1", "10"))
            running.server.shutdown()
            with pytest.raises(ConnectionClosed):  # noqa: PT012 - reads until closed
                while True:
                    await ws.next()
        await running.admin.aclose()
    async with trio.open_nursery() as nursery:
        again = await start_exchange(nursery, database_url=url)
        client = again.admin.with_key(trader.api_key)
        assert (await client.order(order_id))["status"] == "cancelled"
        assert (await client.order(kept))["status"] == "new"
        await client.aclose()
        await again.admin.aclose()
        again.server.shutdown()


async def test_without_the_option_a_dropped_connection_cancels_nothing(
        exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("bot", USD="1000000")
    async with connect(exchange.url, api_key=trader.api_key) as ws:
        reply = await ws.call("auth", cancel_on_disconnect=True)
        assert reply["cancel_on_disconnect"] is True
        reply = await ws.call("auth", cancel_on_disconnect=False)
        assert reply["cancel_on_disconnect"] is False
        placed = set(await _place_over(ws, _limit("buy", "1", "10")))
        bad = await ws.call("auth", cancel_on_disconnect="yes")
        assert bad["error"]["code"] == "invalid_request"
    await trio.sleep(0.5)
    assert await _open_ids(trader) == placed


# -- THE DEAD-MAN SWITCH --


async def _cancel_after(trader: Trader, timeout_s: Any) -> dict[str, Any]:
    return await trader.client.cancel_after(timeout_s)


async def test_dead_man_switch_fires_unless_refreshed(exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("bot", USD="1000000")
    other = await exchange.trader("other", USD="1000000")
    ids = {(await trader.client.place_order(SYMBOL, "buy", quantity="1",
                                            price=str(price)))["order_id"]
           for price in (10, 11)}
    kept = (await other.client.place_order(SYMBOL, "buy", quantity="1",
                                           price="10"))["order_id"]
    armed = await _cancel_after(trader, 1)
    assert armed["timeout_s"] == 1
    assert armed["trigger_time"].endswith("Z")
    for _ in range(6):  # refreshed for 1.8 s: nothing fires
        await trio.sleep(0.3)
        await _cancel_after(trader, 1)
    assert await _open_ids(trader) == ids
    await _wait_open(trader, set(), within=3)
    assert await _open_ids(other) == {kept}  # another account's orders stay
    # Once fired it is disarmed: new orders stay.
    later = (await trader.client.place_order(SYMBOL, "buy", quantity="1",
                                             price="12"))["order_id"]
    await trio.sleep(1.3)
    assert await _open_ids(trader) == {later}


async def test_dead_man_switch_zero_disarms(exchange: Exchange) -> None:
    await exchange.instrument(SYMBOL)
    trader = await exchange.trader("bot", USD="1000000")
    order_id = (await trader.client.place_order(SYMBOL, "buy", quantity="1",
                                                price="10"))["order_id"]
    await _cancel_after(trader, 1)
    assert await _cancel_after(trader, 0) == {"timeout_s": 0, "trigger_time": None}
    await trio.sleep(1.5)
    assert await _open_ids(trader) == {order_id}


@pytest.mark.parametrize("timeout_s", [-1, 86_401, "5", True, 1.5, None])
async def test_dead_man_switch_refuses_bad_timeouts(exchange: Exchange, timeout_s: Any
                                                    ) -> None:
    trader = await exchange.trader("bot")
    with pytest.raises(ExchangeError) as refused:
        await _cancel_after(trader, timeout_s)
    assert refused.value.status == 400
    assert refused.value.code == "invalid_request"


async def test_dead_man_switch_needs_a_key(exchange: Exchange) -> None:
    with pytest.raises(ExchangeError) as refused:
        await exchange.admin.request("POST", "/v1/orders/cancel-after", json={"timeout_s": 5},
                                     auth="none")
    assert refused.value.status == 401
