"""`exchange bench engine`: the matching engine in-process, single thread, no I/O.

The commands come from the `mixed` generator (`exchange.bench.workload`) or, with
`workload_file`, from a recorded stream (`exchange.bench.recorded`); `record` writes the
generator's stream to a file. `check` runs the engine's self-check at the end and reports its
state hash. None of these is inside the timed part.
"""

from __future__ import annotations

import gc
import platform
import sys
import time
from collections.abc import Sequence
from typing import Any, Protocol

from exchange.bench.recorded import WorkloadFileError, WorkloadReader, WorkloadWriter
from exchange.bench.report import Progress, percentile, print_json, print_table
from exchange.bench.workload import MixedWorkload
from exchange.engine import Engine, InvariantError
from exchange.engine.commands import AnyCommand
from exchange.engine.events import AnyEvent, OrderRejected, TradeExecuted
from exchange.gctuning import freeze_long_lived

DEFAULT_COMMANDS = 1_000_000

CHUNK = 1_000
SAMPLE_EVERY = 8  # one command in eight is timed on its own for the latency figures


def run_engine_bench(*, commands: int | None = None, symbols: int = 1, seed: int = 1,
                     as_json: bool = False, progress: bool = False, check: bool = False,
                     record: str | None = None, workload_file: str | None = None) -> int:
    try:
        result = measure(commands=commands, symbols=symbols, seed=seed, progress=progress,
                         check=check, record=record, workload_file=workload_file)
    except (WorkloadFileError, InvariantError) as exc:
        what = "self-check failed: " if isinstance(exc, InvariantError) else ""
        print(f"exchange bench engine: {what}{exc}", file=sys.stderr)
        return 1 if isinstance(exc, InvariantError) else 2
    except OSError as exc:
        print(f"exchange bench engine: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    lat = result["latency_us"]
    source = (f"file {workload_file}" if workload_file is not None
              else f"mixed, seed {seed}")
    checked = [("self-check", "passed"), ("state hash", result["state_hash"])] if check else []
    print_table(
        f"engine bench: workload {source}, {result['commands']:,} commands",
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
            *checked,
        ],
    )
    if as_json:
        print_json(result)
    return 0


class Workload(Protocol):
    def setup(self) -> list[AnyCommand]: ...
    def warmup(self) -> list[AnyCommand]: ...
    def chunk(self, size: int) -> list[AnyCommand]: ...
    def observe(self, commands: Sequence[AnyCommand],
                results: Sequence[list[AnyEvent]]) -> None: ...


class Replay:
    """A recorded stream as the bench's workload: the header's warm-up lines untimed, then
    the rest in chunks. It learns nothing from the events: the stream is fixed."""

    def __init__(self, reader: WorkloadReader) -> None:
        self.reader = reader

    def setup(self) -> list[AnyCommand]:
        return []

    def warmup(self) -> list[AnyCommand]:
        return self.reader.read(self.reader.warmup)

    def chunk(self, size: int) -> list[AnyCommand]:
        out = self.reader.read(size)
        if len(out) < size:
            raise WorkloadFileError(f"{self.reader.path}: ends before the "
                                    f"{self.reader.commands:,} commands its header announces")
        return out

    def observe(self, commands: Sequence[AnyCommand],
                results: Sequence[list[AnyEvent]]) -> None:
        pass


def measure(*, commands: int | None = None, symbols: int = 1, seed: int = 1,
            progress: bool = False, check: bool = False, record: str | None = None,
            workload_file: str | None = None) -> dict[str, Any]:
    """Runs the workload and returns the bench.md fields (plus a few more). Only the engine's
    `handle` calls are timed; generating, reading or recording commands, reading events and
    the self-check are not. Replaying a file runs all its commands unless `commands` is
    smaller."""
    reader = None
    workload: Workload
    if workload_file is not None:
        reader = WorkloadReader(workload_file)
        workload = Replay(reader)
        commands = reader.commands if commands is None else min(commands, reader.commands)
    else:
        workload = MixedWorkload(seed=seed, symbols=symbols)
        commands = DEFAULT_COMMANDS if commands is None else commands
    try:
        return _run(workload, commands, progress=progress, check=check, record=record,
                    result={"workload": "mixed" if reader is None else "file",
                            "symbols": symbols, "seed": seed})
    finally:
        if reader is not None:
            reader.close()


def _run(workload: Workload, commands: int, *, progress: bool, check: bool,
         record: str | None, result: dict[str, Any]) -> dict[str, Any]:
    engine = Engine()
    handle = engine.handle
    setup = workload.setup()
    warmup = workload.warmup()
    writer = None
    if record is not None:
        writer = WorkloadWriter(record, warmup=len(setup) + len(warmup), commands=commands)
        writer.write(setup)
        writer.write(warmup)
    for command in setup:
        handle(command)
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
            if writer is not None:
                writer.write(chunk)
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
        if writer is not None:
            writer.close()
    if check:
        engine.check()
        result["state_hash"] = engine.state_hash()
    samples.sort()
    return {
        "bench": "engine",
        **result,
        "commands": commands,
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
