"""Instrument filters on the Binance-compatible surface: `exchangeInfo`'s `LOT_SIZE`,
`MARKET_LOT_SIZE` and `NOTIONAL` as the unmodified ccxt reads them into a market's limits,
and orders that break them refused with -1013 `Filter failure: …` as Binance words it.

ccxt (4.5.90) raises `InvalidOrder` for `Filter failure: LOT_SIZE` (it looks for
`LOT_SIZE` in the body) and `BadRequest` for `Filter failure: NOTIONAL` (its mapping of
-1013), as it does against Binance itself."""

from __future__ import annotations

import time
from collections.abc import Iterator

import ccxt
import httpx
import pytest

from .test_ccxt import Venue, _signed, binance, serve_venue

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NOTIONAL = '{"code":-1013,"msg":"Filter failure: NOTIONAL"}'
LOT_SIZE = '{"code":-1013,"msg":"Filter failure: LOT_SIZE"}'


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    for made in serve_venue("0.01", "0.0001", "0.001", "0.002"):
        made.call("POST", "/v1/admin/instruments", json={
            "symbol": "ETH-USD", "base": "ETH", "quote": "USD", "tick_size": "0.01",
            "lot_size": "0.001", "min_quantity": "0.002", "min_notional": "10",
            "max_quantity": "5"})
        yield made


def _filters(venue: Venue, symbol: str) -> dict[str, dict[str, object]]:
    info = httpx.get(venue.url + "/api/v3/exchangeInfo", params={"symbol": symbol}).json()
    [market] = info["symbols"]
    return {f["filterType"]: f for f in market["filters"]}


def test_exchange_info_shows_the_filters(venue: Venue) -> None:
    filters = _filters(venue, "ETHUSD")
    assert filters["LOT_SIZE"] == {"filterType": "LOT_SIZE", "minQty": "0.002",
                                   "maxQty": "5", "stepSize": "0.001"}
    assert filters["MARKET_LOT_SIZE"] == {**filters["LOT_SIZE"],
                                          "filterType": "MARKET_LOT_SIZE"}
    assert filters["NOTIONAL"] == {
        "filterType": "NOTIONAL", "minNotional": "10", "applyMinToMarket": True,
        "maxNotional": "9000000000000000", "applyMaxToMarket": False, "avgPriceMins": 0}
    plain = _filters(venue, "BTCUSD")  # no filters: no minimum, a maximum of 10^9
    assert (plain["NOTIONAL"]["minNotional"], plain["LOT_SIZE"]["maxQty"]) == ("0",
                                                                              "1000000000")


def test_ccxt_reads_the_limits(venue: Venue) -> None:
    exchange = binance(venue.url, "", "")
    limits = exchange.load_markets()["ETH/USD"]["limits"]
    assert limits["cost"]["min"] == 10
    assert (limits["amount"]["min"], limits["amount"]["max"]) == (0.002, 5)
    assert limits["market"]["max"] == 5


def test_orders_breaking_the_filters_are_refused(venue: Venue) -> None:
    _, _, key, secret = venue.trader("bot", USD="100000", ETH="100")
    bot = binance(venue.url, key, secret)
    bot.load_markets()
    for args, error, body in (
        (("limit", "buy", 0.099, 100), ccxt.BadRequest, NOTIONAL),  # 9.90 USD
        (("limit", "sell", 5.001, 100), ccxt.InvalidOrder, LOT_SIZE),
        (("market", "sell", 6), ccxt.InvalidOrder, LOT_SIZE),
        (("market", "buy", None, None, {"quoteOrderQty": "9.99"}), ccxt.BadRequest, NOTIONAL),
    ):
        with pytest.raises(error) as caught:
            bot.create_order("ETH/USD", *args)
        assert str(caught.value).endswith(body), (args, caught.value)
    assert bot.fetch_open_orders("ETH/USD") == []
    assert bot.fetch_balance()["USD"]["used"] == 0
    placed = bot.create_order("ETH/USD", "limit", "buy", 0.1, 100)  # 10 USD exactly
    assert placed["status"] == "open"
    assert bot.cancel_order(placed["id"], "ETH/USD")["status"] == "canceled"


def test_the_refusal_is_a_400(venue: Venue) -> None:
    _, _, key, secret = venue.trader("raw", USD="100000")
    query = (f"symbol=ETHUSD&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.05&price=100"
             f"&timestamp={int(time.time() * 1000)}")
    answer = httpx.post(f"{venue.url}/api/v3/order?{query}&signature={_signed(secret, query)}",
                        headers={"X-MBX-APIKEY": key})
    assert (answer.status_code, answer.text) == (400, NOTIONAL)
