"""`exchange bench history`: a server restarted on a long history stays small, fast to
start, and quick to page through it while order entry runs.

The run, on the database of `--database-url` (a fresh one: the bench refuses a database
that already has orders):

1. *Baseline.* Offline (the server's own pipeline, `open_storage` and `Sequencer`, without
   HTTP), it creates the instrument, the accounts (with API keys) and one crossing pair
   (so that the first order is a filled one), then the `--open` orders that stay open to the
   end. A server is started on it: the time from spawn to `/readyz` 200 and its RSS are the
   baseline ("a fresh server with only the open orders"), then it is stopped.
2. *History.* Offline again, the rest of `--orders`: crossing pairs that fill at once (one
   trade each, about 30% of all orders in trades), and passive orders cancelled a round or
   two later. Commands go to the sequencer a round at a time (thousands queued at once), so
   the engine runs full batches and the writer group-commits. The open orders stay as they
   were. On PostgreSQL the tables are then ANALYZEd (unless `--no-analyze`), as autovacuum
   would long have done on a history that grew over months: right after a bulk load this
   fast the planner still has the statistics of a near-empty table, and picks plans for
   the history pages (a bitmap scan of all an account's orders, then a sort) that a server
   in service would not see.
3. *Restart.* A server is started on the full history: time to `/readyz` 200 and RSS after
   ready; then for `--seconds`, while order entry places and cancels orders over REST at
   `--rate` operations a second, one client times in turn `GET /v1/orders/{first order}`,
   a page of 100 closed orders before a random order id and a page of 100 fills before a
   random trade id (random accounts), and the server's RSS is read every second.

The figures stand beside the targets of the issue: RSS after restart at most 1.3 times the
baseline's, ready in under 5 s, p99 of each query under 50 ms, RSS within 10% across the
second half of the run.

The measured requests go over `bench.http.RawConnection` (a minimal keep-alive HTTP/1.1
connection), as in `bench http`: `httpx` costs about 1 ms of CPU a request, which on a small
machine would be taken from the server being measured. `httpx` polls `/readyz`.
"""

from __future__ import annotations

import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

import httpx
import msgspec
import trio

from exchange.bench.flow import px, qty
from exchange.bench.http import RawConnection
from exchange.bench.report import Progress, latency_ms, print_json, print_table, show_progress
from exchange.engine.codes import Side
from exchange.engine.commands import (
    AddInstrument,
    AnyCommand,
    CancelOrder,
    CreateAccount,
    Deposit,
    PlaceOrder,
)
from exchange.engine.events import (
    AccountCreated,
    AnyEvent,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    RequestRejected,
    TradeExecuted,
)
from exchange.pipeline.config import ConfigError, load_settings
from exchange.pipeline.metrics import Metrics
from exchange.pipeline.sequencer import Request, Sequencer
from exchange.pipeline.storage import StartupError, open_storage
from exchange.store.bridge import open_bridge
from exchange.store.database import analyze_tables, dialect_name, normalize_url
from exchange.store.rows import AccountInfo
from exchange.web.auth import new_api_key

SYMBOL = "HIST-USD"
BASE, QUOTE = "HIST", "USD"
MID = 10_000  # ticks of 0.01: 100.00; the crossing pairs trade here
TRADE_FRACTION = 0.3  # trades per order of the history (300,000 of 1,000,000)
DEFAULT_OPEN = 10_000
ROUND_ORDERS = 2_000  # orders placed per round of the offline fill
IN_FLIGHT_ROUNDS = 2  # rounds queued before the oldest is waited for
OPEN_PER_ACCOUNT = 5_000  # open orders per account at most (the engine's default limit: 10,000)
QUERY_PAUSE = 0.01  # seconds between two timed queries
READY_TIMEOUT = 300.0
STOP_TIMEOUT = 60.0
DEADLINE = 600.0  # seconds an offline command may wait in the inbox

TARGET_RSS_RATIO = 1.3
TARGET_READY_S = 5.0
TARGET_P99_MS = 50.0
TARGET_RSS_DRIFT_PCT = 10.0


class Refused(Exception):
    """The bench cannot run on this database (one line)."""


