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


def _run(name: str, base: str, tmp_path: Path, names: dict[str, object]) -> list[str]:
    """Runs the README's `name` block in `names` against a demo server, its `base` (the
    server at port 8000, as written) pointed at the test's port; the lines it printed."""
    block = _block(name)
    assert base in block
    with threaded_exchange(demo=True, database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
                           rate_limit=0) as url:
        code = block.replace(base, base.replace("http://127.0.0.1:8000", url))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), names)
    return out.getvalue().splitlines()


def test_the_readme_snippet_trades(tmp_path: Path) -> None:
    lines = _run("ccxt", 'BASE = "http://127.0.0.1:8000"', tmp_path, {})
    assert lines[0] == "1000000.0"
    order_id, status, price = lines[1].split()
    assert order_id.isdigit()
    assert (status, float(price)) == ("open", 20000.0)
    assert lines[2] == "canceled"


def test_the_readme_python_binance_snippet_trades(tmp_path: Path) -> None:
    import asyncio

    names: dict[str, object] = {}
    try:
        lines = _run("python-binance", '"http://127.0.0.1:8000/api"', tmp_path, names)
    finally:  # the event loop python-binance made for this thread
        client = names.get("client")
        if client is not None:
            client.loop.close()  # type: ignore[attr-defined]
        asyncio.set_event_loop(None)
    assert lines == ["1000000", "CANCELED"]


def test_the_readme_ccxt_pro_snippet_trades(tmp_path: Path) -> None:
    lines = _run("ccxt.pro", 'BASE = "http://127.0.0.1:8000"', tmp_path, {"__name__": "readme"})
    assert lines == ["open [20000.0, 0.01]", "canceled"]
