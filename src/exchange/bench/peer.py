"""`exchange bench peer`: a recorded command stream replayed against the PyPI
`matching-engine` 0.1.1 peer, so the two engines are timed on the identical commands.

The peer is imported lazily and is never a dependency of this project: install it beside
this package (`pip install matching-engine==0.1.1`; it needs Python 3.12 or later) to run
the comparison. It is one market per engine, has no balances, stops, amends or time-based
expiry, and names orders by the caller's id, so the stream is translated:

- a limit or market placement becomes a `NewOrder` (GTD rests as GTC; our self-trade
  policies map onto the peer's: newest = taker, oldest = maker); a placement by quote
  amount, a stop-market and a stop-limit are skipped (they still take an order id, as in
  this engine);
- a cancel becomes a `CancelOrder`; an amend becomes a `CancelOrder` and, if anything is
  left, a `NewOrder` with the new price or total quantity (the order loses its place);
- reference data, accounts, deposits, withdrawals, cancel-all, halts and expiries are skipped.

The peer's orders carry the ids this engine gives them: before the peer's run the file is
replayed once through this engine (untimed) to learn which id each placement gets (a
placement it refuses goes to the peer under an id nothing refers to), so every recorded
cancel and amend reaches the order it was recorded for. The commands are built before the
clock starts, but an amend, which depends on the peer's book (what is left of the order):
like `exchange bench engine --workload-file`, only the replay is timed.
"""

from __future__ import annotations

import gc
import importlib
import platform
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from exchange.bench.engine import CHUNK, SAMPLE_EVERY
from exchange.bench.recorded import WorkloadFileError, WorkloadReader
from exchange.bench.report import Progress, percentile, print_json, print_table
from exchange.engine import Engine
from exchange.engine.codes import OrderType, SelfTradePrevention, TimeInForce
from exchange.engine.commands import AmendOrder, AnyCommand, CancelOrder, PlaceOrder
from exchange.engine.events import OrderAccepted
from exchange.gctuning import freeze_long_lived

PEER = "matching-engine"
PEER_VERSION = "0.1.1"
NOT_INSTALLED = (f"the peer is not installed: pip install {PEER}=={PEER_VERSION} "
                 "(Python 3.12 or later) into the environment that runs this command")

# Ours in microseconds, the peer's in nanoseconds.
_NS = 1000


class PeerMissingError(RuntimeError):
    """The peer package cannot be imported."""


def load_peer() -> ModuleType:
    """The peer's top-level module, with its engine and events imported."""
    try:
        module = importlib.import_module("matching_engine")
        importlib.import_module("matching_engine.engine")
        importlib.import_module("matching_engine.events")
    except ImportError:
        raise PeerMissingError(NOT_INSTALLED) from None
    except SyntaxError:  # installed against its Requires-Python: its code is 3.12 syntax
        raise PeerMissingError(f"{PEER} needs Python 3.12 or later; this is "
                               f"{platform.python_version()}") from None
    return module


