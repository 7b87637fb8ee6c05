"""`exchange bench fanout`: S subscribers of one symbol's book and trades while orders arrive.

Phases: the driver's accounts are created and funded; S subscribers connect (at most 32
handshakes at a time), subscribe to `book.<symbol>` and `trades.<symbol>` and wait for their
snapshot; then a driver places the `mixed` order mix (bench/flow.py, which trades and moves
the book) at `--rate` ops per second for `--duration` seconds over a few WebSocket
connections, each its own account; subscribers keep reading until nothing arrived for a
second (at most 15 s), then stop.

What is measured, by every subscriber:

- `delivery_latency_ms`: for each trade message, the receiving process's wall clock minus
  the trade's `ts` (stamped by the engine when it ran the order, before the commit; same
  machine, same clock), so it covers commit, fan-out, queueing and delivery. Book updates
  carry no time stamp and are not timed.
- `gaps`: book updates whose `first_sequence` is not the previous `sequence + 1`, summed
  over subscribers that were not disconnected; `disconnected`: subscribers the server
  closed (4008: slow consumer) or that lost their connection.
- `messages_delivered_per_s`: messages received by all subscribers during the driving
  window (a frame that is a JSON array counts each message), per second;
  `frames_delivered_per_s` the WebSocket frames that carried them.
- `updates_per_s`: what the server published for the symbol per second of the window,
  before any merging for slow subscribers: book changes (the rise of the book's sequence
  from a subscriber's snapshot to its last update) plus trades.
- `trades_received`: fewest and most trades one subscriber received (equal when every
  trade reached everybody).

`--stalled N` adds N subscribers that subscribe to the same channels, read their snapshot
and then stop reading, as a client that hangs would (with a receive buffer of 16 KiB, so
that they stall within the bench's seconds, not once a default one has filled): the server
should close them with 4008 (slow consumer) within about `ws_outbox_max_age` of their
buffers filling, before the kernel's `send_timeout` resets them. After the window each reads
to learn its fate: `stalled` counts them by what they saw (`closed_4008`, `closed_other`,
`reset`: the connection was reset or cut without a close frame; `open`: still open), and
`slow_consumers` is the rise of the server's `exchange_ws_slow_consumers_total` (`/metrics`)
over the bench. Order entry beside it (`exchange bench ws` against the same server) shows
what they cost everyone else.

Subscribers use `RawWebSocket` and decode each frame once with msgspec into small structs;
per subscriber only the sequence, counts and latency samples are kept. `--processes N`
spreads them over N processes (spawned; the parent runs the driver) when one process cannot
read fast enough: a subscriber that falls behind would itself be the slow consumer.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import re
import resource
import time
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import httpx
import msgspec
import trio

from exchange.bench.flow import SYMBOL, Market, Op, OrderFlow, setup_accounts
from exchange.bench.rawws import RawClosed, RawWebSocket
from exchange.bench.report import (
    Progress,
    latency_ms,
    latency_rows,
    run_network_bench,
)

DRIVERS = 4
GRACE = 1.0  # seconds the driver waits for its last answers
QUIET = 1.0  # after the window, subscribers stop once nothing arrived for this long ...
DRAIN = 15.0  # ... or this long after the window at most
CONNECTING = 32  # handshakes at a time
UNANSWERED = 256  # ops a driver connection may have in flight
FATE_WAIT = 3.0  # after the window, how long a stalled subscriber reads to learn its fate
STALLED_RCVBUF = 16 * 1024


class _Message(msgspec.Struct):
    type: str
    first_sequence: int = 0
    sequence: int = 0
    ts: str | int | float | None = None  # ISO 8601 in trades; anything elsewhere


_decode = msgspec.json.Decoder(list[_Message] | _Message).decode
_encode = msgspec.json.Encoder().encode


def raise_open_files_limit() -> None:
    """Raises this process's soft limit on open files to its hard limit (a thousand
    sockets do not fit the usual 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass
class Window:
    """The driving window in wall-clock seconds, and when subscribers stop."""

    start: float = 0.0
    end: float = 0.0
    stop: float = 0.0


@dataclass(slots=True)
class _Subscriber:
    sequence: int | None = None
    snapshot_sequence: int = 0
    gaps: int = 0
    trades: int = 0
    disconnected: bool = False


