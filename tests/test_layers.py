"""Layers import one way: engine ← store ← pipeline ← web ← app (and the tools above it).
Every import, a lazy one inside a function included, is read from the source; any that runs
upward fails here, as does SQL above the store."""

from __future__ import annotations

import ast
from pathlib import Path

import exchange

PACKAGE = Path(exchange.__file__).parent

# A module may import its own layer and those below it (a lower rank), never a higher one.
RANK = {
    "engine": 0, "gctuning": 0,
    "store": 1,
    "pipeline": 2,
    "web": 3, "binance": 3,
    "app": 4, "simulate": 4, "export": 4,
    "bench": 5,
    "cli": 6, "__main__": 6,
}
# The client is a library for bots: it must stand alone, importing nothing of the server.
STANDALONE = {"client"}
CLIENT_RANK = 4  # and only the app's layer and above use it
# Database drivers and SQLAlchemy are the store's alone; `exchange bench persist` is the one
# tool that measures the store from outside it (it makes and drops its own schema).
SQL_ROOTS = {"sqlalchemy", "asyncpg", "aiosqlite", "alembic"}
SQL_ALLOWED = {"store", "bench"}


def layer_of(module: str) -> str:
    """`exchange.web.ws` -> `web`; `exchange.cli` -> `cli`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "exchange":  # `from exchange import web`
                names.update(f"exchange.{alias.name}" for alias in node.names)
    return names


def sources() -> dict[str, str]:
    paths = sorted(p for p in PACKAGE.rglob("*.py") if "static" not in p.parts)
    return {module_name(path): path.read_text() for path in paths}


def upward_imports(modules: dict[str, str]) -> list[str]:
    found = []
    for module, source in modules.items():
        own = layer_of(module)
        for name in imports_of(source):
            root = name.split(".")[0]
            if root in SQL_ROOTS and own not in SQL_ALLOWED:
                found.append(f"{module} uses {name} (SQL lives in the store)")
            if root != "exchange" or name == "exchange":
                continue
            target = layer_of(name)
            if own in STANDALONE:
                if target != own:
                    found.append(f"{module} ({own}, standalone) imports {name}")
            elif RANK.get(target, CLIENT_RANK) > RANK[own]:
                found.append(f"{module} ({own}) imports {name} ({target})")
    return found


def test_every_package_has_a_layer() -> None:
    layers = {layer_of(module) for module in sources()} - {""}
    assert layers <= set(RANK) | STANDALONE, layers - set(RANK) - STANDALONE


def test_imports_run_one_way() -> None:
    assert upward_imports(sources()) == []


def test_the_walk_sees_what_runs_upward() -> None:
    planted = {
        "exchange.engine.planted": "def f():\n    from exchange.web import render\n",
        "exchange.pipeline.planted": "import sqlalchemy\nfrom exchange.app.runtime import x\n",
        "exchange.client.planted": "from exchange.engine import Engine\n",
        "exchange.web.planted": "from exchange.client import ExchangeClient\n",
    }
    assert set(upward_imports({**sources(), **planted})) == {
        "exchange.engine.planted (engine) imports exchange.web (web)",
        "exchange.pipeline.planted uses sqlalchemy (SQL lives in the store)",
        "exchange.pipeline.planted (pipeline) imports exchange.app.runtime (app)",
        "exchange.client.planted (client, standalone) imports exchange.engine",
        "exchange.web.planted (web) imports exchange.client (client)",
    }
