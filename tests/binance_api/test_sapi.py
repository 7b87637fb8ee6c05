"""The `/sapi/v1` wallet and margin routes ccxt calls in `load_markets` when its options do
not turn them off (`fetchCurrencies`, `fetchMargins`): with the unmodified ccxt and only its
URLs changed, the markets load, the currencies are the venue's assets, nothing is marginable;
unsigned calls are refused as Binance refuses them."""

from __future__ import annotations

from collections.abc import Iterator

import ccxt
import httpx
import pytest

from .test_ccxt import Venue, binance, serve_venue

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    yield from serve_venue("0.01", "0.0001", "0.001", "0.002")


def test_markets_load_with_ccxts_default_currency_and_margin_calls(venue: Venue) -> None:
    _, _, key, secret = venue.trader("wallet", USD="1234.5", ETH="2")
    exchange = binance(venue.url, key, secret)
    exchange.options.update({"fetchCurrencies": True, "fetchMargins": True})
    markets = exchange.load_markets()
    assert list(markets) == ["BTC/USD"]
    assert markets["BTC/USD"]["margin"] is False
    currencies = exchange.currencies
    assert {"BTC", "USD", "ETH"} <= set(currencies)  # the instrument's and the account's
    assert currencies["USD"]["active"] is True
    assert currencies["USD"]["deposit"] is None  # no networks: transfers are the admin's
    assert exchange.fetch_balance()["USD"]["total"] == 1234.5
    coins = {c["coin"]: c for c in exchange.sapiGetCapitalConfigGetall()}
    assert (coins["ETH"]["free"], coins["ETH"]["locked"]) == ("2", "0")
    assert coins["BTC"]["free"] == "0"
    assert exchange.sapiGetMarginAllPairs() == []
    assert exchange.sapiGetMarginIsolatedAllPairs() == []


def test_the_routes_are_signed(venue: Venue) -> None:
    for path in ("capital/config/getall", "margin/allPairs", "margin/isolated/allPairs"):
        answer = httpx.get(f"{venue.url}/sapi/v1/{path}")
        assert (answer.status_code, answer.json()["code"]) == (401, -2014), answer.text
    with pytest.raises(ccxt.AuthenticationError):
        binance(venue.url, "y" * 64, "x" * 64).sapiGetCapitalConfigGetall()
