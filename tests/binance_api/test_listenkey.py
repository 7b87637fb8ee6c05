"""The legacy listenKey user data stream: the registry on Trio's (mock) clock, the events
through the fan-out beside the WebSocket API's, and a real server with python-binance's
`AsyncClient` and raw WebSockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest
import trio
import websockets
from binance import AsyncClient, BinanceSocketManager
from binance.exceptions import BinanceAPIException
from cryptography.fernet import Fernet

from exchange.binance.errors import BinanceError
from exchange.binance.listenkey import ListenKeys
from exchange.binance.streams import RAW
from exchange.binance.user import _EXECUTION, PREFIX, UserStreams
from exchange.engine import Engine
from exchange.pipeline.keyring import ApiKey, KeyRing
from exchange.pipeline.metrics import Metrics
from exchange.pipeline.readmodel import ReadModel
from exchange.pipeline.sequencer import Published
from exchange.web.fanout import Fanout, Subscriber
from exchange.web.outbox import SLOW_CONSUMER, Outbox
from store.streams import stream
from web.support import threaded_exchange

from .test_ccxt import Venue, serve_venue

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
HOUR = 3600.0


def decoded(outbox: Outbox) -> list[dict[str, Any]]:
    """Everything queued in `outbox`, one message a frame (as the Binance writer sends)."""
    out = []
    while (text := outbox.take_one()) is not None:
        out.append(msgspec.json.decode(text))
    return out


async def registry(seconds: float = HOUR) -> tuple[ListenKeys, Fanout, KeyRing, ApiKey,
                                                    ApiKey]:
    """A registry on Trio's clock, and two keys of account 1 and one of account 2."""
    keys = KeyRing(Fernet(Fernet.generate_key()))
    first = await keys.add_hmac(1, "A" * 64, "first-secret")
    await keys.add_hmac(1, "B" * 64, "second-secret")
    other = await keys.add_hmac(2, "C" * 64, "other-secret")
    fanout = Fanout(ReadModel(), Metrics())
    UserStreams(fanout)
    return ListenKeys(keys, fanout, seconds), fanout, keys, first, other


def connection(fanout: Fanout, limit: int = 10**9) -> Subscriber:
    subscriber = Subscriber(Outbox(limit=limit), dialect=RAW)
    fanout.attach(subscriber)
    return subscriber


async def test_one_key_per_api_key_kept_alive_by_put_and_post(autojump_clock: Any) -> None:
    listen, _, keys, first, other = await registry()
    key = listen.start(first)
    assert len(key) == 64
    assert key.isalnum()
    assert listen.start(first) == key  # the same live key, as Binance
    second = keys.get("B" * 64)
    assert second is not None
    assert listen.start(second) not in (key, listen.start(other))
    await trio.sleep(HOUR - 1)
    listen.keep_alive(first, key)  # another hour from now
    await trio.sleep(HOUR - 1)
    assert listen.start(first) == key  # so does a POST
    await trio.sleep(HOUR - 1)
    assert key in listen.live
    with pytest.raises(BinanceError) as refused:
        listen.keep_alive(other, key)  # not the other key's
    assert (refused.value.binance_code, refused.value.message) == (
        -1125, "This listenKey does not exist.")
    await trio.sleep(2)  # an hour and a second since the last keep-alive
    with pytest.raises(BinanceError) as expired:
        listen.keep_alive(first, key)
    assert expired.value.binance_code == -1125
    fresh = listen.start(first)
    assert fresh != key
    listen.close(first, fresh)
    with pytest.raises(BinanceError):
        listen.close(first, fresh)
    assert listen.live == {}  # the others' keys, never kept alive, went with a POST's sweep


