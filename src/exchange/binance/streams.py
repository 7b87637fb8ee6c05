"""Binance's market streams, through the same fan-out as `/v1/ws` (`Fanout.dialects`).

A stream `btcusd@depth` is the fan-out channel `bn:btcusd@depth` for a raw connection
(`/ws`: the event itself) and `bnc:btcusd@depth` for a combined one (`/stream`:
`{"stream", "data"}`); each event is encoded once per kind for all its subscribers.

- `<symbol>@depth`, `<symbol>@depth@100ms`: `depthUpdate` once per batch that changed the
  book, `U`/`u` the first and last book sequence it covers (each `U` is the previous `u` + 1,
  and REST `depth`'s `lastUpdateId` is the same counter), levels as absolute quantities
  (`"0"`: gone).
- `<symbol>@trade`: one `trade` per trade; `<symbol>@aggTrade`: the aggregates of
  `/api/v3/aggTrades` (a batch holds all the fills of a taker order).
- `<symbol>@bookTicker`: the best bid and ask, after each batch that changed either.
- `<symbol>@kline_<interval>` (every interval, `1s` to `1M`): the current candle after
  each batch that traded.
- `<symbol>@depth5|10|20` (and `@100ms`): the top levels `{lastUpdateId, bids, asks}` after
  each batch that changed them, and once a second whatever happened (so a subscriber has
  the book within a second, as on Binance).
- `<symbol>@ticker`, `<symbol>@miniTicker`, `<symbol>@ticker_1h|4h|1d`: the rolling
  statistics (`exchange.binance.tickers`) once a second; `!ticker@arr` and
  `!miniTicker@arr`: once a second, the symbols that changed since (traded, or for the
  ticker, a changed book), as Binance sends them.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec

from exchange.binance.symbols import binance_symbol
from exchange.binance.tickers import WINDOWS, mini_ticker_event, ticker_event, window_ticker_event
from exchange.engine.events import BookLevelChanged, TradeExecuted
from exchange.pipeline.candles import INTERVALS, Candles
from exchange.pipeline.readmodel import InstrumentView
from exchange.pipeline.sequencer import Published
from exchange.web.fanout import ChannelError, Fanout
from exchange.web.render import dec

RAW, COMBINED = "bn", "bnc"
PARTIAL = {f"depth{levels}{speed}": levels for levels in (5, 10, 20) for speed in ("", "@100ms")}
TICKERS = ("ticker", "miniTicker", *(f"ticker_{window}" for window in WINDOWS))
KINDS = ("depth", "depth@100ms", "trade", "aggTrade", "bookTicker", *PARTIAL, *TICKERS)
KLINES = {f"kline_{name}": name for name in INTERVALS}
ARRAYS = ("!ticker@arr", "!miniTicker@arr")  # every symbol's, in one message
TICKER_SECONDS = 1.0  # how often the tickers (and the partial books, unchanged) go out

_encode = msgspec.json.encode


class BinanceStreams:
    """The `bn:` and `bnc:` channels of the fan-out (see the module docstring)."""

    def __init__(self, fanout: Fanout) -> None:
        self.fanout = fanout
        fanout.dialects[RAW] = self
        fanout.dialects[COMBINED] = self
        fanout.timers.append(self.tick)
        # The symbols that traded, and whose book changed, since the tickers last went out.
        self._traded: set[str] = set()
        self._quoted: set[str] = set()
        self._ticked = 0.0
        # (symbol, stream kind) -> the partial book last sent (lastUpdateId aside)
        self._partial: dict[tuple[str, str], tuple[list[list[str]], list[list[str]]]] = {}

    def symbols(self) -> dict[str, InstrumentView]:
        """Binance's lower-case symbol -> instrument (few: built when asked)."""
        return {binance_symbol(book.inst).lower(): book.inst
                for book in self.fanout.books.values()}

    def check(self, channel: str) -> None:
        _, _, stream = channel.partition(":")
        if stream in ARRAYS:
            return
        symbol, at, kind = stream.partition("@")
        if not at or (kind not in KINDS and kind not in KLINES):
            raise ChannelError("invalid_request", f"Invalid stream name {stream[:64]!r}")
        if symbol not in self.symbols():
            raise ChannelError("unknown_symbol", f"Invalid symbol {symbol[:32]!r}")

    def publish(self, published: Published, fanout: Fanout) -> None:
        if RAW not in fanout.dialect_channels and COMBINED not in fanout.dialect_channels:
            self._partial.clear()
            return
        events = published.events
        now = time.time_ns() // 1_000_000
        books: dict[str, list[BookLevelChanged]] = {}
        trades: dict[str, list[TradeExecuted]] = {}
        for event in events:
            if isinstance(event, BookLevelChanged):
                books.setdefault(event.symbol, []).append(event)
            elif isinstance(event, TradeExecuted):
                trades.setdefault(event.symbol, []).append(event)
        # Only the symbols this batch moved (not every book's, at every batch).
        for symbol in books.keys() | trades.keys():
            book = fanout.books.get(symbol)
            if book is None:
                continue
            inst = book.inst
            lower = binance_symbol(inst).lower()
            changes, traded = books.get(symbol), trades.get(symbol)
            if changes:
                depth = partial(_depth, inst, changes, now)
                self._emit(lower, "depth", depth)
                self._emit(lower, "depth@100ms", depth)
                self._emit(lower, "bookTicker",
                           partial(self._book_ticker, inst, changes[-1].sequence))
                self._quoted.add(inst.symbol)
                self._partial_books(lower, inst, changed=True)
            if traded:
                self._traded.add(inst.symbol)
                for trade in traded:
                    self._emit(lower, "trade", partial(_trade, inst, trade, now))
                # A batch holds every fill of a taker order: its aggregates are whole.
                for group in aggregate(traded):
                    self._emit(lower, "aggTrade", partial(_agg_event, inst, group, now))
                candles = book.candles
                for name, interval in KLINES.items():
                    self._emit(lower, name, partial(_kline, inst, candles, interval, now))

    def tick(self) -> None:
        """The fan-out's timer: once every TICKER_SECONDS, the tickers and partial books."""
        now = time.monotonic()
        if now - self._ticked < TICKER_SECONDS:
            return
        self._ticked = now
        traded, self._traded = self._traded, set()
        quoted, self._quoted = self._quoted, set()
        fanout = self.fanout
        if RAW not in fanout.dialect_channels and COMBINED not in fanout.dialect_channels:
            return
        now_us = time.time_ns() // 1000
        symbols = self.symbols()
        for lower, inst in symbols.items():
            self._emit(lower, "ticker", partial(ticker_event, inst, now_us))
            self._emit(lower, "miniTicker", partial(mini_ticker_event, inst, now_us))
            for window in WINDOWS:
                self._emit(lower, f"ticker_{window}",
                           partial(window_ticker_event, inst, now_us, window))
            self._partial_books(lower, inst, changed=False)
        moved_or_quoted = traded | quoted
        changed = [inst for inst in symbols.values() if inst.symbol in moved_or_quoted]
        if changed:
            self._emit_stream("!ticker@arr", lambda: [ticker_event(inst, now_us)
                                                      for inst in changed])
        moved = [inst for inst in changed if inst.symbol in traded]
        if moved:
            self._emit_stream("!miniTicker@arr", lambda: [mini_ticker_event(inst, now_us)
                                                          for inst in moved])

    def _partial_books(self, lower: str, inst: InstrumentView, *, changed: bool) -> None:
        """The partial books of the symbol: after a batch (`changed`) those whose levels
        moved, on the timer all of them."""
        channels = self.fanout.channels
        for kind, levels in PARTIAL.items():
            name = f"{lower}@{kind}"
            if "bn:" + name not in channels and "bnc:" + name not in channels:
                continue
            book = self.fanout.books[inst.symbol]
            top = _top(inst, book.bids, book.asks, levels)
            key = (inst.symbol, kind)
            if changed and self._partial.get(key) == top:
                continue
            self._partial[key] = top
            self._emit(lower, kind, partial(_partial_book, book.sequence, top))

    def _emit(self, lower: str, kind: str, make: Callable[[], Any]) -> None:
        """`make()`'s event to the raw and the combined subscribers of `<lower>@<kind>`,
        encoded once for each (and made only if there are any)."""
        self._emit_stream(f"{lower}@{kind}", make)

    def _emit_stream(self, name: str, make: Callable[[], Any]) -> None:
        channels = self.fanout.channels
        raw, combined = channels.get("bn:" + name), channels.get("bnc:" + name)
        if not raw and not combined:
            return
        data = make()
        if raw:
            self.fanout.broadcast(raw, _encode(data).decode())
        if combined:
            self.fanout.broadcast(combined, _encode({"stream": name, "data": data}).decode())

    def _book_ticker(self, inst: InstrumentView, sequence: int) -> dict[str, Any]:
        book = self.fanout.books[inst.symbol]
        bid, ask = book.best_bid(), book.best_ask()
        tick, lot = inst.tick_size, inst.lot_size
        return {"u": sequence, "s": binance_symbol(inst),
                "b": "0" if bid is None else dec(tick * bid),
                "B": "0" if bid is None else dec(lot * book.bids[bid]),
                "a": "0" if ask is None else dec(tick * ask),
                "A": "0" if ask is None else dec(lot * book.asks[ask])}


