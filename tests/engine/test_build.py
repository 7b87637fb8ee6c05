"""The compiled engine (mypyc, see setup.py) must never be older than its sources: an
extension module shadows the .py next to it, so a stale build would test old code."""

import ast
import importlib
from pathlib import Path

import pytest

SETUP = Path(__file__).parents[2] / "setup.py"


def compiled_modules() -> list[str]:
    """The module names setup.py hands to mypyc (read from its COMPILED list, so the two
    cannot drift apart)."""
    for node in ast.parse(SETUP.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "COMPILED":
            return [Path(ast.literal_eval(elt)).stem for elt in node.value.elts]  # type: ignore[attr-defined]
    raise AssertionError("setup.py has no COMPILED list")


COMPILED = compiled_modules()


def test_every_engine_module_but_restore_is_compiled() -> None:
    engine_dir = SETUP.parent / "src" / "exchange" / "engine"
    sources = {path.stem for path in engine_dir.glob("*.py")} - {"__init__"}
    assert set(COMPILED) <= sources
    assert sources - set(COMPILED) <= {"codes", "commands", "events", "restore"}


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