async def test_a_connection_hears_listen_key_expired_then_closes(autojump_clock: Any) -> None:
    listen, fanout, _, first, _ = await registry()
    key = listen.start(first)
    socket = connection(fanout)
    found = listen.attach(key, socket)
    assert found is not None
    assert fanout.dialect_channels["ul"] == {"ul:1": {socket}}
    assert 1 in fanout.watchers
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listen.watch, found)
        for _ in range(4):  # kept alive every 30 minutes: two hours go by
            await trio.sleep(HOUR / 2)
            listen.keep_alive(first, key)
        assert not socket.outbox.closed
        started = trio.current_time()
        await trio.sleep(2 * HOUR)  # the watcher returns at the expiry
        assert trio.current_time() - started == 2 * HOUR
    assert [(m["e"], m["listenKey"]) for m in decoded(socket.outbox)] == [
        ("listenKeyExpired", key)]
    assert (socket.outbox.close_code, socket.outbox.close_reason) == (1000, "listenKey expired")
    assert "ul" not in fanout.dialect_channels  # no more events for it
    assert 1 not in fanout.watchers
    listen.detach(socket, found)  # the connection ends: nothing more to let go
    assert 1 not in fanout.watchers


async def test_unknown_keys_close_deleted_and_revoked_keys_end_their_streams() -> None:
    listen, fanout, keys, first, other = await registry()
    assert ListenKeys.is_key("a" * 64)
    assert not ListenKeys.is_key("btcusd@trade")
    unknown = connection(fanout)
    assert listen.attach("Z" * 64, unknown) is None
    assert (unknown.outbox.close_code, unknown.outbox.close_reason) == (
        1008, "This listenKey does not exist.")
    key, theirs = listen.start(first), listen.start(other)
    sockets = [connection(fanout) for _ in range(3)]
    for socket, name in zip(sockets, (key, key, theirs), strict=True):
        assert listen.attach(name, socket) is not None
    assert fanout.watchers == {1: 2, 2: 1}
    listen.close(first, key)  # DELETE: no expiry event, a normal close
    for socket in sockets[:2]:
        assert decoded(socket.outbox) == []
        assert socket.outbox.close_code == 1000
    assert fanout.watchers == {2: 1}
    await keys.revoke(other.api_key)
    assert (sockets[2].outbox.close_code, sockets[2].outbox.close_reason) == (
        1008, "the API key was revoked")
    assert listen.live == {}
    assert fanout.watchers == {}


async def test_one_connection_on_two_keys_of_an_account_keeps_it_until_the_last() -> None:
    listen, fanout, keys, first, _ = await registry()
    second = keys.get("B" * 64)
    assert second is not None
    socket = connection(fanout)
    one, two = (listen.attach(listen.start(key), socket) for key in (first, second))
    assert one is not None
    assert two is not None
    assert fanout.watchers == {1: 2}
    assert listen.attach(one.listen_key, socket) is None  # `/ws/KEY/KEY`: on it already
    assert fanout.watchers == {1: 2}
    listen.close(first, one.listen_key)  # its key closes the connection, which then ends:
    assert socket.outbox.close_code == 1000
    assert fanout.dialect_channels["ul"] == {"ul:1": {socket}}  # still on the other key
    listen.detach(socket, two)
    assert "ul" not in fanout.dialect_channels
    assert fanout.watchers == {}


@pytest.mark.parametrize("seed", range(3))
async def test_the_same_events_as_the_websocket_api_in_the_engines_order(seed: int) -> None:
    """A listenKey connection gets exactly the WebSocket API subscription's events,
    unwrapped, and only its account's; its order events come in the order of `/v1`'s
    `orders` channel (the read model's notices, in the engine's order)."""
    listen, fanout, _, first, _ = await registry()
    readmodel = fanout._readmodel
    engine = Engine()
    bare = connection(fanout)
    assert listen.attach(listen.start(first), bare) is not None
    wrapped = Subscriber(Outbox(limit=10**9), dialect=PREFIX)
    fanout.attach(wrapped)
    fanout.check(wrapped, f"{PREFIX}:1")
    fanout.subscribe(wrapped, f"{PREFIX}:1")
    fanout.watch(1)
    v1 = Subscriber(Outbox(limit=10**9), account_id=1)
    fanout.attach(v1)
    fanout.subscribe(v1, "orders")
    for command in stream(seed, 400):
        events = engine.handle(command)
        readmodel.apply(events)
        fanout._publish(Published(events, readmodel.take_notices(), readmodel.batches))
    events = decoded(bare.outbox)
    assert events == [message["event"] for message in decoded(wrapped.outbox)]
    kinds = {event["e"] for event in events}
    assert kinds == {"executionReport", "outboundAccountPosition", "balanceUpdate"}
    reports = [event for event in events if event["e"] == "executionReport"]
    assert all(readmodel.orders[r["i"]].account_id == 1 for r in reports
               if r["i"] in readmodel.orders)
    frames = [msgspec.json.decode(text) for text in iter(v1.outbox.take_nowait, None)]
    notices = [m for frame in frames for m in (frame if isinstance(frame, list) else [frame])
               if m["type"] == "order"]
    assert [(r["i"], r["x"]) for r in reports] == [
        (m["order"]["order_id"], _EXECUTION.get(m["event"], "NEW")) for m in notices]


