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

`--api binance` sends the mix to Binance's WebSocket API instead (`/ws-api/v3`:
`order.place` and `order.cancel`, each signed in its params with the account's HMAC key,
made for the run; `exchange.bench.binance`). Binance takes one request a frame, so
`--batch N` there writes up to N frames at once. A `status: 200` answer is durable. `--api
both` runs the two in turn, `--rounds` times each, and reports the medians and their ratio.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec
import trio

from exchange.bench.binance import REFUSALS, Signer
from exchange.bench.flow import Market, Op, OrderFlow, Trader, setup_traders
from exchange.bench.rawws import RawClosed, RawWebSocket
from exchange.bench.report import (
    BOTH,
    Progress,
    compare,
    compared_rows,
    latency_ms,
    latency_rows,
    merged_counts,
    run_network_bench,
    show_progress,
)

ERROR_CODES = frozenset({"rate_limited", "overloaded", "unavailable", "internal_error",
                         "invalid_request", "unauthorized", "forbidden", "not_found"})
DRAIN_SECONDS = 10.0
API_PATH = "/ws-api/v3"  # Binance's WebSocket API


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


class _BinanceResult(msgspec.Struct):
    orderId: int | None = None  # Binance's name
    status: str | None = None


class _BinanceError(msgspec.Struct):
    code: int


class _BinanceReply(msgspec.Struct):
    id: int | None = None
    status: int = 0
    result: _BinanceResult | None = None
    error: _BinanceError | None = None


_decode_binance = msgspec.json.Decoder(_BinanceReply).decode
# An answer as the connection reads it: (id, durable result?, orderId, status, error code).
Answer = tuple[int | None, bool, int | None, str | None, str]


def _answers(payload: bytes) -> list[Answer]:
    decoded = _decode(payload)
    return [(reply.id, reply.type == "result",
             reply.order.order_id if reply.order else None,
             reply.order.status if reply.order else None,
             reply.error.code if reply.error else reply.type)
            for reply in (decoded if isinstance(decoded, list) else (decoded,))]


def _binance_answers(payload: bytes) -> list[Answer]:
    reply = _decode_binance(payload)
    result = reply.result
    if reply.status == 200 and result is not None:
        return [(reply.id, True, result.orderId, result.status, "")]
    return [(reply.id, False, None, None, str(reply.error.code if reply.error else reply.status))]


def _refusal(code: str) -> bool:
    """Whether an error answer is one the mix provokes on purpose (not an error)."""
    if code.lstrip("-").isdigit():  # Binance's code (or an HTTP status without one)
        return int(code) in REFUSALS
    return code not in ERROR_CODES


@dataclass
class ConnectionStats:
    latencies: list[float] = field(default_factory=list)
    results: int = 0
    errors: int = 0
    refused: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)


async def _connection(url: str, trader: Trader, flow: OrderFlow, deadline: float,
                      inflight: int, batch: int, stats: ConnectionStats, api: str) -> None:
    if api == "binance":
        signer = Signer(trader)
        ws = await RawWebSocket.open(urlunsplit(urlsplit(url)._replace(path=API_PATH)))
        answers = _binance_answers
    else:
        ws = await RawWebSocket.open(url, trader.api_key)
        answers = _answers
    permits = trio.Semaphore(inflight)
    sent: dict[int, tuple[float, Op]] = {}
    ids = itertools.count(1)

    async def receive() -> None:
        while True:
            for payload in await ws.receive():
                for reply_id, ok, order_id, status, code in answers(payload):
                    entry = sent.pop(reply_id, None) if reply_id is not None else None
                    if entry is None:
                        continue  # a heartbeat
                    started, op = entry
                    stats.latencies.append(time.perf_counter() - started)
                    stats.kinds[op.kind] = stats.kinds.get(op.kind, 0) + 1
                    if ok:
                        stats.results += 1
                        if order_id is not None and status is not None:
                            flow.observe(op, {"order_id": order_id, "status": status.lower()})
                    else:
                        stats.codes[code] = stats.codes.get(code, 0) + 1
                        if _refusal(code):
                            stats.refused += 1
                        else:
                            stats.errors += 1
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
                if api == "binance":  # one request a frame, the frames written at once
                    frames = []
                    for _ in range(count):
                        op = flow.next()
                        request_id = next(ids)
                        sent[request_id] = (now, op)
                        frames.append(signer.ws(op, flow.symbol, request_id))
                    await ws.send_texts(frames)
                    continue
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
                   progress: Progress | None = None, api: str = "v1") -> dict[str, Any]:
    """One run over `/v1/ws` (`api` "v1") or `/ws-api/v3` ("binance")."""
    binance = api == "binance"
    traders = await setup_traders(url, admin_token, clients, prefix="bench-ws", hmac=binance)
    market = Market(random.Random(seed))
    stats = [ConnectionStats() for _ in traders]
    started = time.monotonic()
    deadline = started + duration
    async with trio.open_nursery() as nursery:
        for index, trader in enumerate(traders):
            flow = OrderFlow(seed * 1000 + index, market, amends=not binance)
            nursery.start_soon(_connection, url, trader, flow, deadline, inflight,
                               max(1, min(batch, inflight)), stats[index], api)
        await show_progress(progress, started, deadline)
    seconds = time.monotonic() - started
    latencies = sorted(latency for item in stats for latency in item.latencies)
    results = sum(item.results for item in stats)
    return {
        "bench": "ws",
        "api": api,
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
                 seed: int, inflight: int, batch: int, as_json: bool, progress: bool,
                 api: str = "v1", rounds: int = 3) -> int:
    def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            ("requests", f"{result['requests']:,}"),
            ("errors", f"{result['errors']:,}"),
            ("refused (expected)", f"{result['refused']:,}"),
            ("orders/s (durable results)", f"{result['orders_per_s']:,.1f}"),
            ("requests/s", f"{result['requests_per_s']:,.1f}"),
            *latency_rows(result["latency_ms"]),
        ]

    def report(result: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        runs = [result["v1"], result["binance"]] if api == BOTH else [result]
        if any(run["codes"].get("rate_limited") or run["codes"].get("-1003") for run in runs):
            print("note: the server rate-limits order entry; run it with "
                  "EXCHANGE_RATE_LIMIT=0")
        shape = f"{clients} connections x {inflight} in flight, batch {batch}"
        if api == BOTH:
            return (f"bench ws: {shape}, /v1/ws against /ws-api/v3, medians of {rounds} "
                    "rounds"), compared_rows(result, "orders_per_s", rows)
        return f"bench ws ({api}): {shape}, {result['seconds']} s", rows(result)

    def one(which: str, bar: Progress | None) -> Awaitable[dict[str, Any]]:
        return bench_ws(url, admin_token or "", clients, duration, seed, inflight, batch, bar,
                        which)

    return run_network_bench(
        "ws", admin_token, duration, progress=progress, as_json=as_json, report=report,
        bench=lambda bar: (compare("ws", one, rounds, "orders_per_s", bar)
                           if api == BOTH else one(api, bar)),
    )