@dataclass
class GroupStats:
    """What a group of subscribers (one process) saw."""

    subscribers: int = 0
    ready: int = 0
    settled: int = 0
    messages: int = 0
    frames: int = 0
    latencies: list[float] = field(default_factory=list)
    states: list[_Subscriber] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        alive = [state for state in self.states if not state.disconnected]
        trades = [state.trades for state in alive]
        return {
            "subscribers": self.subscribers, "ready": self.ready, "messages": self.messages,
            "frames": self.frames,
            "latencies": self.latencies,
            "published": max((state.sequence - state.snapshot_sequence + state.trades
                              for state in alive if state.sequence is not None), default=0),
            "disconnected": len(self.states) - len(alive),
            "gaps": sum(state.gaps for state in alive),
            "trades_min": min(trades, default=0), "trades_max": max(trades, default=0),
        }


class SubscriberGroup:
    """S subscribers in this process; `run` connects them, then reads until nothing arrived
    for `QUIET` seconds after the window's end (or until `window.stop`)."""

    def __init__(self, url: str, symbol: str, count: int) -> None:
        self.url = url
        self.symbol = symbol
        self.stats = GroupStats(subscribers=count,
                                states=[_Subscriber() for _ in range(count)])
        self.window: Window | None = None
        self.all_ready = trio.Event()
        self.window_known = trio.Event()
        self._times: dict[str, float] = {}  # trade ts -> epoch seconds, shared by all
        self.last_received = 0.0  # time.time() of the latest frame of any subscriber

    def set_window(self, window: Window) -> None:
        self.window = window
        self.window_known.set()

    async def run(self) -> None:
        limiter = trio.CapacityLimiter(CONNECTING)
        async with trio.open_nursery() as nursery:
            for state in self.stats.states:
                nursery.start_soon(self._subscriber, state, limiter)
            await self.window_known.wait()
            assert self.window is not None
            await trio.sleep(max(0.0, self.window.end - time.time()))
            while time.time() < self.window.stop:
                if time.time() - self.last_received > QUIET:
                    break
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()

    def _settle(self) -> None:
        # Ready, or failed before it was: the bench starts once every subscriber settled.
        self.stats.settled += 1
        if self.stats.settled == self.stats.subscribers:
            self.all_ready.set()

    def _epoch(self, ts: str) -> float:
        seconds = self._times.get(ts)
        if seconds is None:
            if len(self._times) > 100_000:
                self._times.clear()
            seconds = self._times[ts] = datetime.fromisoformat(ts).timestamp()
        return seconds

    async def _subscriber(self, state: _Subscriber,
                          limiter: trio.CapacityLimiter) -> None:
        stats = self.stats
        async with limiter:
            try:
                ws = await RawWebSocket.open(self.url)
            except OSError:
                state.disconnected = True
                self._settle()
                return
        ready = False
        try:
            await ws.send_text(_encode({"op": "subscribe", "id": 1, "channels": [
                f"book.{self.symbol}", f"trades.{self.symbol}"]}))
            while True:
                payloads = await ws.receive()
                now = self.last_received = time.time()
                window = self.window
                inside = window is not None and window.start <= now <= window.end
                if inside:
                    stats.frames += len(payloads)
                for payload in payloads:
                    decoded = _decode(payload)
                    for message in decoded if isinstance(decoded, list) else (decoded,):
                        kind = message.type
                        if kind == "update":
                            if (state.sequence is not None
                                    and message.first_sequence != state.sequence + 1):
                                state.gaps += 1
                            state.sequence = message.sequence
                        elif kind == "trade":
                            state.trades += 1
                            if (window is not None and window.start <= now
                                    and isinstance(message.ts, str)):
                                stats.latencies.append(now - self._epoch(message.ts))
                        elif kind == "snapshot":
                            state.sequence = state.snapshot_sequence = message.sequence
                        if inside:
                            stats.messages += 1
                if not ready and state.sequence is not None:
                    ready = True
                    stats.ready += 1
                    self._settle()
        except (RawClosed, OSError):
            state.disconnected = True
            if not ready:
                self._settle()
        finally:
            await ws.aclose()


# -- SUBSCRIBER PROCESSES --

def _child(connection: Connection, url: str, symbol: str, count: int) -> None:
    """A spawned process's main: a group of subscribers steered over a pipe."""
    raise_open_files_limit()
    trio.run(_child_main, connection, url, symbol, count)


async def _child_main(connection: Connection, url: str, symbol: str, count: int) -> None:
    group = SubscriberGroup(url, symbol, count)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(group.run)
        await group.all_ready.wait()
        connection.send("ready")
        start, end, stop = await trio.to_thread.run_sync(connection.recv)
        group.set_window(Window(start, end, stop))
    connection.send(group.stats.summary())


