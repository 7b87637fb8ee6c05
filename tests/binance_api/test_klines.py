"""Candles in every Binance interval against a naive aggregation of the server's own trades:
`/api/v3/klines` (startTime, endTime, limit as Binance takes them), `/v1` candles, through a
restart on SQLite and PostgreSQL, the kline stream of intervals other than a minute, and
ccxt's `fetch_ohlcv`. The trades are stamped by a clock the test sets (the sequencer's), so
they fall on both sides of second, week (Monday) and month boundaries, and on a three-day
one; the server keeps three second candles, so most seconds come from the database."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio_websocket

from exchange.app import runtime
from exchange.engine.events import TradeExecuted
from exchange.pipeline.sequencer import Sequencer
from pipeline.test_candles import EPOCH, US, WIDTHS, bucket, naive_candles, trade
from web.support import Templates, database_url_for, drop_database, threaded_exchange

from .test_ccxt import Venue, binance

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TICK, LOT = Decimal("0.01"), Decimal("0.0001")
NAMES = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d",
         "3d", "1w", "1M")
DAY = timedelta(days=1)


def at(*parts: int, ms: int = 0) -> int:
    return (datetime(*parts, tzinfo=UTC) - EPOCH) // US + ms * 1000  # type: ignore[misc]


def _first_times() -> list[int]:
    times = [at(2024, 2, 29, 23, 59, 57) + 400_000 * i for i in range(12)]  # a month's end
    times += [at(2024, 3, 3, 23, 59, 59, ms=500), at(2024, 3, 4, 0, 0, 0, ms=250)]  # Monday
    day = at(2024, 3, 5) // 86_400_000_000
    three = (day + (-day) % 3) * 86_400_000_000  # a three-day bucket's start
    times += [three - 1000, three + 1_000_000]
    times += [at(2024, 3, 31, 23, 59, 59), at(2024, 4, 1, 0, 0, 1)]  # a month and a week
    times += [at(2024, 4, 1, 0, 3, 10) + 230_000 * i for i in range(8)]  # seconds of several
    return times


FIRST = _first_times()
# After the restart: the same minute and second as the last trade before it, then later.
SECOND = [FIRST[-1] + 50_000, FIRST[-1] + 400_000, at(2024, 4, 1, 0, 5), at(2024, 4, 8, 1),
          at(2024, 5, 1, 0, 0, 0, ms=1)]


class Clock:
    """The sequencer's clock: the time the test sets."""

    def __init__(self) -> None:
        self.now = at(2024, 2, 29)

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    made = Clock()
    monkeypatch.setattr(runtime, "Sequencer", partial(Sequencer, clock=made))
    return made


class Market:
    """A maker and a taker on `BTC-USD`; each `trade` is one trade at the clock's time."""

    def __init__(self, venue: Venue, clock: Clock, keys: tuple[str, str] | None = None
                 ) -> None:
        self.venue = venue
        self.clock = clock
        if keys is None:
            venue.call("POST", "/v1/admin/instruments", json={
                "symbol": "BTC-USD", "base": "BTC", "quote": "USD", "tick_size": str(TICK),
                "lot_size": str(LOT), "maker_fee_rate": "0", "taker_fee_rate": "0"})
            keys = (venue.trader("maker", USD="10000000", BTC="10000")[1],
                    venue.trader("taker", USD="10000000", BTC="10000")[1])
        self.keys = keys
        self.maker, self.taker = (
            httpx.Client(base_url=venue.url, headers={"Authorization": f"Bearer {key}"})
            for key in keys)
        self.random = random.Random(12)

    def trade(self, ts: int) -> None:
        self.clock.now = ts
        side = self.random.choice(("buy", "sell"))
        price = str(Decimal(self.random.randint(9000, 11000)) * TICK)
        quantity = str(Decimal(self.random.randint(1, 500)) * LOT)
        placed = self.maker.post("/v1/orders", json={
            "symbol": "BTC-USD", "side": side, "type": "limit", "quantity": quantity,
            "price": price})
        assert placed.status_code == 201, placed.text
        taken = self.taker.post("/v1/orders", json={
            "symbol": "BTC-USD", "side": "sell" if side == "buy" else "buy",
            "type": "market", "quantity": quantity})
        assert taken.json()["status"] == "filled", taken.text

    def close(self) -> None:
        self.maker.close()
        self.taker.close()


def server_trades(venue: Venue) -> list[TradeExecuted]:
    rows = venue.call("GET", "/v1/instruments/BTC-USD/trades", params={"limit": 1000})
    return [trade(row["trade_id"], (datetime.fromisoformat(row["ts"]) - EPOCH) // US,
                  int(Decimal(row["price"]) / TICK), int(Decimal(row["quantity"]) / LOT))
            for row in reversed(rows)]


