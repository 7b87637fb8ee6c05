"""The README's ccxt, ccxt.pro and python-binance blocks, run as written against a demo server (only
the server's URL points at the test's port instead of 8000)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from web.support import threaded_exchange

README = Path(__file__).parents[2] / "README.md"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _block(name: str = "ccxt") -> str:
    text = README.read_text()
    marker = text.index(f"<!-- {name}-snippet:")
    match = re.search(r"```python\n(.*?)```", text[marker:], re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_readme_snippet_trades(tmp_path: Path) -> None:
    block = _block()
    assert 'BASE = "http://127.0.0.1:8000"' in block
    with threaded_exchange(demo=True, database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
                           rate_limit=0) as url:
        code = block.replace('BASE = "http://127.0.0.1:8000"', f'BASE = "{url}"')
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "1000000.0"
    order_id, status, price = lines[1].split()
    assert order_id.isdigit()
    assert (status, float(price)) == ("open", 20000.0)
    assert lines[2] == "canceled"


def test_the_readme_python_binance_snippet_trades(tmp_path: Path) -> None:
    import asyncio

    block = _block("python-binance")
    assert '"http://127.0.0.1:8000/api"' in block
    with threaded_exchange(demo=True, database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
                           rate_limit=0) as url:
        code = block.replace('"http://127.0.0.1:8000/api"', f'"{url}/api"')
        out = io.StringIO()
        names: dict[str, object] = {}
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, "README.md", "exec"), names)
        finally:  # the event loop python-binance made for this thread
            client = names.get("client")
            if client is not None:
                client.loop.close()  # type: ignore[attr-defined]
            asyncio.set_event_loop(None)
    assert out.getvalue().splitlines() == ["1000000", "CANCELED"]


def test_the_readme_ccxt_pro_snippet_trades(tmp_path: Path) -> None:
    block = _block("ccxt.pro")
    assert 'BASE = "http://127.0.0.1:8000"' in block
    with threaded_exchange(demo=True, database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
                           rate_limit=0) as url:
        code = block.replace('BASE = "http://127.0.0.1:8000"', f'BASE = "{url}"')
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    assert out.getvalue().splitlines() == ["open [20000.0, 0.01]", "canceled"]