def aggregate(trades: list[TradeExecuted]) -> list[list[TradeExecuted]]:
    """Binance's aggregate trades: consecutive trades (oldest first) of one taker order at
    one price, each aggregate named by its first trade's id."""
    groups: list[list[TradeExecuted]] = []
    for trade in trades:
        last = groups[-1][-1] if groups else None
        if (last is not None and last.taker_order_id == trade.taker_order_id
                and last.price == trade.price and last.trade_id + 1 == trade.trade_id):
            groups[-1].append(trade)
        else:
            groups.append([trade])
    return groups


def agg_trade(inst: InstrumentView, group: list[TradeExecuted]) -> dict[str, Any]:
    """An aggregate trade as `/api/v3/aggTrades` lists it (the stream's event adds to it)."""
    tick, lot = inst.tick_size, inst.lot_size
    return {"a": group[0].trade_id, "p": dec(tick * group[0].price),
            "q": dec(lot * sum(t.quantity for t in group)), "f": group[0].trade_id,
            "l": group[-1].trade_id, "T": group[0].ts // 1000,
            "m": group[0].taker_side == "sell", "M": True}


def _top(inst: InstrumentView, bids: dict[int, int], asks: dict[int, int], levels: int
         ) -> tuple[list[list[str]], list[list[str]]]:
    """The best `levels` bids and asks, as `[price, quantity]` strings."""
    tick, lot = inst.tick_size, inst.lot_size
    return ([[dec(tick * p), dec(lot * bids[p])] for p in heapq.nlargest(levels, bids)],
            [[dec(tick * p), dec(lot * asks[p])] for p in heapq.nsmallest(levels, asks)])


