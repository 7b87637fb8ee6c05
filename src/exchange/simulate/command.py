"""`exchange simulate`: the option parser and the command, with exit codes per cli.md
(0 after Ctrl-C or `--duration`, 1 refused, 2 bad options or server unreachable)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from functools import partial
from typing import Any

import trio

from exchange.simulate.desk import SimulationError
from exchange.simulate.runner import run_simulation
from exchange.simulate.stats import SimStats
from exchange.simulate.status import show_status


def add_simulate_command(commands: Any) -> None:
    simulate = commands.add_parser(
        "simulate", help="market makers and takers that keep a moving market going"
    )
    simulate.add_argument("--url", default=None,
                          help="the exchange (default $EXCHANGE_URL, else http://127.0.0.1:8000)")
    simulate.add_argument("--admin-token", default=None, help="default $EXCHANGE_ADMIN_TOKEN")
    simulate.add_argument("--symbols", default="BTC-USD,ETH-USD",
                          help="comma-separated; missing instruments are created")
    simulate.add_argument("--rate", type=float, default=50.0,
                          help="order-entry requests per second, all symbols together")
    simulate.add_argument("--seed", type=int, default=None)
    simulate.add_argument("--duration", type=float, default=None,
                          help="stop after this many seconds (default: until Ctrl-C)")
    simulate.add_argument("--round", type=int, default=None, dest="round_id",
                          help="provide liquidity to this round: the bots' accounts are "
                               "house accounts, off its leaderboard")


def run_simulate_command(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get("EXCHANGE_URL") or "http://127.0.0.1:8000"
    token = args.admin_token or os.environ.get("EXCHANGE_ADMIN_TOKEN")
    symbols = [symbol.strip() for symbol in args.symbols.split(",") if symbol.strip()]
    problem = (
        "--admin-token (or EXCHANGE_ADMIN_TOKEN) is required" if not token
        else "--symbols names no instrument" if not symbols
        else "--rate must be positive" if not args.rate > 0
        else "--duration must be positive" if args.duration is not None and args.duration <= 0
        else None
    )
    if problem or token is None:
        print(f"exchange simulate: {problem}", file=sys.stderr)
        return 2
    stats = SimStats()
    try:
        elapsed = trio.run(partial(_simulate, url, token, symbols, args.rate, args.seed,
                                   args.duration, stats, args.round_id))
    except SimulationError as exc:
        print(f"exchange simulate: {exc}", file=sys.stderr)
        return exc.exit_code
    print(stats.summary(elapsed), file=sys.stderr)
    return 0


async def _simulate(url: str, token: str, symbols: list[str], rate: float, seed: int | None,
                    duration: float | None, stats: SimStats, round_id: int | None = None
                    ) -> float:
    """Runs until SIGINT/SIGTERM or `duration`; returns the seconds simulated."""
    started = trio.current_time()
    try:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_stop_on_signal, signals, nursery.cancel_scope)
                await nursery.start(partial(run_simulation, url, token, symbols, rate,
                                            seed=seed, stats=stats, round_id=round_id))
                started = trio.current_time()
                print(f"simulating {', '.join(symbols)} on {url} at {rate:g} requests/s "
                      f"with {stats.accounts} accounts; Ctrl-C stops", file=sys.stderr)
                nursery.start_soon(partial(show_status, stats, sys.stderr, started=started))
                if duration is not None:
                    nursery.cancel_scope.deadline = started + duration
    except* SimulationError as group:  # one line, not a group
        raise group.exceptions[0] from None
    return trio.current_time() - started


async def _stop_on_signal(signals: Any, scope: trio.CancelScope) -> None:
    async for _ in signals:
        scope.cancel()
        return
