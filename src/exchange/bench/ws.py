"""`exchange bench ws`: order entry over the WebSocket from C connections, K in flight each.

Each connection authenticates as its own account (created and funded through the admin API;
the key goes in the upgrade's `Authorization` header) and sends the `mixed` order mix of
bench.md (`exchange.bench.flow`, the same draws as `bench http`) as `place`, `cancel` and
`amend` ops, keeping up to `--inflight` of them unanswered; with `--batch N` it sends up to
N ops in one frame (a JSON array) when that many may go. Every `result` is durable on the
server (the contract), so `orders_per_s` is durable order operations per second; `requests`
counts every answer, `latency_ms` is from sending an op to its answer.

The measured connections use `RawWebSocket` (bench/rawws.py) and decode answers into small
msgspec structs: the load generator shares the machine's two cores with the server.

The server must run with `EXCHANGE_RATE_LIMIT=0`: with the default per-account limit most
ops would be refused. `errors` counts `rate_limited`, `overloaded`, `unavailable`,
`internal_error`, malformed or unauthorized requests, lost connections and answers still
missing 10 s after the end; refusals the mix provokes on purpose (a cancel racing a fill:
`order_not_open`, a post-only that would take) are counted apart as `refused`.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import trio

from exchange.bench.flow import Market, Op, OrderFlow, setup_accounts
from exchange.bench.rawws import RawClosed, RawWebSocket
from exchange.bench.report import (
    Progress,
    latency_ms,
    latency_rows,
    merged_counts,
    run_network_bench,
    show_progress,
)

ERROR_CODES = frozenset({"rate_limited", "overloaded", "unavailable", "internal_error",
                         "invalid_request", "unauthorized", "forbidden", "not_found"})
DRAIN_SECONDS = 10.0


class _Order(msgspec.Struct):
    order_id: int
    status: str


class _Error(msgspec.Struct):
    code: str


class _Reply(msgspec.Struct):
    type: str
    id: int | None = None
    order: _Order | None = None
    error: _Error | None = None


_decode = msgspec.json.Decoder(list[_Reply] | _Reply).decode
_encode = msgspec.json.Encoder().encode


@dataclass
class ConnectionStats:
    latencies: list[float] = field(default_factory=list)
    results: int = 0
    errors: int = 0
    refused: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)


async def _connection(url: str, api_key: str, flow: OrderFlow, deadline: float,
                      inflight: int, batch: int, stats: ConnectionStats) -> None:
    ws = await RawWebSocket.open(url, api_key)
    permits = trio.Semaphore(inflight)
    sent: dict[int, tuple[float, Op]] = {}
    ids = itertools.count(1)

    async def receive() -> None:
        while True:
            for payload in await ws.receive():
                decoded = _decode(payload)
                for reply in decoded if isinstance(decoded, list) else (decoded,):
                    entry = sent.pop(reply.id, None) if reply.id is not None else None
                    if entry is None:
                        continue  # a heartbeat
                    started, op = entry
                    stats.latencies.append(time.perf_counter() - started)
                    stats.kinds[op.kind] = stats.kinds.get(op.kind, 0) + 1
                    if reply.type == "result":
                        stats.results += 1
                        if reply.order is not None:
                            flow.observe(op, {"order_id": reply.order.order_id,
                                              "status": reply.order.status})
                    else:
                        code = reply.error.code if reply.error else reply.type
                        stats.codes[code] = stats.codes.get(code, 0) + 1
                        if code in ERROR_CODES:
                            stats.errors += 1
                        else:
                            stats.refused += 1
                    permits.release()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receive)
            while time.monotonic() < deadline:
                await permits.acquire()
                count = 1
                while count < batch:
                    try:
                        permits.acquire_nowait()
                    except trio.WouldBlock:
                        break
                    count += 1
                now = time.perf_counter()
                ops: list[dict[str, Any]] = []
                for _ in range(count):
                    op = flow.next()
                    request_id = next(ids)
                    sent[request_id] = (now, op)
                    ops.append({**op.ws(), "id": request_id})
                await ws.send_text(_encode(ops[0] if count == 1 else ops))
            # Every permit back means every answer is in.
            with trio.move_on_after(DRAIN_SECONDS):
                for _ in range(inflight):
                    await permits.acquire()
            nursery.cancel_scope.cancel()
    except* (RawClosed, OSError) as group:
        for exc in group.exceptions:
            code = f"closed_{exc.code}" if isinstance(exc, RawClosed) else "connection_lost"
            stats.codes[code] = stats.codes.get(code, 0) + 1
    finally:
        stats.errors += len(sent)  # never answered
        await ws.aclose()


async def bench_ws(url: str, admin_token: str, clients: int, duration: float, seed: int,
                   inflight: int = 8, batch: int = 1,
                   progress: Progress | None = None) -> dict[str, Any]:
    keys = await setup_accounts(url, admin_token, clients, prefix="bench-ws")
    market = Market(random.Random(seed))
    stats = [ConnectionStats() for _ in keys]
    started = time.monotonic()
    deadline = started + duration
    async with trio.open_nursery() as nursery:
        for index, key in enumerate(keys):
            nursery.start_soon(_connection, url, key, OrderFlow(seed * 1000 + index, market),
                               deadline, inflight, max(1, min(batch, inflight)), stats[index])
        await show_progress(progress, started, deadline)
    seconds = time.monotonic() - started
    latencies = sorted(latency for item in stats for latency in item.latencies)
    results = sum(item.results for item in stats)
    return {
        "bench": "ws",
        "clients": clients,
        "inflight": inflight,
        "batch": batch,
        "requests": len(latencies),
        "errors": sum(item.errors for item in stats),
        "refused": sum(item.refused for item in stats),
        "seconds": round(seconds, 3),
        "orders_per_s": round(results / seconds, 1) if seconds else 0.0,
        "requests_per_s": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "latency_ms": latency_ms(latencies),
        "mix": merged_counts(item.kinds for item in stats),
        "codes": merged_counts(item.codes for item in stats),
    }


def run_ws_bench(*, url: str, admin_token: str | None, clients: int, duration: float,
                 seed: int, inflight: int, batch: int, as_json: bool, progress: bool) -> int:
    def report(result: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        if result["codes"].get("rate_limited"):
            print("note: the server rate-limits order entry; run it with "
                  "EXCHANGE_RATE_LIMIT=0")
        return (f"bench ws: {clients} connections x {inflight} in flight, batch {batch}, "
                f"{result['seconds']} s"), [
            ("requests", f"{result['requests']:,}"),
            ("errors", f"{result['errors']:,}"),
            ("refused (expected)", f"{result['refused']:,}"),
            ("orders/s (durable results)", f"{result['orders_per_s']:,.1f}"),
            ("requests/s", f"{result['requests_per_s']:,.1f}"),
            *latency_rows(result["latency_ms"]),
        ]

    return run_network_bench(
        "ws", admin_token, duration, progress=progress, as_json=as_json, report=report,
        bench=lambda bar: bench_ws(url, admin_token or "", clients, duration, seed,
                                   inflight, batch, bar),
    )
