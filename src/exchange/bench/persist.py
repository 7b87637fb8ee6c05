"""`exchange bench persist`: the `mixed` workload's events made durable by the real writer.

The pipeline is the server's: the engine runs in a worker thread, a batch (the events of up
to `--batch` commands) goes to the writer over a bounded channel, the writer commits it
through the bridge, and the batch counts when it is durable. Setup and the warm-up book are
written first and not measured. Afterwards the engine is rebuilt from the database
(`recovery_s`), and the rebuilt books and balances are checked against the engine that ran.

PostgreSQL runs in a schema of its own (`exchange_bench`, dropped and made anew each run), so
the database's other tables are left alone. SQLite writes the file of the URL, which must not
exist yet unless `--reset` is given (the default URL is `./exchange-bench.db`, reset each run).
"""

from __future__ import annotations

import gc
import platform
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.bench.report import Progress, percentile, print_json, print_table
from exchange.bench.workload import MixedWorkload
from exchange.engine import Engine
from exchange.engine.codes import Side
from exchange.engine.commands import AnyCommand, PlaceOrder
from exchange.store.bridge import open_bridge
from exchange.store.database import dialect_name, normalize_url
from exchange.store.ledger import Ledger
from exchange.store.migrate import upgrade_engine
from exchange.store.recovery import recover
from exchange.store.rows import WriteSet
from exchange.store.writer import MAX_EVENTS, Batch, WriterStatus, serve_writer

BENCH_SCHEMA = "exchange_bench"
BENCH_SQLITE_URL = "sqlite+aiosqlite:///./exchange-bench.db"
IN_FLIGHT = 4  # batches queued for the writer before the engine waits (backpressure)


# -- THE WORKLOAD (adapter over exchange.bench.workload) --


class CommandSource:
    """The `mixed` workload as batches of commands run through an engine: setup, warm-up,
    the measured mix, then passive orders to grow the book for the recovery measurement."""

    def __init__(self, *, seed: int, symbols: int) -> None:
        self.workload = MixedWorkload(seed=seed, symbols=symbols)
        self.engine = Engine()

    def run(self, commands: list[AnyCommand]) -> Batch:
        """Handles `commands` (in a worker thread) and returns their events as one batch."""
        batch = Batch()
        results = []
        for command in commands:
            events = self.engine.handle(command)
            results.append(events)
            batch.add(events)
        self.workload.observe(commands, results)
        return batch

    def preamble(self, batch_size: int) -> Iterator[list[AnyCommand]]:
        yield from _chunks(self.workload.setup(), batch_size)
        yield from _chunks(self.workload.warmup(), batch_size)

    def mix(self, commands: int, batch_size: int) -> Iterator[list[AnyCommand]]:
        done = 0
        while done < commands:
            chunk = self.workload.chunk(min(batch_size, commands - done))
            done += len(chunk)
            yield chunk

    def resting(self, open_orders: int, batch_size: int) -> Iterator[list[AnyCommand]]:
        """Passive limit orders, 1 to 200 ticks off the mid, until the engine holds
        `open_orders` open orders."""
        workload = self.workload
        rng = workload.rng
        while len(self.engine.orders) < open_orders:
            missing = open_orders - len(self.engine.orders)
            chunk: list[AnyCommand] = []
            for _ in range(min(batch_size, missing)):
                symbol = workload.symbols[rng.randrange(len(workload.symbols))]
                is_buy = rng.random() < 0.5
                offset = rng.randint(1, 200)
                mid = workload.mid[symbol]
                chunk.append(PlaceOrder(
                    ts=workload.ts, account_id=rng.randint(1, 1_000), symbol=symbol,
                    side=Side.BUY if is_buy else Side.SELL,
                    price=mid - offset if is_buy else mid + offset,
                    quantity=rng.randint(1, 100),
                ))
            yield chunk


def _chunks(commands: list[AnyCommand], size: int) -> Iterator[list[AnyCommand]]:
    for start in range(0, len(commands), size):
        yield commands[start : start + size]


# -- THE RUN --


@dataclass(frozen=True)
class Options:
    url: str
    commands: int
    batch: int
    symbols: int = 1
    seed: int = 1
    recovery_orders: int = 0
    live_engine: bool = False
    max_events: int = MAX_EVENTS
    progress: bool = False


