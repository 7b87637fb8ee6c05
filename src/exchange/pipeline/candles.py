"""Candles in every Binance interval, `1s` to `1M`, from the trades (times in microseconds).

Buckets are UTC-aligned as Binance aligns them: fixed widths from the epoch (`3d` open times
are multiples of three days since 1970-01-01), weeks from Monday 00:00 (`1w`), calendar
months (`1M`). A bucket without trades has no candle.

A candle is `[start, open, high, low, close, volume_lots, trades, first_trade_id,
last_trade_id]` (prices in ticks). Memory holds, per symbol (`Candles`):

- every minute candle (what start-up aggregates from the trades table, as before);
- the interval candles above a minute merged from the finished minutes (each such bucket is
  made of whole minutes, so its candle is exactly theirs merged); the current minute is
  merged in when asked for, so a trade updates two candles (its second and its minute),
  whatever the number of intervals;
- the newest `keep` second candles only. Below `second_seam` the seconds are read from the
  database (`exchange.pipeline.history.History.candles`), an aggregate over the trades of
  the minutes concerned, whose trade-id range the minute candles give.
"""

from __future__ import annotations

import bisect
from collections import deque
from operator import itemgetter

from exchange.engine.events import TradeExecuted

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
DAY_US = 86_400 * SECOND_US
KEEP_SECONDS = 3600  # second candles memory holds per symbol (a setting: keep_second_candles)

START, OPEN, HIGH, LOW, CLOSE, VOLUME, TRADES, FIRST_ID, LAST_ID = range(9)
_start = itemgetter(START)