class ServerFailed(Exception):
    """The server subprocess exited or did not become ready (one line)."""


# -- THE PLAN --


@dataclass(frozen=True)
class Plan:
    """How many orders of each kind: one filled pair first, `open` open orders, then
    `pairs` more filled pairs and `cancels` orders placed and cancelled."""

    orders: int
    open: int
    pairs: int
    cancels: int
    accounts: int

    @classmethod
    def of(cls, orders: int, open_orders: int | None) -> Plan:
        if open_orders is None:
            open_orders = min(DEFAULT_OPEN, orders // 10)
        if orders < 2 or not 0 <= open_orders <= orders - 2:
            raise Refused("--orders must be at least 2, and --open at most --orders - 2")
        history = orders - 2 - open_orders
        pairs = max(0, min(round(orders * TRADE_FRACTION) - 1, history // 2))
        accounts = max(20, 2 * -(-open_orders // (2 * OPEN_PER_ACCOUNT)))
        return cls(orders, open_orders, pairs, history - 2 * pairs, accounts)

    @property
    def trades(self) -> int:
        return 1 + self.pairs


@dataclass
class Account:
    account_id: int
    api_key: str


@dataclass
class Filled:
    """What the offline fill left: the accounts and the ids the queries pick from."""

    accounts: list[Account] = field(default_factory=list)
    first_order_id: int = 0
    first_order_account: int = 0  # index into `accounts`
    last_order_id: int = 0
    last_trade_id: int = 0
    placed: int = 0
    trades: int = 0
    cancelled: int = 0
    rejected: int = 0
    seconds: float = 0.0


# -- THE OFFLINE FILL --


class Filler:
    """Runs commands through the server's pipeline on `url`, many at a time."""

    def __init__(self, url: str, plan: Plan, filled: Filled, seed: int,
                 progress: Progress | None) -> None:
        self.url = url
        self.plan = plan
        self.filled = filled
        self.rng = random.Random(seed)
        self.progress = progress
        self.done = 0  # orders placed and answered

    async def run(self, body: Callable[[Sequencer], Any], *, fresh: bool = False) -> None:
        """`body(sequencer)` with the pipeline on the database running around it; sealed
        after (the state hash of a clean shutdown, as the server stores it)."""
        settings = load_settings(database_url=self.url)
        async with open_storage(settings) as storage:
            engine = storage.engine
            if fresh and (engine.next_order_id > 1 or SYMBOL in engine.instruments):
                raise Refused(f"the database already has orders ({engine.next_order_id - 1:,}"
                              "): give the bench a fresh database")
            sequencer = Sequencer(engine, storage.journal, storage.readmodel, Metrics(),
                                  inbox_size=8 * ROUND_ORDERS, batch_limit=settings.batch_limit)
            async with trio.open_nursery() as nursery:
                await nursery.start(storage.journal.serve)
                await nursery.start(sequencer.serve_replies)
                await nursery.start(sequencer.serve_engine)
                try:
                    await body(sequencer)
                finally:
                    sequencer.close()
            self.filled.last_order_id = engine.next_order_id - 1
            self.filled.last_trade_id = engine.next_trade_id - 1
            await storage.seal()

    async def baseline(self, sequencer: Sequencer) -> None:
        """The instrument, the funded accounts, one filled pair, the open orders."""
        await self._check(sequencer, AddInstrument(
            symbol=SYMBOL, base=BASE, quote=QUOTE, tick_size=Decimal("0.01"),
            lot_size=Decimal("0.001"),
        ))
        for index in range(self.plan.accounts):
            api_key, key_id, key_hash = new_api_key()
            events = await self._check(sequencer, CreateAccount(), AccountInfo(
                0, f"history-{index}", key_id, key_hash))
            created = events[0]
            assert isinstance(created, AccountCreated)
            self.filled.accounts.append(Account(created.account_id, api_key))
        for account in self.filled.accounts:
            await self._check(sequencer, Deposit(account_id=account.account_id, asset=QUOTE,
                                                 amount=10**9 * 10**12))
            await self._check(sequencer, Deposit(account_id=account.account_id, asset=BASE,
                                                 amount=10**7 * 10**12))
        accounts = self.plan.accounts
        first = [*self._pair(), *(self._resting(index % accounts, far=True)
                                  for index in range(self.plan.open))]
        submitted = self._submit(sequencer, first)
        await self._collect(submitted, deque())
        _, index, request = submitted[0]
        accepted = next(event for event in request.events or () if type(event) is OrderAccepted)
        assert isinstance(accepted, OrderAccepted)
        self.filled.first_order_id, self.filled.first_order_account = accepted.order_id, index

    async def history(self, sequencer: Sequencer) -> None:
        """The crossing pairs and the cancelled orders, a round at a time."""
        plan = self.plan
        history_orders = 2 * plan.pairs + plan.cancels
        rounds = max(1, -(-history_orders // ROUND_ORDERS))
        cancellable: deque[tuple[int, int]] = deque()  # (account index, order id)
        in_flight: deque[list[tuple[str, int, Request]]] = deque()
        pairs_done = rests_done = 0
        for number in range(1, rounds + 1):
            pairs = plan.pairs * number // rounds - pairs_done
            rests = plan.cancels * number // rounds - rests_done
            pairs_done += pairs
            rests_done += rests
            units: list[list[tuple[str, int, AnyCommand]]] = [self._pair() for _ in range(pairs)]
            units += [[self._resting(self.rng.randrange(plan.accounts), far=False)]
                      for _ in range(rests)]
            while cancellable:
                index, order_id = cancellable.popleft()
                account_id = self.filled.accounts[index].account_id
                units.append([("cancel", index,
                               CancelOrder(account_id=account_id, order_id=order_id))])
            self.rng.shuffle(units)
            in_flight.append(self._submit(sequencer, [item for unit in units for item in unit]))
            while len(in_flight) > IN_FLIGHT_ROUNDS:
                await self._collect(in_flight.popleft(), cancellable)
        while in_flight:
            await self._collect(in_flight.popleft(), cancellable)
        last = [("cancel", index, CancelOrder(
            account_id=self.filled.accounts[index].account_id, order_id=order_id))
            for index, order_id in cancellable]
        cancellable.clear()
        await self._collect(self._submit(sequencer, last), cancellable)

    # -- commands --

    def _pair(self) -> list[tuple[str, int, AnyCommand]]:
        """A buy and a sell of the same quantity at the mid, from two accounts (buyers have
        even indexes, sellers odd ones): the sell fills the buy at once."""
        accounts = self.plan.accounts
        buyer = 2 * self.rng.randrange(accounts // 2)
        seller = 2 * self.rng.randrange(accounts // 2) + 1
        lots = self.rng.randint(1, 20)
        return [
            ("pair", buyer, self._place(buyer, Side.BUY, MID, lots)),
            ("pair", seller, self._place(seller, Side.SELL, MID, lots)),
        ]

    def _resting(self, index: int, *, far: bool) -> tuple[str, int, AnyCommand]:
        """A passive order: far from the mid (it stays open: 8 to 10 % off) or near it (one
        to a hundred ticks off, to be cancelled); neither ever crosses the pairs' price."""
        is_buy = self.rng.random() < 0.5
        offset = self.rng.randint(200, 1_000) if far else self.rng.randint(1, 100)
        price = MID - offset if is_buy else MID + offset
        return ("open" if far else "rest", index,
                self._place(index, Side.BUY if is_buy else Side.SELL, price,
                            self.rng.randint(1, 20)))

    def _place(self, index: int, side: Side, price: int, lots: int) -> PlaceOrder:
        return PlaceOrder(account_id=self.filled.accounts[index].account_id, symbol=SYMBOL,
                          side=side, price=price, quantity=lots)

    # -- submitting and collecting --

    async def _check(self, sequencer: Sequencer, command: AnyCommand,
                     record: AccountInfo | None = None) -> list[AnyEvent]:
        events = await sequencer.execute(command, account=record, deadline=DEADLINE)
        for event in events:
            if type(event) is RequestRejected or type(event) is OrderRejected:
                raise Refused(f"setup refused: {type(command).__name__}: {event.reason}")
        return events

    def _submit(self, sequencer: Sequencer, items: Sequence[tuple[str, int, AnyCommand]]
                ) -> list[tuple[str, int, Request]]:
        """Queues every command at once (the engine takes up to a batch at a time)."""
        return [(kind, index, sequencer.submit(command, deadline=DEADLINE))
                for kind, index, command in items]

    async def _collect(self, submitted: list[tuple[str, int, Request]],
                       cancellable: deque[tuple[int, int]]) -> None:
        filled = self.filled
        for kind, index, request in submitted:
            events = await request_events(request)
            for event in events:
                kind_of = type(event)
                if kind_of is OrderAccepted:
                    filled.placed += 1
                    if kind == "rest":
                        cancellable.append((index, event.order_id))  # type: ignore[union-attr]
                elif kind_of is TradeExecuted:
                    filled.trades += 1
                elif kind_of is OrderRejected or kind_of is RequestRejected:
                    filled.rejected += 1
                elif kind_of is OrderCancelled:
                    filled.cancelled += 1
            if kind != "cancel":
                self.done += 1
                if self.progress is not None:
                    self.progress.update(self.done)


async def request_events(request: Request) -> list[AnyEvent]:
    """A submitted request's events once durable (`Sequencer.wait` without the sequencer)."""
    with trio.move_on_at(request.deadline):
        await request.done.wait()
    if request.events is None:
        raise StartupError("an offline command was not answered in time")
    return request.events


# -- THE SERVER --


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    """The resident set of process `pid` in MiB (Linux: /proc/<pid>/status VmRSS)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Server:
    """`exchange serve` in a subprocess of its own, its output in a temporary file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by `stop`)
        self.process: trio.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> float:
        """Spawns the server; returns the seconds from spawn to `/readyz` 200."""
        command = [sys.executable, "-m", "exchange", "serve", "--database-url", self.url,
                   "--host", "127.0.0.1", "--port", str(self.port),
                   "--admin-token", secrets.token_hex(16)]
        started = time.perf_counter()
        self.process = await trio.lowlevel.open_process(
            command, stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ))
        async with httpx.AsyncClient(base_url=self.base, timeout=5.0) as client:
            while time.perf_counter() - started < READY_TIMEOUT:
                if self.process.poll() is not None:
                    raise ServerFailed(f"the server exited with {self.process.returncode}: "
                                       f"{self.last_line()}")
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    pass
                await trio.sleep(0.01)
        raise ServerFailed(f"not ready after {READY_TIMEOUT:.0f} s: {self.last_line()}")

    async def stop(self) -> int:
        """SIGTERM (a clean shutdown that stores the state hash); SIGKILL if it hangs."""
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with trio.move_on_after(STOP_TIMEOUT):
                await process.wait()
            if process.poll() is None:
                process.kill()
                await process.wait()
        self.log.close()
        return process.returncode or 0

    def last_line(self) -> str:
        self.log.seek(0)
        lines = self.log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"


# -- THE MEASUREMENT UNDER LOAD --


@dataclass
class QueryStats:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    rows: int = 0

    def summary(self) -> dict[str, Any]:
        latencies = sorted(self.latencies)
        return {
            "requests": len(latencies),
            "statuses": self.statuses,
            "rows_per_page": round(self.rows / len(latencies), 1) if latencies else 0.0,
            "latency_ms": latency_ms(latencies),
        }


@dataclass
class EntryStats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


class Connections:
    """One keep-alive connection per account, opened when first used."""

    def __init__(self, base: str, accounts: list[Account]) -> None:
        self.base = base
        self.accounts = accounts
        self.open: dict[int, RawConnection] = {}

    async def request(self, index: int, method: str, path: str, body: Any = None
                      ) -> tuple[int, Any]:
        conn = self.open.get(index)
        if conn is None:
            conn = self.open[index] = await RawConnection.open(self.base,
                                                                self.accounts[index].api_key)
        try:
            status, result = await conn.request(method, path, body)
        except (OSError, ValueError, msgspec.DecodeError):
            del self.open[index]
            await conn.aclose()
            raise
        if conn.closing:
            del self.open[index]
            await conn.aclose()
        return status, result

    async def aclose(self) -> None:
        for conn in self.open.values():
            await conn.aclose()
        self.open.clear()


async def _order_entry(conns: Connections, index: int, interval: float, deadline: float,
                       rng: random.Random, stats: EntryStats) -> None:
    """Places a passive order, cancels it, and so on, one operation every `interval`."""
    due = trio.current_time()
    live: int | None = None
    while time.monotonic() < deadline:
        due += interval
        await trio.sleep_until(due)
        started = time.perf_counter()
        try:
            if live is None:
                side = rng.choice(("buy", "sell"))
                price = MID - rng.randint(1, 100) if side == "buy" else MID + rng.randint(1, 100)
                status, result = await conns.request(index, "POST", "/v1/orders", {
                    "symbol": SYMBOL, "side": side, "type": "limit", "price": px(price),
                    "quantity": qty(rng.randint(1, 20))})
                if status < 300 and isinstance(result, dict):
                    live = result.get("order_id")
            else:
                status, _ = await conns.request(index, "DELETE", f"/v1/orders/{live}")
                live = None
        except (OSError, ValueError, msgspec.DecodeError):
            stats.errors += 1
            continue
        stats.latencies.append(time.perf_counter() - started)
        if status >= 300:
            stats.errors += 1


async def _queries(conns: Connections, filled: Filled, deadline: float, rng: random.Random,
                   stats: dict[str, QueryStats]) -> None:
    """The three timed queries in turn, one at a time."""
    accounts = len(filled.accounts)
    kinds = list(stats)
    turn = 0
    while time.monotonic() < deadline:
        kind = kinds[turn % len(kinds)]
        turn += 1
        if kind == "first_order":
            index, path = filled.first_order_account, f"/v1/orders/{filled.first_order_id}"
        elif kind == "closed_orders":
            index = rng.randrange(accounts)
            before = rng.randint(2, max(2, filled.last_order_id))
            path = f"/v1/orders?status=closed&limit=100&before={before}"
        else:
            index = rng.randrange(accounts)
            before = rng.randint(2, max(2, filled.last_trade_id))
            path = f"/v1/fills?limit=100&before={before}"
        item = stats[kind]
        started = time.perf_counter()
        try:
            status, result = await conns.request(index, "GET", path)
        except (OSError, ValueError, msgspec.DecodeError):
            item.statuses["error"] = item.statuses.get("error", 0) + 1
            continue
        item.latencies.append(time.perf_counter() - started)
        item.statuses[str(status)] = item.statuses.get(str(status), 0) + 1
        if isinstance(result, list):
            item.rows += len(result)
        await trio.sleep(QUERY_PAUSE)


async def _sample_rss(pid: int, started: float, deadline: float,
                      samples: list[tuple[float, float]]) -> None:
    while time.monotonic() < deadline:
        samples.append((round(time.monotonic() - started, 2), rss_mb(pid)))
        await trio.sleep(1.0)
    samples.append((round(time.monotonic() - started, 2), rss_mb(pid)))


async def _under_load(server: Server, filled: Filled, seconds: float, rate: float, seed: int,
                      progress: Progress | None) -> dict[str, Any]:
    rng = random.Random(seed)
    writers = min(len(filled.accounts), max(1, int(rate // 25) + 1))  # 25 ops/s per account
    entry = EntryStats()
    stats = {kind: QueryStats() for kind in ("first_order", "closed_orders", "fills")}
    samples: list[tuple[float, float]] = []
    entry_conns = Connections(server.base, filled.accounts)
    query_conns = Connections(server.base, filled.accounts)
    started = time.monotonic()
    deadline = started + seconds
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_sample_rss, server.pid, started, deadline, samples)
            if rate > 0:
                for index in range(writers):
                    nursery.start_soon(_order_entry, entry_conns, index, writers / rate,
                                       deadline, random.Random(seed * 1000 + index), entry)
            nursery.start_soon(_queries, query_conns, filled, deadline, rng, stats)
            await show_progress(progress, started, deadline)
    finally:
        await entry_conns.aclose()
        await query_conns.aclose()
    elapsed = time.monotonic() - started
    half = [rss for at, rss in samples if at >= seconds / 2]
    drift = (max(abs(rss - half[0]) for rss in half) / half[0] * 100
             if half and half[0] else 0.0)
    latencies = sorted(entry.latencies)
    return {
        "seconds": round(elapsed, 3),
        "queries": {kind: item.summary() for kind, item in stats.items()},
        "order_entry": {
            "requests": len(latencies),
            "errors": entry.errors,
            "per_s": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
            "latency_ms": latency_ms(latencies),
        },
        "rss_samples_mb": [rss for _, rss in samples],
        "rss_second_half_drift_pct": round(drift, 2),
    }


# -- THE RUN --


@dataclass(frozen=True)
class Options:
    url: str
    plan: Plan
    seconds: float
    rate: float
    seed: int
    progress: bool
    analyze: bool = True


async def analyze(url: str) -> bool:
    """ANALYZE on PostgreSQL (fresh planner statistics); False elsewhere (nothing done)."""
    target = normalize_url(url)
    if dialect_name(target) != "postgresql":
        return False
    async with open_bridge(target) as bridge:
        await bridge.run(analyze_tables)
    return True


async def _measure(options: Options) -> dict[str, Any]:
    plan = options.plan
    filled = Filled()
    bar = Progress(plan.orders, "history fill", enabled=options.progress)
    filler = Filler(options.url, plan, filled, options.seed, bar if options.progress else None)
    started = time.perf_counter()
    await filler.run(filler.baseline, fresh=True)
    baseline_fill_s = time.perf_counter() - started

    server = Server(options.url)
    try:
        baseline_ready = await server.start()
        baseline_rss = rss_mb(server.pid)
    finally:
        await server.stop()

    started = time.perf_counter()
    await filler.run(filler.history)
    history_fill_s = time.perf_counter() - started
    bar.close()
    started = time.perf_counter()
    analyzed = options.analyze and await analyze(options.url)
    analyze_s = time.perf_counter() - started

    server = Server(options.url)
    try:
        ready = await server.start()
        rss = rss_mb(server.pid)
        load_bar = Progress(max(1, int(options.seconds)), "history queries",
                            enabled=options.progress)
        loaded = await _under_load(server, filled, options.seconds, options.rate, options.seed,
                                   load_bar if options.progress else None)
    finally:
        exit_code = await server.stop()

    queries = loaded["queries"]
    ratio = rss / baseline_rss if baseline_rss else 0.0
    fill_s = baseline_fill_s + history_fill_s
    met = {
        "rss_ratio": ratio <= TARGET_RSS_RATIO,
        "ready_s": ready < TARGET_READY_S,
        **{f"{kind}_p99": queries[kind]["latency_ms"]["p99"] < TARGET_P99_MS
           for kind in queries},
        "rss_flat": loaded["rss_second_half_drift_pct"] <= TARGET_RSS_DRIFT_PCT,
    }
    return {
        "bench": "history",
        "database": options.url.split(":", 1)[0].split("+", 1)[0],
        "orders": plan.orders,
        "open_orders": plan.open,
        "accounts": plan.accounts,
        "seed": options.seed,
        "placed": filled.placed,
        "trades": filled.trades,
        "cancelled": filled.cancelled,
        "rejected": filled.rejected,
        "last_order_id": filled.last_order_id,
        "last_trade_id": filled.last_trade_id,
        "first_order_id": filled.first_order_id,
        "fill_s": round(fill_s, 2),
        "fill_orders_per_s": round(filled.placed / fill_s, 1) if fill_s else 0.0,
        "analyzed": analyzed,
        "analyze_s": round(analyze_s, 2),
        "baseline": {"ready_s": round(baseline_ready, 3), "rss_mb": baseline_rss},
        "ready_s": round(ready, 3),
        "rss_mb": rss,
        "rss_ratio": round(ratio, 3),
        **loaded,
        "server_exit_code": exit_code,
        "targets": {"rss_ratio_max": TARGET_RSS_RATIO, "ready_s_max": TARGET_READY_S,
                    "p99_ms_max": TARGET_P99_MS,
                    "rss_second_half_drift_pct_max": TARGET_RSS_DRIFT_PCT},
        "met": met,
        "python": platform.python_version(),
    }


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    met = result["met"]
    rows = [
        ("orders placed", f"{result['placed']:,}"),
        ("open orders", f"{result['open_orders']:,}"),
        ("trades", f"{result['trades']:,}"),
        ("cancelled", f"{result['cancelled']:,}"),
        ("rejected (expected 0)", f"{result['rejected']:,}"),
        ("offline fill (s)", f"{result['fill_s']:,.1f}"),
        ("offline fill orders/s", f"{result['fill_orders_per_s']:,.0f}"),
        ("ANALYZE after the fill", "yes" if result["analyzed"] else "no"),
        ("baseline ready (s)", f"{result['baseline']['ready_s']:.3f}"),
        ("baseline RSS (MiB)", f"{result['baseline']['rss_mb']:.1f}"),
        (f"ready (s), target < {TARGET_READY_S:g}  {_verdict(met['ready_s'])}",
         f"{result['ready_s']:.3f}"),
        ("RSS after restart (MiB)", f"{result['rss_mb']:.1f}"),
        (f"RSS / baseline, target <= {TARGET_RSS_RATIO:g}  {_verdict(met['rss_ratio'])}",
         f"{result['rss_ratio']:.3f}"),
    ]
    for kind, item in result["queries"].items():
        statuses = ",".join(f"{code}:{count}" for code, count in sorted(item["statuses"].items()))
        rows += [
            (f"{kind} requests (status:count)", statuses or "-"),
            (f"{kind} p50 ms", f"{item['latency_ms']['p50']:.2f}"),
            (f"{kind} p99 ms, target < {TARGET_P99_MS:g}  {_verdict(met[f'{kind}_p99'])}",
             f"{item['latency_ms']['p99']:.2f}"),
        ]
    entry = result["order_entry"]
    rows += [
        ("order entry ops/s", f"{entry['per_s']:,.1f}"),
        ("order entry errors", f"{entry['errors']:,}"),
        ("order entry p99 ms", f"{entry['latency_ms']['p99']:.2f}"),
        (f"RSS drift, second half (%), target <= {TARGET_RSS_DRIFT_PCT:g}  "
         f"{_verdict(met['rss_flat'])}", f"{result['rss_second_half_drift_pct']:.2f}"),
        ("RSS at the end (MiB)", f"{result['rss_samples_mb'][-1]:.1f}"
         if result["rss_samples_mb"] else "-"),
        ("python", result["python"]),
    ]
    return rows


def run_history_bench(*, url: str | None, orders: int, open_orders: int | None = None,
                      seconds: float = 20.0, rate: float = 100.0, seed: int = 1,
                      analyze: bool = True, as_json: bool = False, progress: bool = False
                      ) -> int:
    """The command: exit code 2 if the database or the options do not do, 1 if the server
    failed, else 0 (the targets are reported, not enforced)."""
    if not url:
        print("exchange bench history: --database-url (or EXCHANGE_DATABASE_URL) is required")
        return 2
    try:
        plan = Plan.of(orders, open_orders)
        load_settings(database_url=url)  # a bad URL: one line
        try:
            result = trio.run(_measure, Options(url, plan, seconds, rate, seed, progress,
                                                analyze))
        except BaseExceptionGroup as group:  # a nursery's: the first error stands for it
            raise _first_leaf(group) from group
    except (Refused, ConfigError, StartupError) as exc:
        print(f"exchange bench history: {exc}")
        return 2
    except (ServerFailed, OSError, httpx.HTTPError) as exc:
        print(f"exchange bench history: {exc or type(exc).__name__}")
        return 1
    print_table(
        f"history bench: {result['database']}, {orders:,} orders ({plan.open:,} open), "
        f"{seconds:g} s of queries while order entry runs at {rate:g} ops/s",
        report_rows(result),
    )
    if as_json:
        print_json(result)
    failed = (result["server_exit_code"] != 0
              or result["queries"]["first_order"]["statuses"].get("200", 0) == 0)
    return 1 if failed else 0