def run_persist_bench(*, url: str | None, commands: int, batch: int, symbols: int = 1,
                      seed: int = 1, recovery_orders: int = 0, live_engine: bool = False,
                      max_events: int = MAX_EVENTS, reset: bool = False,
                      as_json: bool = False, progress: bool = False) -> int:
    target = normalize_url(url) if url else BENCH_SQLITE_URL
    if dialect_name(target) == "sqlite" and not _sqlite_ready(target, reset or url is None):
        print(f"{target}: the file exists; pass --reset to overwrite it", flush=True)
        return 2
    options = Options(target, commands, batch, symbols, seed, recovery_orders, live_engine,
                      max_events, progress)
    result = trio.run(_measure, options)
    commit = result["commit_ms"]
    print_table(
        f"persist bench: workload mixed on {result['database']}, {commands:,} commands "
        f"in batches of {batch:,}, seed {seed}"
        + (", engine running alongside" if live_engine else ""),
        [
            ("events/s", f"{result['events_per_s']:,.0f}"),
            ("events", f"{result['events']:,}"),
            ("seconds", f"{result['seconds']:.3f}"),
            ("transactions", f"{result['writes']:,}"),
            ("rows", f"{result['rows']:,}"),
            ("commit p50 (ms)", f"{commit['p50']:.2f}"),
            ("commit p99 (ms)", f"{commit['p99']:.2f}"),
            ("commit max (ms)", f"{commit['max']:.2f}"),
            ("COMMIT statement p99 (ms)", f"{result['commit_statement_ms']['p99']:.2f}"),
            ("durable p99 (ms)", f"{result['durable_ms']['p99']:.2f}"),
            ("recovery (s)", f"{result['recovery_s']:.3f}"),
            ("recovered open orders", f"{result['recovered_open_orders']:,}"),
            ("recovered state equal", str(result["recovered_equal"])),
            ("python", platform.python_version()),
        ],
    )
    if as_json:
        print_json(result)
    return 0 if result["recovered_equal"] else 1


def _sqlite_ready(url: str, reset: bool) -> bool:
    database = make_url(url).database
    if not database or database == ":memory:":
        return True
    path = Path(database)
    if path.exists() and not reset:
        return False
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return True


async def _prepare(engine: AsyncEngine) -> None:
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {BENCH_SCHEMA} CASCADE"))
            await conn.execute(text(f"CREATE SCHEMA {BENCH_SCHEMA}"))
    await upgrade_engine(engine)


async def _measure(options: Options) -> dict[str, Any]:
    source = CommandSource(seed=options.seed, symbols=options.symbols)
    bridge_options: dict[str, Any] = {}
    if dialect_name(options.url) == "postgresql":
        bridge_options["schema"] = BENCH_SCHEMA
    async with open_bridge(options.url, **bridge_options) as bridge:
        await bridge.run(_prepare)
        status = WriterStatus()
        commits: list[float] = []
        flushes: list[float] = []
        measuring = False
        measured_rows = 0

        def on_commit(write_set: WriteSet, seconds: float, flush: float) -> None:
            nonlocal measured_rows
            if measuring:
                commits.append(seconds)
                flushes.append(flush)
                measured_rows += write_set.rows

        send, receive = trio.open_memory_channel[Batch](IN_FLIGHT)
        async with trio.open_nursery() as nursery:
            await nursery.start(lambda task_status: serve_writer(
                bridge, receive, Ledger(), status=status, max_events=options.max_events,
                on_commit=on_commit, task_status=task_status,
            ))
            async with send:
                await _feed(_live(source, source.preamble(options.batch)), send)
                mix = source.mix(options.commands, options.batch)
                if options.live_engine:
                    batches = _live(source, mix)
                else:
                    # The engine runs first: what is measured is the writer alone.
                    batches = _ready([source.run(chunk) for chunk in mix])
                # As the engine bench does: the long-lived objects made so far (books, ledger,
                # prepared batches) should not be rescanned by every garbage collection.
                gc.collect()
                gc.freeze()
                writes_before = status.writes
                measuring = True
                bar = Progress(options.commands, "persist", enabled=options.progress)
                start = time.perf_counter()
                durable = await _feed(batches, send, bar.update)
                seconds = time.perf_counter() - start
                measuring = False
                gc.unfreeze()
                bar.close()
                events = sum(count for count, _ in durable)
                writes = status.writes - writes_before
                await _feed(_live(source, source.resting(options.recovery_orders,
                                                         options.batch)), send)
        recovered = await recover(bridge)
        equal = _same_state(source.engine, recovered.engine)
    commits.sort()
    flushes.sort()
    latencies = sorted(latency for _, latency in durable)
    return {
        "bench": "persist",
        "database": dialect_name(options.url),
        "workload": "mixed",
        "commands": options.commands,
        "batch_commands": options.batch,
        "seed": options.seed,
        "live_engine": options.live_engine,
        "events": events,
        "seconds": round(seconds, 4),
        "events_per_s": round(events / seconds, 1) if seconds else 0.0,
        "commands_per_s": round(options.commands / seconds, 1) if seconds else 0.0,
        "writes": writes,
        "rows": measured_rows,
        "commit_ms": _ms(commits),
        "commit_statement_ms": _ms(flushes),
        "durable_ms": _ms(latencies),
        "recovery_s": round(recovered.seconds, 4),
        "recovered_open_orders": recovered.open_orders,
        "recovered_equal": equal,
        "retries": status.retries,
    }