class _Remote:
    """A subscriber process seen from the parent."""

    def __init__(self, url: str, symbol: str, count: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_child, args=(child, url, symbol, count),
                                       daemon=True)
        self.process.start()
        child.close()

    async def ready(self) -> None:
        # abandon_on_cancel: the caller's deadline must be able to give up on a dead child.
        message = await trio.to_thread.run_sync(self.connection.recv, abandon_on_cancel=True)
        if message != "ready":
            raise RuntimeError(f"subscriber process: unexpected {message!r}")

    async def result(self) -> dict[str, Any]:
        summary: dict[str, Any] = await trio.to_thread.run_sync(self.connection.recv,
                                                                abandon_on_cancel=True)
        await trio.to_thread.run_sync(self.process.join, 10)
        return summary


# -- STALLED SUBSCRIBERS --

class StalledGroup:
    """N subscribers that stop reading once subscribed; `fates` counts how each ended."""

    def __init__(self, url: str, symbol: str, count: int) -> None:
        self.url = url
        self.symbol = symbol
        self.count = count
        self.fates = {"closed_4008": 0, "closed_other": 0, "reset": 0, "open": 0}
        self.ready = trio.Event()
        self._settled = 0

    async def run(self, window_known: trio.Event, window: Window) -> None:
        """Connects all, then (once `window_known`) waits for the window's end and reads."""
        if not self.count:
            self.ready.set()
            return
        limiter = trio.CapacityLimiter(CONNECTING)
        async with trio.open_nursery() as nursery:
            for _ in range(self.count):
                nursery.start_soon(self._one, limiter, window_known, window)

    def _settle(self) -> None:
        self._settled += 1
        if self._settled == self.count:
            self.ready.set()

    async def _one(self, limiter: trio.CapacityLimiter, window_known: trio.Event,
                   window: Window) -> None:
        try:
            async with limiter:
                ws = await RawWebSocket.open(self.url, rcvbuf=STALLED_RCVBUF)
        except OSError:
            self.fates["reset"] += 1
            self._settle()
            return
        try:
            try:
                await ws.send_text(_encode({"op": "subscribe", "id": 1, "channels": [
                    f"book.{self.symbol}", f"trades.{self.symbol}"]}))
                while not any(b'"snapshot"' in payload for payload in await ws.receive()):
                    pass
            finally:
                self._settle()
            # From here on it reads nothing until the window is over.
            await window_known.wait()
            await trio.sleep(max(0.0, window.end - time.time()))
            with trio.move_on_after(FATE_WAIT):
                while True:
                    await ws.receive()
            self.fates["open"] += 1
        except RawClosed as closed:
            self.fates["closed_4008" if closed.code == 4008 else "closed_other"] += 1
        except (OSError, trio.BrokenResourceError):
            self.fates["reset"] += 1
        finally:
            await ws.aclose()


