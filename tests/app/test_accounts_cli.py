"""`exchange accounts create`, offline and through a running server, with `--binance`: the
printed key, secret and ccxt snippet work as printed."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from exchange.cli import main
from web.support import ADMIN_TOKEN, threaded_exchange

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _snippet(printed: str, url: str) -> str:
    code = printed.split("ccxt, pointed at this server:\n", 1)[1]
    return re.sub(r'BASE = "[^"]*"', f'BASE = "{url}"', code)


def _run(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "snippet", "exec"), {})
    return out.getvalue().strip()


def test_offline_then_served(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'venue.db'}"
    assert main(["accounts", "create", "carol", "--deposit", "USD=250", "--binance",
                 "--database-url", url]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"binance api key: [A-Za-z0-9]{64}\n", printed)
    assert re.search(r"binance secret: [A-Za-z0-9]{64}  \(shown this once\)", printed)
    assert 'BASE = "http://127.0.0.1:8000"' in printed
    with threaded_exchange(database_url=url, server_key=None) as served:
        assert _run(_snippet(printed, served)) == "{'USD': 250.0}"


def test_through_the_admin_api(capsys: pytest.CaptureFixture[str]) -> None:
    with threaded_exchange() as served:
        assert main(["accounts", "create", "dave", "--deposit", "BTC=2", "--binance",
                     "--url", served, "--admin-token", ADMIN_TOKEN]) == 0
        printed = capsys.readouterr().out
        assert f'BASE = "{served}"' in printed
        assert _run(_snippet(printed, served)) == "{'BTC': 2.0}"
