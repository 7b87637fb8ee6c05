"""The compiled engine (mypyc, see setup.py) must never be older than its sources: an
extension module shadows the .py next to it, so a stale build would test old code."""

import importlib
from pathlib import Path

import pytest

COMPILED = ["accounts", "book", "engine", "instruments", "matching", "state", "triggers", "units"]


@pytest.mark.parametrize("name", COMPILED)
def test_compiled_module_is_not_stale(name: str) -> None:
    module = importlib.import_module(f"exchange.engine.{name}")
    loaded = Path(module.__file__ or "")
    source = loaded.with_name(f"{name}.py")
    assert source.exists()
    if loaded.suffix == ".so":
        assert loaded.stat().st_mtime >= source.stat().st_mtime, (
            f"{loaded.name} is older than {source.name}: rebuild with `make install`"
        )
