"""`exchange bench http`: order entry over REST from C concurrent keep-alive clients.

Each client has its own account (created and funded through the admin API) and its own
connection, and sends the `mixed` order mix of bench.md (`exchange.bench.flow`, shared with
`bench ws`) one request at a time. Every acknowledged
request is durable on the server (that is the contract), so `requests_per_s` is durable
order operations per second.

The measured requests go over a minimal HTTP/1.1 keep-alive connection (`RawConnection`,
trio sockets): `ExchangeClient` on httpx costs about 1 ms of CPU per request, which on a
two-core machine would measure the load generator rather than the server. Setup (accounts,
deposits) uses `ExchangeClient`.

`errors` counts failures (5xx, transport errors, unexpected answers); refusals that the mix
provokes on purpose (a cancel racing a fill: 409, a post-only that would take: 422) are
counted apart as `refused`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import trio

from exchange.bench.flow import Market, OrderFlow, setup_accounts
from exchange.bench.report import (
    Progress,
    latency_ms,
    latency_rows,
    merged_counts,
    run_network_bench,
    show_progress,
)


class RawConnection:
    """One keep-alive HTTP/1.1 connection; responses must carry Content-Length."""

    def __init__(self, stream: trio.SocketStream, host: str, api_key: str) -> None:
        self.stream = stream
        self.head = (f"Host: {host}\r\nAuthorization: Bearer {api_key}\r\n"
                     "Content-Type: application/json\r\n").encode()
        self.buffer = b""
        self.closing = False

    @classmethod
    async def open(cls, url: str, api_key: str) -> RawConnection:
        parsed = httpx.URL(url)
        stream = await trio.open_tcp_stream(parsed.host, parsed.port or 80)
        return cls(stream, f"{parsed.host}:{parsed.port}", api_key)

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = b"" if body is None else msgspec.json.encode(body)
        await self.stream.send_all(
            f"{method} {path} HTTP/1.1\r\n".encode() + self.head
            + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload
        )
        while b"\r\n\r\n" not in self.buffer:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise OSError("connection closed by the server")
            self.buffer += chunk
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        self.closing = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection" and value.strip().lower() == b"close":
                self.closing = True
        while len(rest) < length:
            chunk = await self.stream.receive_some(65536)
            if not chunk:
                raise OSError("connection closed by the server")
            rest += chunk
        self.buffer = rest[length:]
        return status, msgspec.json.decode(rest[:length]) if length else None

    async def aclose(self) -> None:
        await self.stream.aclose()


@dataclass
class ClientStats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    refused: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


async def _client_loop(url: str, api_key: str, seed: int, market: Market, deadline: float,
                       stats: ClientStats) -> None:
    flow = OrderFlow(seed, market)
    conn = await RawConnection.open(url, api_key)
    try:
        while time.monotonic() < deadline:
            op = flow.next()
            method, path, body = op.http()
            started = time.perf_counter()
            try:
                status, result = await conn.request(method, path, body)
            except (OSError, ValueError, msgspec.DecodeError):
                stats.errors += 1
                await conn.aclose()
                conn = await RawConnection.open(url, api_key)
                continue
            stats.latencies.append(time.perf_counter() - started)
            stats.kinds[op.kind] = stats.kinds.get(op.kind, 0) + 1
            if conn.closing:  # the server ends keep-alive: open a new connection
                await conn.aclose()
                conn = await RawConnection.open(url, api_key)
            if status >= 500 or status == 429:
                stats.errors += 1
            elif status >= 400:
                stats.refused += 1
            else:
                flow.observe(op, result)
    finally:
        await conn.aclose()


async def bench_http(url: str, admin_token: str, clients: int, duration: float, seed: int,
                     progress: Progress | None = None) -> dict[str, Any]:
    keys = await setup_accounts(url, admin_token, clients)
    market = Market(random.Random(seed))
    stats = [ClientStats() for _ in keys]
    started = time.monotonic()
    deadline = started + duration
    async with trio.open_nursery() as nursery:
        for index, key in enumerate(keys):
            nursery.start_soon(_client_loop, url, key, seed * 1000 + index, market, deadline,
                               stats[index])
        await show_progress(progress, started, deadline)
    seconds = time.monotonic() - started
    latencies = sorted(latency for item in stats for latency in item.latencies)
    return {
        "bench": "http",
        "clients": clients,
        "requests": len(latencies),
        "errors": sum(item.errors for item in stats),
        "refused": sum(item.refused for item in stats),
        "seconds": round(seconds, 3),
        "requests_per_s": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "latency_ms": latency_ms(latencies),
        "mix": merged_counts(item.kinds for item in stats),
    }


def run_http_bench(*, url: str, admin_token: str | None, clients: int, duration: float,
                   seed: int, as_json: bool, progress: bool) -> int:
    def report(result: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        return f"bench http: {clients} clients, {result['seconds']} s", [
            ("requests", f"{result['requests']:,}"),
            ("errors", f"{result['errors']:,}"),
            ("refused (expected 4xx)", f"{result['refused']:,}"),
            ("requests/s", f"{result['requests_per_s']:,.1f}"),
            *latency_rows(result["latency_ms"]),
        ]

    return run_network_bench(
        "http", admin_token, duration, progress=progress, as_json=as_json, report=report,
        bench=lambda bar: bench_http(url, admin_token or "", clients, duration, seed, bar),
    )
