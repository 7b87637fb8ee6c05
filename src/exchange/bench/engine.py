"""`exchange bench engine`: the matching engine in-process, single thread, no I/O."""

from __future__ import annotations

import gc
import platform
import time
from typing import Any

from exchange.bench.report import Progress, percentile, print_json, print_table
from exchange.bench.workload import MixedWorkload
from exchange.engine import Engine
from exchange.engine.events import AnyEvent, OrderRejected, TradeExecuted
from exchange.gctuning import freeze_long_lived

CHUNK = 1_000
SAMPLE_EVERY = 8  # one command in eight is timed on its own for the latency figures


def run_engine_bench(*, commands: int, symbols: int = 1, seed: int = 1, as_json: bool = False,
                     progress: bool = False) -> int:
    result = measure(commands=commands, symbols=symbols, seed=seed, progress=progress)
    lat = result["latency_us"]
    print_table(
        f"engine bench: workload mixed, {commands:,} commands, seed {seed}",
        [
            ("commands/s", f"{result['commands_per_s']:,.0f}"),
            ("seconds", f"{result['seconds']:.3f}"),
            ("events", f"{result['events']:,}"),
            ("trades", f"{result['trades']:,}"),
            ("rejects", f"{result['rejects']:,}"),
            ("latency p50 (us)", f"{lat['p50']:.2f}"),
            ("latency p99 (us)", f"{lat['p99']:.2f}"),
            ("latency p99.9 (us)", f"{lat['p999']:.2f}"),
            ("python", platform.python_version()),
        ],
    )
    if as_json:
        print_json(result)
    return 0


def measure(*, commands: int, symbols: int = 1, seed: int = 1,
            progress: bool = False) -> dict[str, Any]:
    """Runs the workload and returns the bench.md fields (plus a few more). Only the engine's
    `handle` calls are timed; generating commands and reading events are not."""
    workload = MixedWorkload(seed=seed, symbols=symbols)
    engine = Engine()
    handle = engine.handle
    for command in workload.setup():
        handle(command)
    warmup = workload.warmup()
    workload.observe(warmup, [handle(command) for command in warmup])

    bar = Progress(commands, "engine", enabled=progress)
    clock = time.perf_counter
    clock_ns = time.perf_counter_ns
    busy = 0.0
    samples: list[int] = []
    events = trades = rejects = done = 0
    thresholds = gc.get_threshold()
    freeze_long_lived()  # as `exchange serve` does after recovery
    try:
        while done < commands:
            chunk = workload.chunk(min(CHUNK, commands - done))
            results: list[list[AnyEvent]] = []
            append = results.append
            start = clock()
            for i in range(0, len(chunk), SAMPLE_EVERY):
                t0 = clock_ns()
                append(handle(chunk[i]))
                samples.append(clock_ns() - t0)
                for command in chunk[i + 1 : i + SAMPLE_EVERY]:
                    append(handle(command))
            busy += clock() - start
            done += len(chunk)
            for out in results:
                events += len(out)
                for event in out:
                    kind = type(event)
                    if kind is TradeExecuted:
                        trades += 1
                    elif kind is OrderRejected:
                        rejects += 1
            workload.observe(chunk, results)
            bar.update(done)
    finally:
        bar.close()
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    samples.sort()
    return {
        "bench": "engine",
        "workload": "mixed",
        "commands": commands,
        "symbols": symbols,
        "seed": seed,
        "seconds": round(busy, 4),
        "commands_per_s": round(commands / busy, 1) if busy else 0.0,
        "trades": trades,
        "events": events,
        "rejects": rejects,
        "open_orders": len(engine.orders),
        "latency_us": {
            "p50": round(percentile(samples, 0.50) / 1000, 3),
            "p99": round(percentile(samples, 0.99) / 1000, 3),
            "p999": round(percentile(samples, 0.999) / 1000, 3),
        },
    }