def close_time(name: str, start: int) -> int:
    """The bucket's last millisecond."""
    if name == "1M":  # 31 days on is in the next month
        return bucket(name, start + 31 * DAY // US) // 1000 - 1
    width = 7 * 86400 if name == "1w" else int(name[:-1]) * WIDTHS[name[-1]]
    return (start + width * 1_000_000) // 1000 - 1


def as_kline(name: str, c: list[int]) -> list[Any]:
    return [c[0] // 1000, TICK * c[1], TICK * c[2], TICK * c[3], TICK * c[4], LOT * c[5],
            close_time(name, c[0]), c[6]]


def klines(venue: Venue, name: str, **params: int) -> list[list[Any]]:
    rows = venue.call("GET", "/api/v3/klines",
                      params={"symbol": "BTCUSD", "interval": name, **params})
    return [[r[0], *(Decimal(v) for v in r[1:6]), r[6], r[8]] for r in rows]


def check(venue: Venue, count: int) -> None:
    """Every interval's candles, as `/api/v3/klines` and `/v1` list them, are the naive
    aggregation of the server's trades."""
    trades = server_trades(venue)
    assert len(trades) == count
    times = [t.ts for t in trades]
    for name in NAMES:
        expected = [as_kline(name, c) for c in naive_candles(name, trades)]
        assert klines(venue, name, limit=1000) == expected, name
        assert klines(venue, name, limit=2) == expected[-2:], name
        # From startTime on: the oldest, named by their open time (in [startTime, endTime]).
        for start_ms, end_ms in ((times[3] // 1000, None), (times[1] // 1000 + 1,
                                                            times[-2] // 1000)):
            params = {"startTime": start_ms, "limit": 3}
            if end_ms is not None:
                params["endTime"] = end_ms
            wanted = [k for k in expected if k[0] >= start_ms
                      and (end_ms is None or k[0] <= end_ms)][:3]
            assert klines(venue, name, **params) == wanted, (name, params)
        ours = venue.call("GET", "/v1/instruments/BTC-USD/candles",
                          params={"interval": name, "limit": 1000})
        assert [[(datetime.fromisoformat(c["start"]) - EPOCH) // US, Decimal(c["open"]),
                  Decimal(c["high"]), Decimal(c["low"]), Decimal(c["close"]),
                  Decimal(c["volume"]), c["trades"]] for c in ours] == [
            [c[0], TICK * c[1], TICK * c[2], TICK * c[3], TICK * c[4], LOT * c[5], c[6]]
            for c in naive_candles(name, trades)], name


async def kline_events(url: str, names: tuple[str, ...], market: Market, ts: int
                       ) -> dict[str, dict[str, Any]]:
    """The kline stream's event for each interval after one trade at `ts`."""
    streams = "/".join(f"btcusd@kline_{name}" for name in names)
    async with trio_websocket.open_websocket_url(
            url.replace("http", "ws", 1) + "/stream?streams=" + streams) as ws:
        await ws.send_message(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
        assert json.loads(await ws.get_message())["id"] == 1  # subscribed by now
        market.trade(ts)
        events: dict[str, dict[str, Any]] = {}
        with trio.fail_after(30):
            while len(events) < len(names):
                message = json.loads(await ws.get_message())
                events[message["data"]["k"]["i"]] = message["data"]["k"]
        return events


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_klines_are_the_trades_through_a_restart(kind: str, tmp_path: Path,
                                                 templates: Templates, clock: Clock) -> None:
    url = trio.run(database_url_for, kind, tmp_path, templates)
    try:
        with threaded_exchange(database_url=url, keep_second_candles=3) as base:
            venue = Venue(base)
            market = Market(venue, clock)
            for ts in FIRST:
                market.trade(ts)
            check(venue, len(FIRST))
            market.close()
        with threaded_exchange(database_url=url, keep_second_candles=3) as base:
            venue = Venue(base)
            check(venue, len(FIRST))
            market = Market(venue, clock, market.keys)
            for ts in SECOND[:-1]:
                market.trade(ts)
            check(venue, len(FIRST) + len(SECOND) - 1)
            names = ("1s", "3m", "1w", "1M")
            events = trio.run(kline_events, base, names, market, SECOND[-1])
            trades = server_trades(venue)
            for name in names:
                last = naive_candles(name, trades)[-1]
                event = events[name]
                assert [event["t"], *(Decimal(event[k]) for k in "ohlcv"), event["T"],
                        event["n"]] == as_kline(name, last), name
                assert (event["f"], event["L"], event["x"]) == (last[7], last[8], False)
            check(venue, len(FIRST) + len(SECOND))
            market.close()
    finally:
        trio.run(drop_database, url)


def test_ccxt_fetch_ohlcv_in_any_interval(clock: Clock) -> None:
    with threaded_exchange() as base:
        venue = Venue(base)
        market = Market(venue, clock)
        for ts in FIRST:
            market.trade(ts)
        _, _, key, secret = venue.trader("bot")
        exchange = binance(base, key, secret)
        trades = server_trades(venue)
        for name in ("3m", "1w", "1s", "1M"):
            expected = [[c[0] // 1000, *(float(TICK * p) for p in c[1:5]), float(LOT * c[5])]
                        for c in naive_candles(name, trades)]
            assert exchange.fetch_ohlcv("BTC/USD", name, limit=1000) == expected, name
            since = expected[2][0]
            assert exchange.fetch_ohlcv("BTC/USD", name, since=since, limit=2) == \
                expected[2:4], name
        market.close()