def _partial_book(sequence: int, top: tuple[list[list[str]], list[list[str]]]
                  ) -> dict[str, Any]:
    return {"lastUpdateId": sequence, "bids": top[0], "asks": top[1]}


def _depth(inst: InstrumentView, changes: list[BookLevelChanged], now: int) -> dict[str, Any]:
    tick, lot = inst.tick_size, inst.lot_size
    bids: dict[str, str] = {}
    asks: dict[str, str] = {}
    for change in changes:
        side = bids if change.side == "buy" else asks
        side[dec(tick * change.price)] = dec(lot * change.quantity) if change.quantity else "0"
    return {"e": "depthUpdate", "E": now, "s": binance_symbol(inst),
            "U": changes[0].sequence, "u": changes[-1].sequence,
            "b": [[p, q] for p, q in bids.items()], "a": [[p, q] for p, q in asks.items()]}


def _trade(inst: InstrumentView, trade: TradeExecuted, now: int) -> dict[str, Any]:
    tick, lot = inst.tick_size, inst.lot_size
    return {"e": "trade", "E": now, "s": binance_symbol(inst), "t": trade.trade_id,
            "p": dec(tick * trade.price), "q": dec(lot * trade.quantity),
            "T": trade.ts // 1000, "m": trade.taker_side == "sell", "M": True}


def _agg_event(inst: InstrumentView, group: list[TradeExecuted], now: int) -> dict[str, Any]:
    return {"e": "aggTrade", "E": now, "s": binance_symbol(inst), **agg_trade(inst, group)}


def _kline(inst: InstrumentView, candles: Candles, interval: str, now: int
           ) -> dict[str, Any]:
    tick, lot = inst.tick_size, inst.lot_size
    candle = candles.current(interval)
    assert candle is not None  # a batch that traded the symbol made one
    start = candle[0]
    return {"e": "kline", "E": now, "s": binance_symbol(inst), "k": {
        "t": start // 1000, "T": INTERVALS[interval].next(start) // 1000 - 1,
        "s": binance_symbol(inst), "i": interval, "f": candle[7], "L": candle[8],
        "o": dec(tick * candle[1]), "c": dec(tick * candle[4]), "h": dec(tick * candle[2]),
        "l": dec(tick * candle[3]), "v": dec(lot * candle[5]), "n": candle[6], "x": False,
        "q": "0", "V": "0", "Q": "0", "B": "0"}}