async def slow_consumers(url: str) -> float:
    """The server's `exchange_ws_slow_consumers_total` (-1 if `/metrics` does not say)."""
    async with httpx.AsyncClient(base_url=url) as http:
        text = (await http.get("/metrics")).text
    found = re.search(r"^exchange_ws_slow_consumers_total (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else -1.0


# -- DRIVER --

async def _driver(url: str, api_key: str, flow: OrderFlow, rate: float, window: Window,
                  counts: dict[str, int]) -> None:
    """Sends ops at `rate` per second until the window ends, without waiting for answers
    (at most 256 unanswered)."""
    ws = await RawWebSocket.open(url, api_key)
    sent: dict[int, Op] = {}
    permits = trio.Semaphore(UNANSWERED)

    async def receive() -> None:
        decode = msgspec.json.decode
        while True:
            for payload in await ws.receive():
                decoded = decode(payload)
                for reply in decoded if isinstance(decoded, list) else (decoded,):
                    op = sent.pop(reply.get("id", -1), None)
                    if op is None:
                        continue
                    permits.release()
                    if reply.get("type") == "result":
                        counts["results"] += 1
                        flow.observe(op, reply.get("order"))
                    else:
                        counts["refused"] += 1

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            interval, request_id = 1.0 / rate, 0
            due = window.start + random.random() * interval  # drivers out of step
            while due < window.end:
                await trio.sleep(max(0.0, due - time.time()))
                await permits.acquire()
                op = flow.next()
                request_id += 1
                sent[request_id] = op
                await ws.send_text(_encode({**op.ws(), "id": request_id}))
                counts["sent"] += 1
                due += interval
            with trio.move_on_after(GRACE):  # every permit back: every answer is in
                for _ in range(UNANSWERED):
                    await permits.acquire()
            nursery.cancel_scope.cancel()
    finally:
        await ws.aclose()


async def bench_fanout(url: str, admin_token: str, subscribers: int, duration: float,
                       rate: float = 200.0, symbol: str = SYMBOL, seed: int = 1,
                       processes: int = 1, progress: Progress | None = None,
                       stalled: int = 0) -> dict[str, Any]:
    keys = await setup_accounts(url, admin_token, DRIVERS, symbol=symbol, prefix="bench-fan")
    slow_before = await slow_consumers(url)
    sizes = [subscribers // processes + (1 if index < subscribers % processes else 0)
             for index in range(processes)]
    local = SubscriberGroup(url, symbol, sizes[0]) if processes == 1 else None
    remotes = [] if local else [_Remote(url, symbol, size) for size in sizes]
    counts = {"sent": 0, "results": 0, "refused": 0}
    window = Window()
    hung = StalledGroup(url, symbol, stalled)
    window_known = trio.Event()
    async with trio.open_nursery() as nursery:
        connect_started = time.monotonic()
        with trio.fail_after(60 + (subscribers + stalled) / 20):
            if local is not None:
                nursery.start_soon(local.run)
                await local.all_ready.wait()
            else:
                for remote in remotes:
                    await remote.ready()
            nursery.start_soon(hung.run, window_known, window)
            await hung.ready.wait()
        connect_seconds = time.monotonic() - connect_started
        window.start = time.time() + 0.2
        window.end = window.start + duration
        window.stop = window.end + DRAIN
        window_known.set()
        if local is not None:
            local.set_window(window)
        for remote in remotes:
            remote.connection.send((window.start, window.end, window.stop))
        market = Market(random.Random(seed))
        for index, key in enumerate(keys):
            nursery.start_soon(_driver, url, key, OrderFlow(seed * 1000 + index, market,
                                                            symbol),
                               rate / len(keys), window, counts)
        if progress is not None:
            while time.time() < window.end:
                await trio.sleep(0.2)
                progress.update(max(0, int(time.time() - window.start)))
            progress.close()
    summaries = ([local.stats.summary()] if local is not None
                 else [await remote.result() for remote in remotes])
    latencies = sorted(value for item in summaries for value in item["latencies"])
    seconds = window.end - window.start
    slow_after = await slow_consumers(url)
    return {
        "bench": "fanout",
        "subscribers": subscribers,
        "processes": processes,
        "symbol": symbol,
        "rate": rate,
        "seconds": round(seconds, 3),
        "connect_s": round(connect_seconds, 3),
        "orders_sent": counts["sent"],
        "orders_per_s": round(counts["results"] / seconds, 1),
        "updates_per_s": round(max(item["published"] for item in summaries) / seconds, 1),
        "messages_delivered_per_s": round(sum(item["messages"] for item in summaries)
                                          / seconds, 1),
        "frames_delivered_per_s": round(sum(item["frames"] for item in summaries) / seconds, 1),
        "delivery_latency_ms": latency_ms(latencies, ("p50", "p99")),
        "latency_samples": len(latencies),
        "disconnected": sum(item["disconnected"] for item in summaries),
        "gaps": sum(item["gaps"] for item in summaries),
        "trades_received": {"min": min(item["trades_min"] for item in summaries),
                            "max": max(item["trades_max"] for item in summaries)},
        "stalled": {"subscribers": stalled, **hung.fates},
        "slow_consumers": slow_after - slow_before if slow_before >= 0 else None,
    }


def run_fanout_bench(*, url: str, admin_token: str | None, subscribers: int, duration: float,
                     rate: float, symbol: str, seed: int, processes: int, as_json: bool,
                     progress: bool, stalled: int = 0) -> int:
    raise_open_files_limit()
    processes = max(1, min(processes, subscribers))

    def report(result: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        return (f"bench fanout: {subscribers} subscribers of {symbol}, {rate:g} orders/s, "
                f"{result['seconds']} s"), [
            ("orders/s (driver)", f"{result['orders_per_s']:,.1f}"),
            ("updates/s (published)", f"{result['updates_per_s']:,.1f}"),
            ("messages delivered/s", f"{result['messages_delivered_per_s']:,.1f}"),
            *latency_rows(result["delivery_latency_ms"], "delivery"),
            ("disconnected", f"{result['disconnected']:,}"),
            ("gaps", f"{result['gaps']:,}"),
            ("trades per subscriber", f"{result['trades_received']['min']:,}"
                                      f"-{result['trades_received']['max']:,}"),
            *([("stalled: 4008 / reset / other / open",
                " / ".join(f"{result['stalled'][key]:,}" for key in
                           ("closed_4008", "reset", "closed_other", "open"))),
               ("slow consumers (metric)", f"{result['slow_consumers']:,.0f}")]
              if stalled else []),
        ]

    return run_network_bench(
        "fanout", admin_token, duration, progress=progress, as_json=as_json, report=report,
        failures=(trio.TooSlowError,),
        bench=lambda bar: bench_fanout(url, admin_token or "", subscribers, duration, rate,
                                       symbol, seed, processes, bar, stalled),
    )
