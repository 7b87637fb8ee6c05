"""Public market data: instruments, book depth, trades, ticker, candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange.client import ExchangeError

from .support import Exchange


async def test_instruments_and_book(exchange: Exchange) -> None:
    created = await exchange.instrument(min_quantity="0.002")
    assert created == {
        "symbol": "BTC-USD", "base": "BTC", "quote": "USD", "tick_size": "0.01",
        "lot_size": "0.001", "min_quantity": "0.002", "maker_fee_rate": "0.001",
        "taker_fee_rate": "0.002", "status": "trading", "min_notional": "0",
        "max_quantity": None,
    }
    assert await exchange.admin.instruments() == [created]
    assert await exchange.admin.instrument("BTC-USD") == created
    with pytest.raises(ExchangeError) as caught:
        await exchange.admin.instrument("ETH-USD")
    assert caught.value.status == 404
    maker = await exchange.trader("maker", USD="100000", BTC="100")
    for price in ("99", "98", "98", "97"):
        await maker.client.place_order("BTC-USD", "buy", quantity="1", price=price)
    for price in ("101", "102"):
        await maker.client.place_order("BTC-USD", "sell", quantity="0.5", price=price)
    book = await maker.client.book("BTC-USD", depth=2)
    assert book["bids"] == [["99", "1", 1], ["98", "2", 2]]
    assert book["asks"] == [["101", "0.5", 1], ["102", "0.5", 1]]
    assert book["sequence"] == 6
    assert book["ts"].endswith("Z")
    ticker = await maker.client.ticker("BTC-USD")
    assert ticker["best_bid"] == "99"
    assert ticker["best_ask"] == "101"
    assert ticker["last_price"] is None
    assert ticker["volume_24h"] == "0"


async def test_trades_ticker_candles(exchange: Exchange) -> None:
    await exchange.instrument()
    alice = await exchange.trader("alice", USD="100000", BTC="100")
    bob = await exchange.trader("bob", USD="100000", BTC="100")
    await alice.client.place_order("BTC-USD", "sell", quantity="3", price="100")
    await alice.client.place_order("BTC-USD", "sell", quantity="3", price="105")
    await bob.client.place_order("BTC-USD", "buy", quantity="4", price="105")
    await bob.client.place_order("BTC-USD", "buy", quantity="1", price="105")
    trades = await bob.client.trades("BTC-USD")
    assert [(t["price"], t["quantity"]) for t in trades] == [
        ("105", "1"), ("105", "1"), ("100", "3"),
    ]
    assert [t["trade_id"] for t in await bob.client.trades("BTC-USD", limit=1)] == [
        trades[0]["trade_id"]
    ]
    older = await bob.client.trades("BTC-USD", before=trades[1]["trade_id"])
    assert [t["trade_id"] for t in older] == [trades[2]["trade_id"]]
    ticker = await bob.client.ticker("BTC-USD")
    assert ticker["last_price"] == "105"
    assert (ticker["open_24h"], ticker["high_24h"], ticker["low_24h"]) == ("100", "105", "100")
    assert ticker["volume_24h"] == "5"
    for interval in ("1m", "5m", "15m", "1h", "1d"):
        [candle] = await bob.client.candles("BTC-USD", interval)
        assert (candle["open"], candle["high"], candle["low"], candle["close"]) == (
            "100", "105", "100", "105")
        assert candle["volume"] == "5"
        assert candle["trades"] == 3
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert await bob.client.candles("BTC-USD", "1m", start=future) == []
    past = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    assert await bob.client.candles("BTC-USD", "1m", end=past) == []


async def test_server_time(exchange: Exchange) -> None:
    before = datetime.now(UTC)
    answer = await exchange.admin.request("GET", "/v1/time", auth="none")
    after = datetime.now(UTC)
    assert set(answer) == {"ts", "epoch_ms"}
    ts = datetime.fromisoformat(answer["ts"].replace("Z", "+00:00"))
    assert answer["ts"].endswith("Z")
    assert len(answer["ts"]) == len("2026-11-24T15:04:05.123456Z")
    assert before - timedelta(milliseconds=1) <= ts <= after
    assert answer["epoch_ms"] == int(ts.timestamp() * 1000)
