"""The command line of the benches against a running server: `exchange bench http`, `ws`
and `fanout` (bench.md), and `exchange bench history`, which starts servers of its own."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from exchange.bench.report import APIS


def add_network_bench_commands(benches: Any) -> None:
    http = benches.add_parser("http", help="order entry over REST against a running server")
    http.add_argument("--clients", type=int, default=64)
    ws = benches.add_parser("ws", help="order entry over the WebSocket against a running "
                                       "server (run it with EXCHANGE_RATE_LIMIT=0)")
    ws.add_argument("--clients", type=int, default=16, help="connections, one account each")
    ws.add_argument("--inflight", type=int, default=64,
                    help="unanswered ops per connection")
    ws.add_argument("--batch", type=int, default=16,
                    help="up to this many ops per frame (a JSON array; 1: one op a frame)")
    fanout = benches.add_parser("fanout", help="book and trades fan-out to many subscribers "
                                               "while orders arrive")
    fanout.add_argument("--subscribers", type=int, default=1000)
    fanout.add_argument("--rate", type=float, default=200.0, help="orders per second")
    fanout.add_argument("--symbol", default="BENCH-USD")
    fanout.add_argument("--processes", type=int, default=1,
                        help="spread the subscribers over this many processes")
    fanout.add_argument("--stalled", type=int, default=0,
                        help="also this many subscribers that stop reading once subscribed")
    for parser, what in ((http, "POST /api/v3/order"), (ws, "/ws-api/v3 order.place")):
        parser.add_argument(
            "--api", choices=APIS, default="v1",
            help=f"v1 (default), binance ({what}, signed with an HMAC key per account), or "
                 "both: the two in turn, --rounds times each, medians and their ratio")
        parser.add_argument("--rounds", type=int, default=3,
                            help="with --api both: runs of each (default 3)")
    for parser in (http, ws, fanout):
        parser.add_argument("--url", required=True)
        parser.add_argument("--admin-token", default=None,
                            help="default: $EXCHANGE_ADMIN_TOKEN")
        parser.add_argument("--duration", type=float, default=10.0)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--json", action="store_true", help="print one JSON object last")
        parser.add_argument("--no-progress", action="store_true")
    add_history_bench_command(benches)


def add_history_bench_command(benches: Any) -> None:
    history = benches.add_parser(
        "history", help="a server restarted on a long history (filled offline): RSS, time "
                        "to ready, history pages while order entry runs")
    history.add_argument("--database-url", default=None,
                         help="a fresh database (default: $EXCHANGE_DATABASE_URL)")
    history.add_argument("--orders", type=int, default=1_000_000)
    history.add_argument("--open", type=int, default=None,
                         help="orders left open (default: min(10,000, orders / 10))")
    history.add_argument("--seconds", type=float, default=20.0,
                         help="how long the queries are timed under load")
    history.add_argument("--rate", type=float, default=100.0,
                         help="order-entry operations per second during the queries")
    history.add_argument("--seed", type=int, default=1)
    history.add_argument("--no-analyze", action="store_true",
                         help="PostgreSQL: do not ANALYZE after the bulk fill (the planner "
                              "then has the statistics of a near-empty table)")
    history.add_argument("--json", action="store_true", help="print one JSON object last")
    history.add_argument("--no-progress", action="store_true")


def run_history_bench_command(args: argparse.Namespace) -> int:
    import os

    from exchange.bench.history import run_history_bench

    return run_history_bench(
        url=args.database_url or os.environ.get("EXCHANGE_DATABASE_URL"), orders=args.orders,
        open_orders=args.open, seconds=args.seconds, rate=args.rate, seed=args.seed,
        analyze=not args.no_analyze, as_json=args.json,
        progress=not args.no_progress and sys.stderr.isatty(),
    )


def run_network_bench_command(args: argparse.Namespace) -> int:
    from exchange.pipeline.config import ConfigError, load_settings

    try:
        admin_token = load_settings(admin_token=args.admin_token).admin_token
    except ConfigError as exc:
        print(f"exchange: {exc}", file=sys.stderr)
        return 2
    progress = not args.no_progress and sys.stderr.isatty()
    if args.bench == "http":
        from exchange.bench.http import run_http_bench

        return run_http_bench(url=args.url, admin_token=admin_token, clients=args.clients,
                              duration=args.duration, seed=args.seed, as_json=args.json,
                              progress=progress, api=args.api, rounds=args.rounds)
    if args.bench == "ws":
        from exchange.bench.ws import run_ws_bench

        return run_ws_bench(url=args.url, admin_token=admin_token, clients=args.clients,
                            duration=args.duration, seed=args.seed, inflight=args.inflight,
                            batch=args.batch, as_json=args.json, progress=progress,
                            api=args.api, rounds=args.rounds)
    from exchange.bench.fanout import run_fanout_bench

    return run_fanout_bench(url=args.url, admin_token=admin_token,
                            subscribers=args.subscribers, duration=args.duration,
                            rate=args.rate, symbol=args.symbol, seed=args.seed,
                            processes=args.processes, as_json=args.json, progress=progress,
                            stalled=args.stalled)
