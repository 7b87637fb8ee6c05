"""The domain core imports nothing that does I/O or reads a clock (style: a pure core)."""

import ast
import sys
from pathlib import Path

import exchange.engine

ENGINE_DIR = Path(exchange.engine.__file__).parent
ALLOWED_THIRD_PARTY = {"msgspec"}
FORBIDDEN_STDLIB = {
    "time", "datetime", "random", "os", "socket", "threading", "asyncio", "io", "sys",
    "subprocess", "select", "logging", "secrets", "uuid",
}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module)
    return roots


def test_engine_modules_import_only_the_stdlib_msgspec_and_themselves() -> None:
    modules = sorted(ENGINE_DIR.glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        for name in imported_roots(path):
            root = name.split(".")[0]
            if name.startswith("exchange."):
                assert name.startswith("exchange.engine"), f"{path.name} imports {name}"
            elif root in ALLOWED_THIRD_PARTY:
                continue
            else:
                assert root in sys.stdlib_module_names, f"{path.name} imports {name}"
                assert root not in FORBIDDEN_STDLIB, f"{path.name} imports {name}"
