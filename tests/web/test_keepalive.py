"""Every answer arrives on a keep-alive connection, whatever its status and whether the app
read the request body (`exchange.web.keepalive`).

Three clients each send a fixed mix of error and success requests on one kept-alive
connection: a python-requests `Session` (what ccxt uses; it sends the headers and the body
apart, which is what left connections hanging), an httpx `Client`, and a raw socket that
sends the headers and the body apart on purpose. Every request must be answered within
`TIMEOUT`, with the expected status.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest
import requests
import trio

from .support import ADMIN_TOKEN, start_exchange

TIMEOUT = 2.0  # seconds, per request
ROUNDS = 1000  # requests per client
PROBLEMS = 5  # a client stops after this many
LIMIT = 64 * 1024  # the default max_body_bytes
ORDER = {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "0.001",
         "price": "1"}
BIG = b"{" + b" " * LIMIT + b"}"


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    status: int
    body: bytes | None = None
    key: str | None = None  # "trader", "admin", or a literal Authorization value
    chunked: bool = False  # the body without Content-Length


def _cases() -> list[Case]:
    order = json.dumps(ORDER).encode()
    return [
        Case("GET", "/v1/instruments", 200),
        Case("POST", "/v1/orders", 201, order, "trader"),
        Case("POST", "/nowhere", 404, b'{"a": 1}'),
        Case("DELETE", "/nowhere", 404, b"x" * 3000),
        Case("PATCH", "/v1/orders/abc", 404, order, "trader"),
        Case("DELETE", "/v1/orders/999999", 404, None, "trader"),
        Case("PUT", "/v1/orders", 405, order),
        Case("POST", "/v1/instruments", 405, order),
        Case("POST", "/v1/orders", 401, order),
        Case("POST", "/v1/orders", 401, order, "Bearer wrong.key"),
        Case("POST", "/v1/admin/accounts", 401, b'{"name": "x"}', "Bearer wrong"),
        Case("GET", "/v1/account", 401, b'{"a": 1}', "Bearer wrong.key"),
        Case("POST", "/v1/orders", 400, b"{nope", "trader"),
        Case("POST", "/v1/admin/accounts", 400, b"[1]", "admin"),
        Case("POST", "/v1/orders", 413, BIG, "trader"),
        Case("POST", "/v1/orders", 413, BIG, "trader", chunked=True),
        Case("POST", "/v1/admin/accounts", 413, BIG, "admin"),
        Case("POST", "/v1/admin/accounts", 413, BIG, "admin", chunked=True),
    ]


def _plan(seed: int) -> list[Case]:
    cases = _cases()
    return [random.Random(seed).choice(cases) for _ in range(ROUNDS)]


# A client: sends one case, returns the status (raises on a time-out).
Send = Callable[[Case, dict[str, str]], int]


def _chunks(body: bytes) -> Iterator[bytes]:
    for start in range(0, len(body), 16 * 1024):
        yield body[start:start + 16 * 1024]


def _run(send: Send, plan: list[Case], keys: dict[str, str]) -> list[str]:
    """The plan through `send`: what went wrong (a time-out, a slow answer, a status), up
    to `PROBLEMS` of them (each time-out costs `TIMEOUT`)."""
    problems: list[str] = []
    for number, case in enumerate(plan):
        if len(problems) >= PROBLEMS:
            break
        started = time.perf_counter()
        try:
            status = send(case, keys)
        except Exception as exc:
            problems.append(f"#{number} {case}: {exc!r}")
            continue
        if status != case.status:
            problems.append(f"#{number} {case}: answered {status}")
        elif time.perf_counter() - started > TIMEOUT:
            problems.append(f"#{number} {case}: slow")
    return problems


def _headers(case: Case, keys: dict[str, str]) -> dict[str, str]:
    if case.key is None:
        return {}
    return {"Authorization": keys.get(case.key, case.key)}


def _requests_client(url: str) -> tuple[Send, Callable[[], None]]:
    session = requests.Session()

    def send(case: Case, keys: dict[str, str]) -> int:
        body = _chunks(case.body) if case.chunked and case.body else case.body
        response = session.request(case.method, url + case.path, data=body,
                                   headers=_headers(case, keys), timeout=TIMEOUT)
        return response.status_code

    return send, session.close


def _httpx_client(url: str) -> tuple[Send, Callable[[], None]]:
    client = httpx.Client(base_url=url, timeout=TIMEOUT)

    def send(case: Case, keys: dict[str, str]) -> int:
        body = _chunks(case.body) if case.chunked and case.body else case.body
        response = client.request(case.method, case.path, content=body,
                                  headers=_headers(case, keys))
        return response.status_code

    return send, client.close


class RawClient:
    """HTTP/1.1 on one socket, reopened only when the server says `connection: close`;
    the headers and the body leave in separate writes, as python-requests sends them."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "", parts.port or 80)
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.connections = 0

    def _connect(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=TIMEOUT)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.buffer = b""
            self.connections += 1
        return self.sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _read_until(self, sock: socket.socket, marker: bytes) -> bytes:
        while marker not in self.buffer:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read_exactly(self, sock: socket.socket, size: int) -> bytes:
        while len(self.buffer) < size:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buffer += data
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def send(self, case: Case, keys: dict[str, str]) -> int:
        sock = self._connect()
        lines = [f"{case.method} {case.path} HTTP/1.1", f"Host: {self.address[0]}"]
        lines += [f"{name}: {value}" for name, value in _headers(case, keys).items()]
        if case.body is not None and case.chunked:
            lines.append("Transfer-Encoding: chunked")
        elif case.body is not None:
            lines.append(f"Content-Length: {len(case.body)}")
        sock.sendall("\r\n".join(lines).encode() + b"\r\n\r\n")
        if case.body is not None and case.chunked:
            for chunk in _chunks(case.body):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        elif case.body is not None:
            sock.sendall(case.body)
        return self.response(sock)

    def response(self, sock: socket.socket) -> int:
        """Reads one answer; its status."""
        status_line, *header_lines = self._read_until(sock, b"\r\n\r\n").decode().split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self._read_exactly(sock, int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(status_line.split()[1])


async def test_every_answer_arrives(nursery: trio.Nursery) -> None:
    exchange = await start_exchange(nursery)
    try:
        await exchange.instrument()
        trader = await exchange.trader("keepalive", USD="1000000")
        keys = {"trader": f"Bearer {trader.api_key}", "admin": f"Bearer {ADMIN_TOKEN}"}
        raw = RawClient(exchange.url)
        clients = {"requests": _requests_client(exchange.url),
                   "httpx": _httpx_client(exchange.url), "raw": (raw.send, raw.close)}
        problems = {}
        for seed, (name, (send, close)) in enumerate(clients.items()):
            try:
                problems[name] = await trio.to_thread.run_sync(_run, send, _plan(seed), keys)
            finally:
                close()
        assert problems == {name: [] for name in clients}
        # Early answers drained the body: the connection was reopened only after a body
        # over the limit, which the server does not read to its end.
        over = sum(1 for case in _plan(2) if case.status == 413)
        assert raw.connections <= 1 + over
    finally:
        await exchange.admin.aclose()
        exchange.server.shutdown()


@pytest.mark.parametrize(("method", "path", "status"), [
    ("POST", "/nowhere", 404), ("POST", "/v1/instruments", 405), ("GET", "/v1/account", 401),
    ("POST", "/v1/admin/accounts", 401),
])
async def test_early_answer_then_next_request(nursery: trio.Nursery, method: str, path: str,
                                              status: int) -> None:
    """The smallest reproduction: the answer leaves before the body has arrived, and the
    next request on the connection is answered at once."""
    exchange = await start_exchange(nursery)
    try:
        raw = RawClient(exchange.url)

        def two_requests() -> list[int]:
            sock = raw._connect()
            sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n"
                         .encode())
            time.sleep(0.05)  # the server answers before the body arrives
            sock.sendall(b'{"a":1}')
            try:
                return [raw.response(sock), raw.send(Case("GET", "/v1/instruments", 200), {})]
            finally:
                raw.close()

        assert await trio.to_thread.run_sync(two_requests) == [status, 200]
        assert raw.connections == 1
    finally:
        await exchange.admin.aclose()
        exchange.server.shutdown()
