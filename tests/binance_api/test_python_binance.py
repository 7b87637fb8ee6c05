"""The Binance-compatible surface with the unmodified python-binance (`Client` and
`AsyncClient`), its `API_URL` pointed at a real server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from binance import AsyncClient, Client
from binance.exceptions import BinanceAPIException

from .test_ccxt import Venue, serve_venue

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    yield from serve_venue("0.01", "0.0001", "0.001", "0.002")


def test_client(venue: Venue) -> None:
    _, _, key, secret = venue.trader("pb", USD="10000", BTC="1")
    client = Client(key, secret, ping=False)
    try:
        _use(client, venue)
    finally:  # the event loop python-binance made for this thread
        client.loop.close()
        asyncio.set_event_loop(None)


def _use(client: Client, venue: Venue) -> None:
    client.API_URL = venue.url + "/api"
    client.ping()
    assert client.get_server_time()["serverTime"] > 0
    [info] = client.get_exchange_info()["symbols"]
    assert (info["symbol"], info["baseAsset"], info["quoteAsset"]) == ("BTCUSD", "BTC", "USD")
    assert client.get_symbol_info("BTCUSD")["status"] == "TRADING"
    assert client.get_asset_balance("USD") == {"asset": "USD", "free": "10000", "locked": "0"}
    order = client.order_limit_sell(symbol="BTCUSD", quantity="0.5", price="25000")
    assert order["status"] == "NEW"
    assert client.get_order(symbol="BTCUSD", orderId=order["orderId"])["origQty"] == "0.5"
    assert [o["orderId"] for o in client.get_open_orders(symbol="BTCUSD")] == [order["orderId"]]
    assert client.get_asset_balance("BTC")["locked"] == "0.5"
    book = client.get_order_book(symbol="BTCUSD")
    assert book["asks"] == [["25000", "0.5"]]
    cancelled = client.cancel_order(symbol="BTCUSD", orderId=order["orderId"])
    assert cancelled["status"] == "CANCELED"
    assert client.get_all_orders(symbol="BTCUSD")[0]["status"] == "CANCELED"
    with pytest.raises(BinanceAPIException) as refused:
        client.order_limit_buy(symbol="BTCUSD", quantity="1000", price="25000")
    assert refused.value.code == -2010
    with pytest.raises(BinanceAPIException) as unknown:
        client.get_order(symbol="BTCUSD", orderId=123456789)
    assert unknown.value.code == -2013


def test_async_client(venue: Venue) -> None:
    _, _, key, secret = venue.trader("apb", USD="5000")

    async def run() -> None:
        client = AsyncClient(key, secret)
        client.API_URL = venue.url + "/api"
        try:
            account = await client.get_account()
            assert {"asset": "USD", "free": "5000", "locked": "0"} in account["balances"]
            order = await client.order_limit_buy(symbol="BTCUSD", quantity="0.1",
                                                 price="100")
            assert order["status"] == "NEW"
            klines = await client.get_klines(symbol="BTCUSD", interval="1m")
            assert isinstance(klines, list)
            await client.cancel_order(symbol="BTCUSD", orderId=order["orderId"])
            assert await client.get_open_orders(symbol="BTCUSD") == []
        finally:
            await client.close_connection()

    asyncio.run(run())