def _ms(sorted_seconds: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(sorted_seconds, 0.50) * 1000, 3),
        "p99": round(percentile(sorted_seconds, 0.99) * 1000, 3),
        "max": round((sorted_seconds[-1] if sorted_seconds else 0.0) * 1000, 3),
    }


async def _live(source: CommandSource, chunks: Iterator[list[AnyCommand]],
                ) -> AsyncIterator[Batch]:
    """Batches made as they are needed, the engine running in a worker thread."""
    for chunk in chunks:
        yield await trio.to_thread.run_sync(source.run, chunk)


async def _ready(batches: list[Batch]) -> AsyncIterator[Batch]:
    for batch in batches:
        yield batch


async def _feed(batches: AsyncIterator[Batch], send: trio.MemorySendChannel[Batch],
                report: Callable[[int], None] | None = None) -> list[tuple[int, float]]:
    """Hands each batch to the writer without waiting for it to be durable (the channel's
    size bounds how many are in flight); returns `(events, seconds from hand-over to
    durable)` per batch once all are durable."""
    durable: list[tuple[int, float]] = []
    done = 0

    async def wait(batch: Batch, handed: float) -> None:
        await batch.durable.wait()
        durable.append((len(batch.events), time.perf_counter() - handed))

    async with trio.open_nursery() as waiters:
        async for batch in batches:
            handed = time.perf_counter()
            await send.send(batch)
            waiters.start_soon(wait, batch, handed)
            done += batch.commands
            if report is not None:
                report(done)
    return durable


def _same_state(original: Engine, recovered: Engine) -> bool:
    """Books (every level's orders in queue order), balances and counters agree."""
    if set(original.instruments) != set(recovered.instruments):
        return False
    for symbol, inst in original.instruments.items():
        other = recovered.instruments[symbol]
        for side, other_side in ((inst.bids, other.bids), (inst.asks, other.asks)):
            if side.depth() != other_side.depth():
                return False
            for price, level in side.levels.items():
                queue = [(o.order_id, o.quantity - o.filled, o.hold) for o in level.orders()]
                other_queue = [(o.order_id, o.quantity - o.filled, o.hold)
                               for o in other_side.levels[price].orders()]
                if queue != other_queue:
                    return False
        if (inst.buy_stops, inst.sell_stops, inst.sequence, inst.last_price) != (
            other.buy_stops, other.sell_stops, other.sequence, other.last_price
        ):
            return False
    balances = {
        (account_id, asset): (bal.total, bal.held)
        for account_id, account in original.accounts.items()
        for asset, bal in account.balances.items()
        if bal.total or bal.held
    }
    other_balances = {
        (account_id, asset): (bal.total, bal.held)
        for account_id, account in recovered.accounts.items()
        for asset, bal in account.balances.items()
        if bal.total or bal.held
    }
    return balances == other_balances and (
        original.next_order_id, original.next_trade_id, original.next_priority
    ) == (recovered.next_order_id, recovered.next_trade_id, recovered.next_priority)

