"""The `exchange` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exchange", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    bench = commands.add_parser("bench", help="run a benchmark (see docs: bench.md)")
    benches = bench.add_subparsers(dest="bench", required=True)
    engine = benches.add_parser("engine", help="the matching engine in-process, no I/O")
    engine.add_argument("--workload", choices=["mixed"], default="mixed")
    engine.add_argument("--commands", type=int, default=None,
                        help="default 1,000,000; with --workload-file, all of the file's")
    engine.add_argument("--symbols", type=int, default=1)
    engine.add_argument("--seed", type=int, default=1)
    engine.add_argument("--json", action="store_true", help="print one JSON object last")
    engine.add_argument("--no-progress", action="store_true")
    engine.add_argument("--check", action="store_true",
                        help="run the engine's self-check at the end and report its state hash")
    source = engine.add_mutually_exclusive_group()
    source.add_argument("--record", metavar="FILE", default=None,
                        help="write the generated command stream to FILE (JSON lines)")
    source.add_argument("--workload-file", metavar="FILE", default=None,
                        help="replay a recorded command stream instead of generating one")

    peer = benches.add_parser(
        "peer", help="replay a recorded stream against the matching-engine 0.1.1 peer "
                     "(installed separately)")
    peer.add_argument("--workload-file", metavar="FILE", required=True,
                      help="a stream written by `exchange bench engine --record FILE`")
    peer.add_argument("--commands", type=int, default=None, help="default: all of the file's")
    peer.add_argument("--json", action="store_true", help="print one JSON object last")
    peer.add_argument("--no-progress", action="store_true")

    persist = benches.add_parser(
        "persist", help="the writer: mixed-workload events made durable, then recovery"
    )
    persist.add_argument("--database-url", default=None,
                         help="default: $EXCHANGE_DATABASE_URL, else ./exchange-bench.db")
    persist.add_argument("--workload", choices=["mixed"], default="mixed")
    persist.add_argument("--commands", type=int, default=200_000)
    persist.add_argument("--batch", type=int, default=1_000, help="commands per batch")
    persist.add_argument("--symbols", type=int, default=1)
    persist.add_argument("--seed", type=int, default=1)
    persist.add_argument("--recovery-orders", type=int, default=0,
                         help="grow the book to this many open orders before recovery")
    persist.add_argument("--live-engine", action="store_true",
                         help="run the engine alongside the writer instead of before it")
    persist.add_argument("--max-events", type=int, default=None,
                         help="merge queued batches into one transaction up to this many "
                              "events (default: the writer's)")
    persist.add_argument("--reset", action="store_true",
                         help="overwrite an existing SQLite file")
    persist.add_argument("--json", action="store_true", help="print one JSON object last")
    persist.add_argument("--no-progress", action="store_true")

    migrate = commands.add_parser("migrate", help="bring the database schema to the newest "
                                                  "migration")
    migrate.add_argument("--database-url", default=None,
                         help="default: $EXCHANGE_DATABASE_URL, else sqlite:///./exchange.db")

    export = commands.add_parser(
        "export", help="write trades, fills or orders from the database as CSV or JSON lines")
    export.add_argument("kind", choices=["trades", "fills", "orders"])
    export.add_argument("--database-url", default=None,
                        help="default: $EXCHANGE_DATABASE_URL, else sqlite:///./exchange.db")
    export.add_argument("--symbol", default=None)
    export.add_argument("--account", type=int, default=None, help="an account id")
    export.add_argument("--since", default=None, help="ISO 8601 time, inclusive")
    export.add_argument("--until", default=None, help="ISO 8601 time, exclusive")
    export.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    export.add_argument("--output", default=None, help="a file (default: standard output)")

    from exchange.app.cli import add_server_commands  # serve, accounts
    from exchange.bench.cli import add_network_bench_commands  # bench http, ws, fanout

    add_network_bench_commands(benches)
    add_server_commands(commands)
    from exchange.simulate.command import add_simulate_command

    add_simulate_command(commands)
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
            check=args.check,
            record=args.record,
            workload_file=args.workload_file,
        )
    if args.command == "bench" and args.bench == "peer":
        from exchange.bench.peer import run_peer_bench

        return run_peer_bench(workload_file=args.workload_file, commands=args.commands,
                              as_json=args.json,
                              progress=not args.no_progress and sys.stderr.isatty())
    if args.command == "bench" and args.bench == "persist":
        from exchange.bench.persist import run_persist_bench

        return run_persist_bench(
            url=args.database_url or os.environ.get("EXCHANGE_DATABASE_URL"),
            commands=args.commands,
            batch=args.batch,
            symbols=args.symbols,
            seed=args.seed,
            recovery_orders=args.recovery_orders,
            live_engine=args.live_engine,
            reset=args.reset,
            **({} if args.max_events is None else {"max_events": args.max_events}),
            as_json=args.json,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
    if args.command == "migrate":
        return _migrate(args.database_url)
    if args.command == "export":
        from exchange.export import run_export
        from exchange.store.database import database_url

        return run_export(database_url(args.database_url), args.kind, symbol=args.symbol,
                          account=args.account, since=args.since, until=args.until,
                          fmt=args.format, output=args.output)
    if args.command == "bench" and args.bench == "history":
        from exchange.bench.cli import run_history_bench_command

        return run_history_bench_command(args)
    if args.command == "bench" and args.bench in ("http", "ws", "fanout"):
        from exchange.bench.cli import run_network_bench_command

        return run_network_bench_command(args)
    if args.command in ("serve", "accounts"):
        from exchange.app.cli import run_server_command

        return run_server_command(args)
    if args.command == "simulate":
        from exchange.simulate.command import run_simulate_command

        return run_simulate_command(args)
    return 2


def _migrate(url: str | None) -> int:
    from exchange.store.database import database_url
    from exchange.store.errors import StoreError
    from exchange.store.migrate import upgrade

    try:
        target = database_url(url)
        revision = upgrade(target)
    except (StoreError, ValueError, OSError) as exc:
        print(f"exchange migrate: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a driver's error: one line, not a traceback (cli.md)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"exchange migrate: cannot migrate the database: {reason}", file=sys.stderr)
        return 2
    print(f"database schema at revision {revision}")
    return 0