def run_peer_bench(*, workload_file: str, commands: int | None = None, as_json: bool = False,
                   progress: bool = False) -> int:
    try:
        result = measure(workload_file=workload_file, commands=commands, progress=progress)
    except (WorkloadFileError, PeerMissingError) as exc:
        print(f"exchange bench peer: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"exchange bench peer: {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    lat = result["latency_us"]
    print_table(
        f"peer bench: {PEER} {result['peer_version']}, file {workload_file}, "
        f"{result['commands']:,} commands",
        [
            ("commands/s", f"{result['commands_per_s']:,.0f}"),
            ("seconds", f"{result['seconds']:.3f}"),
            ("sent to the peer", f"{result['sent']:,}"),
            ("skipped", f"{result['skipped']:,}"),
            ("amends as cancel + new", f"{result['amends']:,}"),
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


@dataclass
class _Tally:
    skipped: int = 0
    amends: int = 0
    events: int = 0
    trades: int = 0
    rejects: int = 0
    samples: list[int] = field(default_factory=list)


class Adapter:
    """Translates our commands into the peer's and feeds them to one peer engine a market.

    `order_ids` gives, placement by placement, the id this engine gave it (0: refused), so
    the peer's orders carry our ids and the recorded cancels and amends need no translation."""

    def __init__(self, peer: ModuleType, order_ids: Iterator[int]) -> None:
        self.peer = peer
        self.order_ids = order_ids
        self.new_order = peer.NewOrder
        self.cancel_order = peer.CancelOrder
        self.stamp = peer.SequencedCommand
        self.rejected = peer.events.OrderRejected
        self.trade = peer.events.Trade
        self.side = {"buy": peer.Side.BUY, "sell": peer.Side.SELL}
        self.tif = {TimeInForce.GTC: peer.TimeInForce.GTC, TimeInForce.GTD: peer.TimeInForce.GTC,
                    TimeInForce.IOC: peer.TimeInForce.IOC, TimeInForce.FOK: peer.TimeInForce.FOK}
        stp = peer.SelfTradePrevention
        self.stp = {SelfTradePrevention.CANCEL_NEWEST: stp.CANCEL_TAKER,
                    SelfTradePrevention.CANCEL_OLDEST: stp.CANCEL_MAKER,
                    SelfTradePrevention.CANCEL_BOTH: stp.CANCEL_BOTH,
                    SelfTradePrevention.NONE: stp.NONE}
        self.engines: dict[str, Any] = {}
        self.seq = 0
        self.places = 0
        # Our order id -> the peer engine of its market and its total quantity.
        self.orders: dict[int, tuple[Any, int]] = {}

    def engine(self, symbol: str) -> Any:
        engine = self.engines.get(symbol)
        if engine is None:
            engine = self.engines[symbol] = self.peer.engine.MatchingEngine()
        return engine

    def prepare(self, command: AnyCommand) -> tuple[Any, ...] | None:
        """What the replay does for `command`, built ahead of the clock; None: skipped."""
        kind = type(command)
        if kind is PlaceOrder:
            assert isinstance(command, PlaceOrder)
            return self._place(command)
        if kind is CancelOrder:
            assert isinstance(command, CancelOrder)
            self.seq += 1
            process = self._market(command.order_id)
            order = self.cancel_order(command.order_id, command.account_id)
            return (_CANCEL, process, self.stamp(self.seq, command.ts * _NS, order))
        if kind is AmendOrder:
            assert isinstance(command, AmendOrder)
            self.seq += 2  # the cancel and the new order
            return (_AMEND, self._market(command.order_id), command, self.seq,
                    command.ts * _NS)
        return None

    def _place(self, cmd: PlaceOrder) -> tuple[Any, ...] | None:
        self.places += 1
        our_id = next(self.order_ids, 0)
        # An order this engine refused still goes to the peer, under an id nothing refers to.
        order_id = our_id or -self.places
        process = self.engine(cmd.symbol).process
        if our_id:
            self.orders[our_id] = (process, cmd.quantity or 0)
        if cmd.type == OrderType.LIMIT and cmd.price is not None:
            order_type, price = self.peer.OrderType.LIMIT, cmd.price
            tif = self.tif[cmd.time_in_force]
        elif cmd.type == OrderType.MARKET:
            order_type, price = self.peer.OrderType.MARKET, 0
            tif = (self.peer.TimeInForce.FOK if cmd.time_in_force == TimeInForce.FOK
                   else self.peer.TimeInForce.IOC)
        else:
            order_type = None
        if order_type is None or cmd.quantity is None:
            return None  # stops and placements by quote amount do not map
        self.seq += 1
        order = self.new_order(order_id, cmd.account_id, self.side[cmd.side], price,
                               cmd.quantity, order_type, tif, cmd.post_only,
                               self.stp[cmd.self_trade_prevention])
        return (_PLACE, process, self.stamp(self.seq, cmd.ts * _NS, order))

    def _market(self, our_id: int) -> Any:
        known = self.orders.get(our_id)
        if known is not None:
            return known[0]
        # An id this engine never gave out: any market rejects it as unknown.
        return (next(iter(self.engines.values())) if self.engines else self.engine("")).process

    def run(self, op: tuple[Any, ...]) -> Any:
        """Replays one prepared command: the part that is timed. The peer's list of events."""
        if op[0] is not _AMEND:
            return op[1](op[2])
        _, process, amend, seq, ts = op
        order_id, account = amend.order_id, amend.account_id
        resting = process.__self__.book.orders.get(order_id)
        events: list[Any] = process(self.stamp(seq - 1, ts, self.cancel_order(order_id, account)))
        if resting is None or type(events[0]) is self.rejected:
            return events
        left = resting.remaining
        if amend.quantity is not None:
            known, total = self.orders[order_id]
            left = amend.quantity - (total - left)
            self.orders[order_id] = (known, amend.quantity)
        if left > 0:
            price = resting.price if amend.price is None else amend.price
            events += process(self.stamp(seq, ts, self.new_order(
                order_id, account, resting.side, price, left)))
        return events

    def count(self, tally: _Tally, results: list[list[Any]]) -> None:
        trade, rejected = self.trade, self.rejected
        for events in results:
            tally.events += len(events)
            for event in events:
                kind = type(event)
                if kind is trade:
                    tally.trades += 1
                elif kind is rejected:
                    tally.rejects += 1


def our_order_ids(path: str) -> list[int]:
    """The id this engine gives each placement of the file, in order (0: refused), found by
    replaying it through the engine once before the peer's run."""
    reader = WorkloadReader(path)
    engine = Engine()
    ids: list[int] = []
    try:
        for command in reader:
            events = engine.handle(command)
            if type(command) is PlaceOrder:
                ids.append(next((e.order_id for e in events if type(e) is OrderAccepted
                                 and e.order is command), 0))
    finally:
        reader.close()
    return ids


_PLACE = "place"
_CANCEL = "cancel"
_AMEND = "amend"


def measure(*, workload_file: str, commands: int | None = None, progress: bool = False,
            peer: ModuleType | None = None) -> dict[str, Any]:
    """Replays the file's warm-up untimed, then its commands timed the way
    `exchange bench engine` times ours: chunks of `CHUNK`, one command in `SAMPLE_EVERY`
    timed alone for the latency figures, the collector frozen as `exchange serve` does."""
    peer = load_peer() if peer is None else peer
    reader = WorkloadReader(workload_file)
    try:
        total = reader.commands if commands is None else min(commands, reader.commands)
        adapter = Adapter(peer, iter(our_order_ids(workload_file)))
        run = adapter.run
        for command in reader.read(reader.warmup):
            op = adapter.prepare(command)
            if op is not None:
                run(op)
        tally = _Tally()
        bar = Progress(total, "peer", enabled=progress)
        clock = time.perf_counter
        clock_ns = time.perf_counter_ns
        samples = tally.samples
        busy = 0.0
        done = 0
        thresholds = gc.get_threshold()
        freeze_long_lived()
        try:
            while done < total:
                chunk = reader.read(min(CHUNK, total - done))
                if not chunk:
                    raise WorkloadFileError(f"{reader.path}: ends before the "
                                            f"{reader.commands:,} commands its header announces")
                ops = []
                for command in chunk:
                    op = adapter.prepare(command)
                    if op is None:
                        tally.skipped += 1
                    else:
                        ops.append(op)
                        if op[0] is _AMEND:
                            tally.amends += 1
                results: list[list[Any]] = []
                append = results.append
                start = clock()
                for i in range(0, len(ops), SAMPLE_EVERY):
                    t0 = clock_ns()
                    append(run(ops[i]))
                    samples.append(clock_ns() - t0)
                    for op in ops[i + 1 : i + SAMPLE_EVERY]:
                        append(run(op))
                busy += clock() - start
                done += len(chunk)
                adapter.count(tally, results)
                bar.update(done)
        finally:
            bar.close()
            gc.unfreeze()
            gc.set_threshold(*thresholds)
    finally:
        reader.close()
    samples.sort()
    return {
        "bench": "peer",
        "peer": PEER,
        "peer_version": getattr(peer, "__version__", "?"),
        "workload": "file",
        "commands": total,
        "sent": total - tally.skipped,
        "skipped": tally.skipped,
        "amends": tally.amends,
        "seconds": round(busy, 4),
        "commands_per_s": round(total / busy, 1) if busy else 0.0,
        "trades": tally.trades,
        "events": tally.events,
        "rejects": tally.rejects,
        "open_orders": sum(len(engine.book.orders) for engine in adapter.engines.values()),
        "latency_us": {
            "p50": round(percentile(samples, 0.50) / 1000, 3),
            "p99": round(percentile(samples, 0.99) / 1000, 3),
            "p999": round(percentile(samples, 0.999) / 1000, 3),
        },
    }