async def test_a_listen_key_connection_that_falls_behind_is_closed() -> None:
    listen, fanout, _, first, _ = await registry()
    readmodel = fanout._readmodel
    engine = Engine()
    slow = connection(fanout, limit=4096)
    found = listen.attach(listen.start(first), slow)
    assert found is not None
    for command in stream(1, 400):
        events = engine.handle(command)  # never waits for the connection
        readmodel.apply(events)
        fanout._publish(Published(events, readmodel.take_notices(), readmodel.batches))
    assert slow.outbox.close_code == SLOW_CONSUMER
    assert slow not in fanout.subscribers
    assert not slow.channels
    listen.detach(slow, found)  # what the connection does as it ends
    assert fanout.watchers == {}


# -- A REAL SERVER --


async def receive_all(socket: Any, into: list[dict[str, Any]]) -> None:
    """Each message as it comes, until the connection closes (or 30 s of silence)."""
    while True:
        into.append(json.loads(await asyncio.wait_for(socket.recv(), 30)))


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    yield from serve_venue("0.01", "0.0001", "0", "0")


def test_python_binance_listen_key_and_its_stream(venue: Venue) -> None:
    """python-binance's listenKey calls, and its own `/ws/<path>` socket reading the
    stream (`user_socket()` itself subscribes through `/ws-api/v3` in 1.0.37)."""
    _, _, key, secret = venue.trader("listener", USD="1000")
    _, _, other_key, other_secret = venue.trader("seller", BTC="1")

    async def run() -> None:
        client = AsyncClient(key, secret)
        seller = AsyncClient(other_key, other_secret)
        for one in (client, seller):
            one.API_URL = venue.url + "/api"
        try:
            listen_key = await client.stream_get_listen_key()
            assert await client.stream_get_listen_key() == listen_key
            assert await client.stream_keepalive(listen_key) == {}
            manager = BinanceSocketManager(client)
            manager.STREAM_URL = venue.url.replace("http", "ws", 1) + "/"
            async with manager._get_socket(listen_key) as socket:
                assert socket.ws is not None  # answered once the server has subscribed it:
                await socket.ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
                assert await asyncio.wait_for(socket.recv(), 10) == {"result": [], "id": 1}
                order = await client.order_limit_buy(symbol="BTCUSD", quantity="0.5",
                                                     price="100")
                await seller.order_market_sell(symbol="BTCUSD", quantity="0.5")
                seen = [await asyncio.wait_for(socket.recv(), 10) for _ in range(4)]
            assert [(e["e"], e.get("x"), e.get("X")) for e in seen] == [
                ("executionReport", "NEW", "NEW"), ("outboundAccountPosition", None, None),
                ("executionReport", "TRADE", "FILLED"),
                ("outboundAccountPosition", None, None)]
            assert seen[2]["i"] == order["orderId"]
            assert (seen[2]["l"], seen[2]["L"]) == ("0.5", "100")
            assert {b["a"]: b["f"] for b in seen[3]["B"]} == {"BTC": "0.5", "USD": "950"}
            assert await client.stream_close(listen_key) == {}
            with pytest.raises(BinanceAPIException) as gone:
                await client.stream_keepalive(listen_key)
            assert (gone.value.code, gone.value.message) == (
                -1125, "This listenKey does not exist.")
            with pytest.raises(BinanceAPIException) as theirs:  # another key's listenKey
                await seller.stream_close(await client.stream_get_listen_key())
            assert theirs.value.code == -1125
        finally:
            await client.close_connection()
            await seller.close_connection()

    asyncio.run(run())


