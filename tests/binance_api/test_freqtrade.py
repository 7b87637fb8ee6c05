"""freqtrade as it comes, in a virtualenv of its own, trading live against a real server through
the Binance-compatible surface: configured only by the README's `config.json` and strategy
(the server's URL and a fresh account's key put in), it buys, its order fills, it sells, and
the server's own records say so. Then it stops cleanly on SIGTERM.

The virtualenv (`.venv-freqtrade/`, freqtrade and every dependency pinned in
`freqtrade-requirements.txt`) is made on the first run and kept while the pins are the same;
made from scratch it takes about two and a half minutes on a 2-core machine. Under `CI=true`
a failed install fails the test; elsewhere it skips it (an offline machine)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from web.support import threaded_exchange

from .test_ccxt import Venue

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
REQUIREMENTS = Path(__file__).with_name("freqtrade-requirements.txt")
VENV = ROOT / ".venv-freqtrade"
PRICE, BID = 20000, 19990


def _readme_block(name: str, language: str) -> str:
    text = README.read_text()
    marker = text.index(f"<!-- {name}:")
    match = re.search(rf"```{language}\n(.*?)```", text[marker:], re.DOTALL)
    assert match is not None
    return match.group(1)


def _install() -> Path:
    """The virtualenv's `freqtrade`, installed if missing or made from other pins."""
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()
    marker = VENV / "installed-from.sha256"
    program = VENV / "bin" / "freqtrade"
    with open(ROOT / ".venv-freqtrade.lock", "w") as lock:  # one installer at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == wanted and program.exists():
            return program
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet",
                        "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
                       check=True, timeout=1200, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
        marker.write_text(wanted)
        return program


@pytest.fixture(scope="module")
def freqtrade() -> Path:
    try:
        return _install()
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or exc
        if os.environ.get("CI") == "true":
            pytest.fail(f"freqtrade could not be installed: {detail}")
        pytest.skip(f"freqtrade could not be installed: {detail}")


@pytest.fixture
def venue() -> Iterator[Venue]:
    with threaded_exchange(demo=True, rate_limit=0) as url:
        made = Venue(url)
        yield made
        made.admin.close()


def _config(url: str, key: str, secret: str) -> dict[str, Any]:
    text = _readme_block("freqtrade-config", "json")
    for old, new in (("http://127.0.0.1:8000", url),
                     ("ws://127.0.0.1:8000", url.replace("http", "ws", 1)),
                     ("demoAliceBinanceKey", key),
                     ("demoAliceBinanceSecretNotForRealMoney", secret)):
        assert old in text
        text = text.replace(old, new)
    config: dict[str, Any] = json.loads(text)
    return config


def _place(url: str, bearer: str, **order: str) -> dict[str, Any]:
    answer = httpx.post(url + "/v1/orders", headers={"Authorization": f"Bearer {bearer}"},
                        json={"symbol": "BTC-USD", **order})
    assert answer.status_code == 201, answer.text
    placed: dict[str, Any] = answer.json()
    return placed


def _trades(database: Path) -> list[tuple[Any, ...]]:
    """freqtrade's closed trades, from its own database."""
    if not database.exists():
        return []
    with contextlib.closing(sqlite3.connect(database)) as db:
        try:
            return db.execute("SELECT pair, is_open, exit_reason, amount, open_rate, "
                              "close_rate FROM trades WHERE is_open = 0").fetchall()
        except sqlite3.OperationalError:  # not made yet, or being written
            return []


def _orders(database: Path) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return db.execute("SELECT ft_order_side, order_id, status FROM orders "
                          "ORDER BY id").fetchall()


