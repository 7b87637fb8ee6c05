"""The simulator's decisions are pure: its domain modules import no I/O library."""

from __future__ import annotations

import ast
from pathlib import Path

import exchange.simulate

PURE = ["fair", "bots", "actions", "stats"]
FORBIDDEN = {"trio", "httpx", "exchange.client", "exchange.simulate.desk",
             "exchange.simulate.runner", "time", "socket"}


def imports(module: str) -> set[str]:
    path = Path(exchange.simulate.__file__).parent / f"{module}.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_decisions_import_no_io() -> None:
    for module in PURE:
        found = imports(module)
        assert found, module
        bad = {name for name in found
               if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
        assert not bad, (module, bad)
