"""The status line and the summary."""

from __future__ import annotations

import io

import trio
import trio.testing

from exchange.simulate.stats import SimStats
from exchange.simulate.status import show_status


def busy() -> SimStats:
    stats = SimStats(orders=90, cancels=5, amends=5, trades=40, throttled=2, accounts=8)
    stats.rejects_intended["post_only_would_take"] = 3
    stats.last_price.update({"BTC-USD": "50012.5", "ETH-USD": "3001"})
    stats.trades_by_symbol.update({"BTC-USD": 25, "ETH-USD": 15})
    return stats


def test_the_line_has_counts_rate_and_prices() -> None:
    line = busy().line(10.0)
    assert line == ("  10s orders 90 cancels 5 amends 5 (10/s) | trades 40 | rejects 3 "
                    "intended, 0 unexpected | throttled 2 | BTC-USD 50012.5 ETH-USD 3001")


def test_the_summary_names_every_reject_code() -> None:
    stats = busy()
    stats.rejects_unexpected["insufficient_funds"] = 1
    stats.last_unexpected = "sim-BTC-USD-taker-0 market: 422 insufficient_funds: ..."
    text = stats.summary(10.0)
    assert "8 accounts: 90 orders, 5 cancels, 5 amends (10.0 requests/s)" in text
    assert "trades: BTC-USD 25, ETH-USD 15" in text
    assert "intended rejects: post_only_would_take 3" in text
    assert "unexpected rejects: insufficient_funds 1" in text
    assert "last unexpected answer: sim-BTC-USD-taker-0" in text


async def run_for(seconds: float, tty: bool) -> str:
    stream = io.StringIO()
    with trio.move_on_after(seconds):
        await show_status(busy(), stream, started=trio.current_time(), tty=tty)
    return stream.getvalue()


async def test_on_a_terminal_the_line_is_redrawn_in_place(
        autojump_clock: trio.testing.MockClock) -> None:
    out = await run_for(2.2, tty=True)
    assert "\n" not in out
    assert out.count("\r\x1b[K") == 5 + 1  # twice a second, then cleared for the summary
    assert out.endswith("\r\x1b[K")


async def test_elsewhere_a_line_every_few_seconds(
        autojump_clock: trio.testing.MockClock) -> None:
    out = await run_for(12.0, tty=False)
    assert "\r" not in out
    assert len(out.splitlines()) == 3  # at 0, 5 and 10 s