def _wait_for(check: Any, seconds: float, what: str, proc: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert proc.poll() is None, f"freqtrade stopped (exit {proc.returncode}) before {what}"
        time.sleep(0.5)
    raise AssertionError(f"freqtrade did not {what} within {seconds} s")


def test_freqtrade_enters_and_exits_a_trade(freqtrade: Path, venue: Venue,
                                            tmp_path: Path) -> None:
    _, maker, _, _ = venue.trader("maker", USD="1000000", BTC="10")
    _, bot, key, secret = venue.trader("bot", USD="1000")
    _, other, _, _ = venue.trader("other", USD="100000")
    # The other side of freqtrade's trade, and a trade for the minute's candle.
    _place(venue.url, maker, side="sell", type="limit", quantity="1", price=str(PRICE))
    _place(venue.url, maker, side="buy", type="limit", quantity="1", price=str(BID))
    assert _place(venue.url, other, side="buy", type="market",
                  quantity="0.001")["status"] == "filled"
    started_minute = time.time() // 60

    (tmp_path / "config.json").write_text(json.dumps(_config(venue.url, key, secret)))
    strategies = tmp_path / "user_data" / "strategies"
    strategies.mkdir(parents=True)
    (strategies / "enter_at_once.py").write_text(
        _readme_block("freqtrade-strategy", "python"))
    log = tmp_path / "freqtrade.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(freqtrade), "trade", "--config", "config.json", "--userdir", "user_data",
             "--db-url", f"sqlite:///{tmp_path / 'trades.sqlite'}"],
            cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PATH": f"{freqtrade.parent}:{os.environ['PATH']}"})
    bot_http = httpx.Client(base_url=venue.url, headers={"Authorization": f"Bearer {bot}"})
    try:
        # freqtrade acts on complete candles only: once the minute of that trade has ended,
        # one more trade tells it (as on Binance) that the candle is final.
        while time.time() // 60 == started_minute:
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(0.5)
        _place(venue.url, other, side="buy", type="market", quantity="0.001")

        def orders() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = bot_http.get("/v1/orders").json()
            return found[::-1]  # oldest first

        def done() -> list[dict[str, Any]] | None:
            found = orders()
            return found if len(found) >= 2 and found[1]["status"] == "filled" else None

        try:
            placed = _wait_for(done, 150, "buy and sell", proc)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{log.read_text()[-5000:]}") from None
        buy, sell = placed[:2]
        assert (buy["side"], buy["type"], buy["status"]) == ("buy", "limit", "filled")
        assert (sell["side"], sell["type"], sell["status"]) == ("sell", "limit", "filled")
        assert float(buy["average_fill_price"]) == PRICE
        assert float(sell["average_fill_price"]) == BID
        # 100 USD of BTC at 20000, bought and sold whole (the fee is in USD).
        assert buy["filled_quantity"] == sell["filled_quantity"] == "0.005"
        assert buy["client_order_id"].startswith("x-")  # ccxt's own ids
        fills = bot_http.get("/v1/fills").json()
        assert sorted(f["order_id"] for f in fills) == sorted([buy["order_id"],
                                                              sell["order_id"]])
        balances = {b["asset"]: b for b in bot_http.get("/v1/account").json()["balances"]}
        assert float(balances.get("BTC", {"total": "0"})["total"]) == 0
        assert 1000 - 100 * 0.02 < float(balances["USD"]["total"]) < 1000
        # The trade is closed on freqtrade's side too (its own database), with both orders
        # under the server's ids, and it trades no more.
        closed = _wait_for(lambda: _trades(tmp_path / "trades.sqlite"), 30, "close its trade",
                           proc)
        assert closed == [("BTC/USD", 0, "roi", 0.005, PRICE, BID)]
        assert _orders(tmp_path / "trades.sqlite") == [
            ("buy", str(buy["order_id"]), "closed"), ("sell", str(sell["order_id"]), "closed")]
        time.sleep(3)
        assert len(orders()) == 2
    finally:
        bot_http.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    text = log.read_text()
    assert code == 130, text[-3000:]  # freqtrade's exit code after SIGTERM's clean stop
    assert "Cleaning up modules" in text
    assert "Traceback" not in text, text[-5000:]
