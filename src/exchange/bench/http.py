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

`--api binance` sends the mix as signed `POST`/`DELETE /api/v3/order` requests instead
(`exchange.bench.binance`; each account with an HMAC key made for the run); `--api both`
runs the two in turn, `--rounds` times each, and reports the medians and their ratio.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import trio

from exchange.bench.binance import PATH, REFUSALS, Signer, observe
from exchange.bench.flow import Market, OrderFlow, Trader, setup_traders
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


class RawConnection:
    """One keep-alive HTTP/1.1 connection; responses must carry Content-Length."""

    def __init__(self, stream: trio.SocketStream, host: str, api_key: str,
                 content_type: str = "application/json", key_header: str = "") -> None:
        self.stream = stream
        auth = (f"{key_header}: {api_key}" if key_header
                else f"Authorization: Bearer {api_key}")
        self.head = f"Host: {host}\r\n{auth}\r\nContent-Type: {content_type}\r\n".encode()
        self.buffer = b""
        self.closing = False

    @classmethod
    async def open(cls, url: str, api_key: str, *, binance: bool = False) -> RawConnection:
        """Authenticated by the bearer `api_key`, or (`binance`) by Binance's key header,
        with form-encoded bodies."""
        parsed = httpx.URL(url)
        stream = await trio.open_tcp_stream(parsed.host, parsed.port or 80)
        if binance:
            return cls(stream, f"{parsed.host}:{parsed.port}", api_key,
                       "application/x-www-form-urlencoded", "X-MBX-APIKEY")
        return cls(stream, f"{parsed.host}:{parsed.port}", api_key)

    async def request(self, method: str, path: str, body: Any = None, *,
                      raw: bytes | None = None) -> tuple[int, Any]:
        """`body` as JSON, or the `raw` bytes as they are."""
        payload = raw if raw is not None else b"" if body is None else msgspec.json.encode(body)
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
    codes: dict[str, int] = field(default_factory=dict)  # of the 4xx and 5xx answers


async def _client_loop(url: str, trader: Trader, seed: int, market: Market, deadline: float,
                       stats: ClientStats, api: str) -> None:
    binance = api == "binance"
    flow = OrderFlow(seed, market, amends=not binance)
    signer = Signer(trader) if binance else None
    key = trader.hmac_key if binance else trader.api_key
    conn = await RawConnection.open(url, key, binance=binance)
    try:
        while time.monotonic() < deadline:
            op = flow.next()
            started = time.perf_counter()
            try:
                if signer is None:
                    method, path, body = op.http()
                    status, result = await conn.request(method, path, body)
                else:
                    method, signed = signer.rest(op, flow.symbol)
                    if method == "POST":
                        status, result = await conn.request(method, PATH, raw=signed)
                    else:
                        status, result = await conn.request(method,
                                                            f"{PATH}?{signed.decode()}")
            except (OSError, ValueError, msgspec.DecodeError):
                stats.errors += 1
                await conn.aclose()
                conn = await RawConnection.open(url, key, binance=binance)
                continue
            stats.latencies.append(time.perf_counter() - started)
            stats.kinds[op.kind] = stats.kinds.get(op.kind, 0) + 1
            if conn.closing:  # the server ends keep-alive: open a new connection
                await conn.aclose()
                conn = await RawConnection.open(url, key, binance=binance)
            if status < 400:
                if signer is None:
                    flow.observe(op, result)
                else:
                    observe(flow, op, result.get("orderId"), result.get("status"))
                continue
            code = _error_code(result, status)
            stats.codes[code] = stats.codes.get(code, 0) + 1
            if status >= 500 or status == 429 or (binance and int(code) not in REFUSALS):
                stats.errors += 1
            else:
                stats.refused += 1
    finally:
        await conn.aclose()


def _error_code(result: Any, status: int) -> str:
    """The error's code: `/v1`'s name, or Binance's number (as text); else the status."""
    if isinstance(result, dict):
        error = result.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return str(error["code"])
        if isinstance(result.get("code"), int):
            return str(result["code"])
    return str(status)


async def bench_http(url: str, admin_token: str, clients: int, duration: float, seed: int,
                     progress: Progress | None = None, api: str = "v1") -> dict[str, Any]:
    """One run against `POST /v1/orders` (`api` "v1") or `POST /api/v3/order` ("binance")."""
    traders = await setup_traders(url, admin_token, clients, hmac=api == "binance")
    market = Market(random.Random(seed))
    stats = [ClientStats() for _ in traders]
    started = time.monotonic()
    deadline = started + duration
    async with trio.open_nursery() as nursery:
        for index, trader in enumerate(traders):
            nursery.start_soon(_client_loop, url, trader, seed * 1000 + index, market,
                               deadline, stats[index], api)
        await show_progress(progress, started, deadline)
    seconds = time.monotonic() - started
    latencies = sorted(latency for item in stats for latency in item.latencies)
    return {
        "bench": "http",
        "api": api,
        "clients": clients,
        "requests": len(latencies),
        "errors": sum(item.errors for item in stats),
        "refused": sum(item.refused for item in stats),
        "seconds": round(seconds, 3),
        "requests_per_s": round(len(latencies) / seconds, 1) if seconds else 0.0,
        "latency_ms": latency_ms(latencies),
        "mix": merged_counts(item.kinds for item in stats),
        "codes": merged_counts(item.codes for item in stats),
    }


def run_http_bench(*, url: str, admin_token: str | None, clients: int, duration: float,
                   seed: int, as_json: bool, progress: bool, api: str = "v1",
                   rounds: int = 3) -> int:
    def rows(result: dict[str, Any]) -> list[tuple[str, str]]:
        return [
            ("requests", f"{result['requests']:,}"),
            ("errors", f"{result['errors']:,}"),
            ("refused (expected 4xx)", f"{result['refused']:,}"),
            ("requests/s", f"{result['requests_per_s']:,.1f}"),
            *latency_rows(result["latency_ms"]),
        ]

    def report(result: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        if api == BOTH:
            return (f"bench http: {clients} clients, /v1 against /api/v3, medians of "
                    f"{rounds} rounds"), compared_rows(result, "requests_per_s", rows)
        return f"bench http ({api}): {clients} clients, {result['seconds']} s", rows(result)

    def one(which: str, bar: Progress | None) -> Awaitable[dict[str, Any]]:
        return bench_http(url, admin_token or "", clients, duration, seed, bar, which)

    return run_network_bench(
        "http", admin_token, duration, progress=progress, as_json=as_json, report=report,
        bench=lambda bar: (compare("http", one, rounds, "requests_per_s", bar)
                           if api == BOTH else one(api, bar)),
    )