def test_raw_websockets_the_api_subscription_and_the_refusals(venue: Venue) -> None:
    account_id, bearer, key, _ = venue.trader("raw", USD="1000")
    ws = venue.url.replace("http", "ws", 1)
    http = httpx.Client(base_url=venue.url, headers={"X-MBX-APIKEY": key})
    for headers, status, code in (({}, 401, -2014), ({"X-MBX-APIKEY": "x" * 64}, 401, -2015)):
        refused = httpx.post(venue.url + "/api/v3/userDataStream", headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (status, code)
    missing = http.put("/api/v3/userDataStream")
    assert (missing.status_code, missing.json()["code"]) == (400, -1102)
    unknown = http.delete("/api/v3/userDataStream", params={"listenKey": "q" * 64})
    assert (unknown.status_code, unknown.json()) == (
        400, {"code": -1125, "msg": "This listenKey does not exist."})
    listen_key = http.post("/api/v3/userDataStream").json()["listenKey"]

    async def run() -> None:
        async with websockets.connect(f"{ws}/ws/{listen_key}") as first, \
                websockets.connect(f"{ws}/ws/{listen_key}") as second:
            await first.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusd@trade"],
                                         "id": 1}))
            assert json.loads(await first.recv()) == {"result": None, "id": 1}
            await first.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            assert json.loads(await first.recv()) == {"result": ["btcusd@trade"], "id": 2}
            await second.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
            assert json.loads(await second.recv()) == {"result": [], "id": 3}  # subscribed
            deposit = venue.admin.post(f"/v1/admin/accounts/{account_id}/deposits",
                                       json={"asset": "USD", "amount": "5"})
            assert deposit.status_code == 201, deposit.text
            for socket in (first, second):
                update, position = [json.loads(await asyncio.wait_for(socket.recv(), 10))
                                    for _ in range(2)]
                assert (update["e"], update["a"], update["d"]) == ("balanceUpdate", "USD", "5")
                assert (position["e"], position["B"]) == ("outboundAccountPosition", [
                    {"a": "USD", "f": "1005", "l": "0"}])
            with pytest.raises(websockets.ConnectionClosed) as lost:
                async with websockets.connect(f"{ws}/ws/{'Q' * 64}") as stranger:
                    await asyncio.wait_for(stranger.recv(), 10)
            assert lost.value.rcvd is not None
            assert lost.value.rcvd.code == 1008
            revoked = venue.admin.delete(f"/v1/admin/accounts/{account_id}/api-keys/{key}")
            assert revoked.status_code < 300, revoked.text
            for socket in (first, second):
                with pytest.raises(websockets.ConnectionClosed) as ended:
                    await asyncio.wait_for(socket.recv(), 10)
                assert ended.value.rcvd is not None
                assert ended.value.rcvd.code == 1008

    asyncio.run(run())
    assert http.put("/api/v3/userDataStream",
                    params={"listenKey": listen_key}).json()["code"] == -2015
    http.close()
    v1 = httpx.get(venue.url + "/v1/account", headers={"Authorization": f"Bearer {bearer}"})
    assert v1.status_code == 200  # the account itself goes on


def test_a_key_not_kept_alive_expires_on_a_real_server() -> None:
    with threaded_exchange(rate_limit=0, listen_key_seconds=1.0) as url:
        venue = Venue(url)
        _, _, key, _ = venue.trader("expiring")
        http = httpx.Client(base_url=url, headers={"X-MBX-APIKEY": key})

        ws = url.replace("http", "ws", 1)

        async def listen(listen_key: str) -> tuple[list[dict[str, Any]], int | None]:
            """Everything the connection gets until it closes, and its close code."""
            received: list[dict[str, Any]] = []
            async with websockets.connect(f"{ws}/ws/{listen_key}") as socket:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await receive_all(socket, received)
            return received, closed.value.rcvd.code if closed.value.rcvd else None

        for _ in range(10):  # a machine so busy the key expired before it connected: again
            listen_key = http.post("/api/v3/userDataStream").json()["listenKey"]
            received, code = asyncio.run(listen(listen_key))
            if (received, code) != ([], 1008):
                break
        assert [(m["e"], m["listenKey"]) for m in received] == [
            ("listenKeyExpired", listen_key)]
        assert code == 1000
        assert http.put("/api/v3/userDataStream",
                        params={"listenKey": listen_key}).json()["code"] == -1125
        assert http.post("/api/v3/userDataStream").json()["listenKey"] != listen_key
        http.close()
        venue.admin.close()
