"""Binance's rolling-window statistics of a symbol: `/api/v3/ticker/24hr` and the ticker
streams (`<symbol>@ticker`, `@miniTicker`, `@ticker_<window>`, `!ticker@arr`,
`!miniTicker@arr`), from the minute candles of the window (whole minutes: a window starts
at the minute that holds `now` minus its length). No quote volumes are kept: `q` is "0" and
the weighted average price is the last price."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.binance.symbols import binance_symbol
from exchange.pipeline.readmodel import InstrumentView
from exchange.web.render import dec

DAY_US = 86_400_000_000
WINDOWS = {"1h": 3_600_000_000, "4h": 14_400_000_000, "1d": DAY_US}  # @ticker_<window>
# The stream's letter for each of the REST ticker's fields, in the stream's order.
_TICKER = (("p", "priceChange"), ("P", "priceChangePercent"), ("w", "weightedAvgPrice"),
           ("x", "prevClosePrice"), ("c", "lastPrice"), ("Q", "lastQty"), ("b", "bidPrice"),
           ("B", "bidQty"), ("a", "askPrice"), ("A", "askQty"), ("o", "openPrice"),
           ("h", "highPrice"), ("l", "lowPrice"), ("v", "volume"), ("q", "quoteVolume"),
           ("O", "openTime"), ("C", "closeTime"), ("F", "firstId"), ("L", "lastId"),
           ("n", "count"))
_MINI = (("c", "lastPrice"), ("o", "openPrice"), ("h", "highPrice"), ("l", "lowPrice"),
         ("v", "volume"), ("q", "quoteVolume"))
_WINDOW = (("p", "priceChange"), ("P", "priceChangePercent"), ("o", "openPrice"),
           ("h", "highPrice"), ("l", "lowPrice"), ("c", "lastPrice"),
           ("w", "weightedAvgPrice"), ("v", "volume"), ("q", "quoteVolume"),
           ("O", "openTime"), ("C", "closeTime"), ("F", "firstId"), ("L", "lastId"),
           ("n", "count"))


def ticker_24hr(inst: InstrumentView, now_us: int, window: int = DAY_US) -> dict[str, Any]:
    """The REST ticker of the `window` (microseconds) up to `now_us`."""
    stats = inst.candles.stats(now_us, window)
    open_, high, low, volume, count, first, last_id = stats or (None, None, None, 0, 0, -1, -1)
    tick, lot = inst.tick_size, inst.lot_size
    last = inst.last_price
    bid, ask = inst.best_bid(), inst.best_ask()

    def price(ticks: int | None) -> str:
        return "0" if ticks is None else dec(tick * ticks)

    change = "0" if last is None or open_ is None else dec(tick * (last - open_))
    percent = ("0" if last is None or not open_
               else dec(round(Decimal(100) * (last - open_) / open_, 3)))
    last_qty = dec(lot * inst.trades[-1].quantity) if inst.trades else "0"
    return {
        "symbol": binance_symbol(inst), "priceChange": change, "priceChangePercent": percent,
        "weightedAvgPrice": price(last), "prevClosePrice": price(open_),
        "lastPrice": price(last), "lastQty": last_qty,
        "bidPrice": price(bid), "bidQty": dec(lot * inst.bids[bid][0]) if bid else "0",
        "askPrice": price(ask), "askQty": dec(lot * inst.asks[ask][0]) if ask else "0",
        "openPrice": price(open_), "highPrice": price(high), "lowPrice": price(low),
        "volume": dec(lot * volume), "quoteVolume": "0",
        "openTime": (now_us - window) // 1000, "closeTime": now_us // 1000,
        "firstId": first, "lastId": last_id, "count": count,
    }


def _event(kind: str, fields: tuple[tuple[str, str], ...], row: dict[str, Any], now_ms: int
           ) -> dict[str, Any]:
    event: dict[str, Any] = {"e": kind, "E": now_ms, "s": row["symbol"]}
    for letter, name in fields:
        event[letter] = row[name]
    return event


def ticker_event(inst: InstrumentView, now_us: int) -> dict[str, Any]:
    """`<symbol>@ticker`'s event (and each of `!ticker@arr`)."""
    return _event("24hrTicker", _TICKER, ticker_24hr(inst, now_us), now_us // 1000)


def mini_ticker_event(inst: InstrumentView, now_us: int) -> dict[str, Any]:
    """`<symbol>@miniTicker`'s event (and each of `!miniTicker@arr`)."""
    return _event("24hrMiniTicker", _MINI, ticker_24hr(inst, now_us), now_us // 1000)


def window_ticker_event(inst: InstrumentView, now_us: int, window: str) -> dict[str, Any]:
    """`<symbol>@ticker_<window>`'s event (`1h`, `4h`, `1d`)."""
    row = ticker_24hr(inst, now_us, WINDOWS[window])
    return _event(f"{window}Ticker", _WINDOW, row, now_us // 1000)
