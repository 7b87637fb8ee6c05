"""Candles in every interval equal a naive aggregation of the trades (`naive_candles`), at
any week, month and second boundary, as they grow trade by trade, rebuilt from stored
minutes (a restart), and as the fan-out's current candles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from exchange.engine.events import TradeExecuted
from exchange.pipeline.candles import INTERVALS, MINUTE_US, Candles

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
WIDTHS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def bucket(name: str, ts: int) -> int:
    """The bucket's start, from the calendar (not the code under test's arithmetic)."""
    moment = EPOCH + ts * US
    if name == "1M":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    elif name == "1w":
        start = (moment - timedelta(days=moment.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0)
    else:
        width = int(name[:-1]) * WIDTHS[name[-1]] * 1_000_000
        return ts - ts % width
    return (start - EPOCH) // US


def naive_candles(name: str, trades: list[TradeExecuted]) -> list[list[int]]:
    """[start, open, high, low, close, volume, trades, first id, last id], oldest first."""
    groups: dict[int, list[TradeExecuted]] = {}
    for trade in trades:
        groups.setdefault(bucket(name, trade.ts), []).append(trade)
    return [[start, group[0].price, max(t.price for t in group), min(t.price for t in group),
             group[-1].price, sum(t.quantity for t in group), len(group), group[0].trade_id,
             group[-1].trade_id]
            for start, group in sorted(groups.items())]


def trade(trade_id: int, ts: int, price: int, quantity: int) -> TradeExecuted:
    return TradeExecuted(trade_id=trade_id, symbol="BTC-USD", price=price, quantity=quantity,
                         taker_side="buy", maker_order_id=1, taker_order_id=2,
                         maker_account_id=1, taker_account_id=2, maker_fee=0, taker_fee=0,
                         ts=ts)


# Trades around a month's end that is also near a week's (2024-03-31 was a Sunday), with
# gaps from a fraction of a second to weeks.
START = (datetime(2024, 3, 31, 23, 58, tzinfo=UTC) - EPOCH) // US
GAPS = st.one_of(st.integers(0, 1_500_000), st.integers(0, 120 * 1_000_000),
                 st.integers(0, 9 * 86_400 * 1_000_000))
TRADES = st.lists(st.tuples(GAPS, st.integers(1, 50), st.integers(1, 9)), min_size=1,
                  max_size=60)


def made(steps: list[tuple[int, int, int]], offset: int) -> list[TradeExecuted]:
    ts = START - offset
    out = []
    for number, (gap, price, quantity) in enumerate(steps, 1):
        ts += gap
        out.append(trade(number, ts, price, quantity))
    return out


@given(TRADES, st.integers(0, 40 * 86_400 * 1_000_000), st.integers(1, 5),
       st.integers(0, 60))
def test_every_interval_is_the_naive_aggregation(steps: list[tuple[int, int, int]],
                                                 offset: int, keep: int, restart: int
                                                 ) -> None:
    trades = made(steps, offset)
    # A restart after `restart` trades: its minutes as the database aggregates them, then
    # the rest trade by trade (the next may fall in the last stored minute).
    stored, live = trades[:restart], trades[restart:]
    candles = Candles(keep)
    for minute in naive_candles("1m", stored):
        candles.load_minute(minute)
    fanout = candles.tail()
    for item in live:
        candles.add(item)
        fanout.add(item)
    for name in INTERVALS:
        expected = naive_candles(name, trades)
        got = candles.between(name, None, None, 10_000)
        if name == "1s":  # memory holds the newest seconds, from the seam on
            expected = [c for c in expected if c[0] >= candles.second_seam]
            assert len(got) <= keep
            if stored:  # the stored seconds are the database's
                assert candles.second_seam >= (stored[-1].ts // MINUTE_US + 1) * MINUTE_US
        assert got == expected, name
        if live:
            # The fan-out's current second is of the trades since the restart only.
            current = naive_candles(name, live if name == "1s" else trades)[-1]
            assert fanout.current(name) == current, name


@given(TRADES, st.integers(0, 40 * 86_400 * 1_000_000), st.data())
def test_ranges_and_limits(steps: list[tuple[int, int, int]], offset: int,
                           data: st.DataObject) -> None:
    trades = made(steps, offset)
    candles = Candles(10_000)
    for item in trades:
        candles.add(item)
    name = data.draw(st.sampled_from(list(INTERVALS)))
    expected = naive_candles(name, trades)
    low, high = trades[0].ts - 86_400_000_000, trades[-1].ts + 86_400_000_000
    start = data.draw(st.none() | st.integers(low, high))
    end = data.draw(st.none() | st.integers(low, high))
    limit = data.draw(st.integers(1, 8))
    oldest = data.draw(st.booleans())
    inside = [c for c in expected if (start is None or c[0] >= bucket(name, start))
              and (end is None or c[0] < end)]
    wanted = inside[:limit] if oldest else inside[-limit:]
    assert candles.between(name, start, end, limit, oldest=oldest) == wanted
    if name == "1s":
        seconds = (start, end if end is not None else high, limit)
        ids = candles.second_range(*seconds, oldest=oldest)
        if wanted:  # the trades of the chosen minutes hold every wanted second
            assert ids is not None
            assert ids[0] <= wanted[0][7]
            assert wanted[-1][8] <= ids[1]


def test_three_days_and_weeks_align_as_binance_does() -> None:
    day = 86_400_000_000
    assert INTERVALS["3d"].start(5 * day + 7) == 3 * day  # multiples of 3 days since 1970
    monday = (datetime(2024, 3, 4, tzinfo=UTC) - EPOCH) // US
    assert INTERVALS["1w"].start(monday + 7 * day - 1) == monday
    assert INTERVALS["1w"].next(monday) == monday + 7 * day
    march = (datetime(2024, 3, 1, tzinfo=UTC) - EPOCH) // US
    assert INTERVALS["1M"].start(march - 1) == (datetime(2024, 2, 1, tzinfo=UTC) - EPOCH) // US
    assert INTERVALS["1M"].next(march) == (datetime(2024, 4, 1, tzinfo=UTC) - EPOCH) // US
    assert INTERVALS["1M"].next((datetime(2024, 12, 1, tzinfo=UTC) - EPOCH) // US) == (
        datetime(2025, 1, 1, tzinfo=UTC) - EPOCH) // US