class Interval:
    """A candle width: `width` microseconds from the epoch plus `offset`, or (`width` 0)
    calendar months."""

    __slots__ = ("name", "offset", "width")

    def __init__(self, name: str, width: int, offset: int = 0) -> None:
        self.name = name
        self.width = width
        self.offset = offset

    def start(self, ts: int) -> int:
        """The start of the bucket holding `ts`."""
        if self.width:
            return ts - (ts - self.offset) % self.width
        year, month = _civil(ts // DAY_US)
        return _days(year, month) * DAY_US

    def next(self, start: int) -> int:
        """The start of the bucket after the one starting at `start`."""
        if self.width:
            return start + self.width
        year, month = _civil(start // DAY_US)
        return _days(year + month // 12, month % 12 + 1) * DAY_US


# Calendar months in integers (any year, unlike `datetime`: a time parameter may be far
# off): Howard Hinnant's days-from-civil algorithms, days counted from 1970-01-01.

def _civil(days: int) -> tuple[int, int]:
    """The (year, month) of a day."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month


def _days(year: int, month: int) -> int:
    """The day the month begins."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _fixed(name: str, seconds: int, offset: int = 0) -> Interval:
    return Interval(name, seconds * SECOND_US, offset)


# Binance's intervals, in its order. 1970-01-01 was a Thursday: weeks start 4 days later.
INTERVALS: dict[str, Interval] = {interval.name: interval for interval in (
    _fixed("1s", 1), _fixed("1m", 60), _fixed("3m", 180), _fixed("5m", 300),
    _fixed("15m", 900), _fixed("30m", 1800), _fixed("1h", 3600), _fixed("2h", 7200),
    _fixed("4h", 14400), _fixed("6h", 21600), _fixed("8h", 28800), _fixed("12h", 43200),
    _fixed("1d", 86400), _fixed("3d", 3 * 86400), _fixed("1w", 7 * 86400, 4 * DAY_US),
    Interval("1M", 0),
)}
MERGED = tuple(name for name in INTERVALS if name not in ("1s", "1m"))


def add_to_candle(candle: list[int] | None, width: int, trade: TradeExecuted) -> list[int]:
    """`candle` (`width` microseconds wide) updated in place with `trade`, or a new one if
    the trade starts a later bucket. (A trade older than the candle, after a restart on a
    clock set back, goes into it: the candles stay in order.)"""
    start = trade.ts - trade.ts % width
    price = trade.price
    if candle is None or start > candle[START]:
        return [start, price, price, price, price, trade.quantity, 1, trade.trade_id,
                trade.trade_id]
    if price > candle[HIGH]:
        candle[HIGH] = price
    if price < candle[LOW]:
        candle[LOW] = price
    candle[CLOSE] = price
    candle[VOLUME] += trade.quantity
    candle[TRADES] += 1
    candle[LAST_ID] = trade.trade_id
    return candle


def merge(candle: list[int], later: list[int]) -> list[int]:
    """`candle` with the later candle `later` of its bucket merged in (in place)."""
    candle[HIGH] = max(candle[HIGH], later[HIGH])
    candle[LOW] = min(candle[LOW], later[LOW])
    candle[CLOSE] = later[CLOSE]
    candle[VOLUME] += later[VOLUME]
    candle[TRADES] += later[TRADES]
    candle[LAST_ID] = later[LAST_ID]
    return candle


def _merged_into(candles: list[list[int]], interval: Interval, minute: list[int]) -> None:
    start = interval.start(minute[START])
    last = candles[-1] if candles else None
    if last is None or start > last[START]:
        candles.append([start, *minute[1:]])
    else:
        merge(last, minute)


class Candles:
    """A symbol's candles (see the module docstring). With `history` False only the current
    candle of each interval is kept (the fan-out's, as of the batch it last published)."""

    __slots__ = ("history", "merged", "minutes", "second_seam", "seconds")

    def __init__(self, keep: int = KEEP_SECONDS, *, history: bool = True) -> None:
        self.history = history
        self.seconds: deque[list[int]] = deque(maxlen=max(1, keep))
        # Second candles starting before it are not (all) in memory: the database's.
        self.second_seam = 0
        self.minutes: list[list[int]] = []
        # interval name -> its candles merged from every minute but the last
        self.merged: dict[str, list[list[int]]] = {name: [] for name in MERGED}

    def tail(self) -> Candles:
        """A copy of the current candles only (for the fan-out)."""
        copy = Candles(1, history=False)
        if self.seconds:
            copy.seconds.append(list(self.seconds[-1]))
        if self.minutes:
            copy.minutes.append(list(self.minutes[-1]))
        for name, candles in self.merged.items():
            if candles:
                copy.merged[name].append(list(candles[-1]))
        return copy

    def add(self, trade: TradeExecuted) -> None:
        seconds = self.seconds
        last = seconds[-1] if seconds else None
        candle = add_to_candle(last, SECOND_US, trade)
        if candle is not last:
            seconds.append(candle)
            if len(seconds) == seconds.maxlen:  # the oldest may have gone: whole from here
                self.second_seam = max(self.second_seam, seconds[0][START])
        minutes = self.minutes
        last = minutes[-1] if minutes else None
        candle = add_to_candle(last, MINUTE_US, trade)
        if candle is not last:
            self._push_minute(candle)

    def load_minute(self, minute: list[int]) -> None:
        """A stored minute's candle at start (oldest first); the seconds up to its end are
        the database's."""
        self._push_minute(minute)
        self.second_seam = minute[START] + MINUTE_US

    def _push_minute(self, candle: list[int]) -> None:
        minutes = self.minutes
        if minutes:  # the last minute is finished: into every larger interval
            finished = minutes[-1]
            for name, candles in self.merged.items():
                _merged_into(candles, INTERVALS[name], finished)
                if not self.history:
                    del candles[:-1]
            if not self.history:
                minutes.clear()
        minutes.append(candle)

    def current(self, name: str) -> list[int] | None:
        """The newest candle of the interval (a copy for those merged when asked for)."""
        if name == "1s":
            return self.seconds[-1] if self.seconds else None
        if not self.minutes:
            return None
        minute = self.minutes[-1]
        if name == "1m":
            return minute
        start = INTERVALS[name].start(minute[START])
        candles = self.merged[name]
        last = candles[-1] if candles else None
        if last is None or start > last[START]:
            return [start, *minute[1:]]
        return merge(list(last), minute)

    def between(self, name: str, start: int | None, end: int | None, limit: int, *,
                oldest: bool = False) -> list[list[int]]:
        """Oldest first: the newest `limit` candles in memory whose bucket holds `start` or
        begins later, and before `end` (`oldest`: the oldest `limit`); the seconds only from
        `second_seam` on."""
        interval = INTERVALS[name]
        tail: list[int] | None = None
        base: list[list[int]]
        if name == "1s":
            base = list(self.seconds)
            seam = bisect.bisect_left(base, self.second_seam, key=_start)
            base = base[seam:]
        elif name == "1m":
            base = self.minutes
        else:
            base = self.merged[name]
            tail = self.current(name)
        first = None if start is None else interval.start(start)
        lo = 0 if first is None else bisect.bisect_left(base, first, key=_start)
        hi = len(base) if end is None else bisect.bisect_left(base, end, key=_start)
        items = base[lo:min(hi, lo + limit)] if oldest else base[max(lo, hi - limit):hi]
        if (tail is not None and (first is None or tail[START] >= first)
                and (end is None or tail[START] < end)):
            # The current bucket: the last of `base` brought up to date, or one after it.
            if items and items[-1][START] == tail[START]:
                items[-1] = tail
            else:
                items.append(tail)
        return items[:limit] if oldest else items[-limit:]

    def second_range(self, start: int | None, end: int, limit: int, *, oldest: bool
                     ) -> tuple[int, int] | None:
        """The trade ids (first, last) of the minutes that hold the newest (`oldest`: the
        oldest) `limit` second candles in [start, end), or None if none traded: each
        traded minute has at least one traded second."""
        minutes = self.minutes
        lo = 0 if start is None else bisect.bisect_left(minutes, start - start % MINUTE_US,
                                                        key=_start)
        hi = bisect.bisect_left(minutes, end, key=_start)
        chosen = minutes[lo:min(hi, lo + limit)] if oldest else minutes[max(lo, hi - limit):hi]
        if not chosen:
            return None
        return chosen[0][FIRST_ID], chosen[-1][LAST_ID]

    def day_stats(self, now: int) -> tuple[int | None, int | None, int | None, int]:
        """(open, high, low, volume) over the minute candles of the last 24 hours."""
        stats = self.stats(now, DAY_US)
        return (None, None, None, 0) if stats is None else stats[:4]

    def stats(self, now: int, window: int) -> tuple[int, int, int, int, int, int, int] | None:
        """(open, high, low, volume, trades, first trade id, last trade id) over the minute
        candles of the `window` microseconds up to `now` (from the minute that holds its
        start), or None if none traded then."""
        minutes = self.minutes[-(window // MINUTE_US + 1):]
        since = now - window
        recent = minutes[bisect.bisect_left(minutes, since - since % MINUTE_US, key=_start):]
        if not recent:
            return None
        return (
            recent[0][OPEN],
            max(candle[HIGH] for candle in recent),
            min(candle[LOW] for candle in recent),
            sum(candle[VOLUME] for candle in recent),
            sum(candle[TRADES] for candle in recent),
            recent[0][FIRST_ID],
            recent[-1][LAST_ID],
        )
