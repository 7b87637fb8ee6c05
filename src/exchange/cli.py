"""The `exchange` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exchange", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    bench = commands.add_parser("bench", help="run a benchmark (see docs: bench.md)")
    benches = bench.add_subparsers(dest="bench", required=True)
    engine = benches.add_parser("engine", help="the matching engine in-process, no I/O")
    engine.add_argument("--workload", choices=["mixed"], default="mixed")
    engine.add_argument("--commands", type=int, default=1_000_000)
    engine.add_argument("--symbols", type=int, default=1)
    engine.add_argument("--seed", type=int, default=1)
    engine.add_argument("--json", action="store_true", help="print one JSON object last")
    engine.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench" and args.bench == "engine":
        from exchange.bench.engine import run_engine_bench

        return run_engine_bench(
            commands=args.commands,
            symbols=args.symbols,
            seed=args.seed,
            as_json=args.json,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    return 2
