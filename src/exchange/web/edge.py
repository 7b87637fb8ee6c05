"""The one ASGI edge: a route table for the hot handlers, the Quart-Trio app for the rest.

A route names its scope type, method and path in Quart's spelling
(`/v1/orders/<int:id>`, `/ws/<path:streams>`), and its handler takes the ASGI triple and
the path's parameters. Order entry and the WebSocket API are entries
(`exchange.web.fastpath`); a second API surface is more entries, from a package of its own
(the Binance-compatible streams: `exchange.binance.ws`). What no entry matches goes to the
app (HTTP) or is refused with the contract's envelope (a WebSocket on an unknown path).

Chaos mode's latency is added here, for the table and the app alike: the start of an answer
to a `/v1/` request (admin routes aside, so an operator keeps control) waits
`Chaos.latency()` and carries `X-Chaos: latency`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import trio

from exchange.pipeline.chaos import Chaos

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]  # Quart-Trio types its scope and events more narrowly
Handler = Callable[[Scope, Receive, Send, dict[str, Any]], Awaitable[None]]

HTTP = "http"
WEBSOCKET = "websocket"
_PARAM = re.compile(r"<(int|path):([a-z_]+)>")
_PATTERNS = {"int": "[0-9]{1,18}", "path": ".+"}
_CHAOS_LATENCY = (b"x-chaos", b"latency")


@dataclass(frozen=True, slots=True)
class Route:
    kind: str  # HTTP or WEBSOCKET
    method: str  # "" for a WebSocket
    rule: str  # Quart's spelling; `<int:name>` is 1 to 18 ASCII digits, `<path:name>` the rest
    handler: Handler


class RouteTable:
    """Exact paths by a dict lookup; paths with parameters by one regular expression each."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = tuple(routes)
        self._exact: dict[tuple[str, str, str], Route] = {}
        self._patterns: list[tuple[str, str, re.Pattern[str], Route]] = []
        self._ints: set[str] = set()  # the parameters that are `<int:...>`
        for route in self.routes:
            key = (route.kind, route.method, route.rule)
            if "<" not in route.rule:
                if key in self._exact:
                    raise ValueError(f"two routes for {route.method} {route.rule}")
                self._exact[key] = route
                continue
            parts = _PARAM.split(route.rule)  # text, (type, name, text)...
            regex = re.escape(parts[0])
            for index in range(1, len(parts), 3):
                kind, name = parts[index], parts[index + 1]
                if kind == "int":
                    self._ints.add(name)
                regex += f"(?P<{name}>{_PATTERNS[kind]})" + re.escape(parts[index + 2])
            self._patterns.append((route.kind, route.method, re.compile(regex + r"\Z"), route))

    def match(self, kind: str, method: str, path: str) -> tuple[Route, dict[str, Any]] | None:
        route = self._exact.get((kind, method, path))
        if route is not None:
            return route, {}
        for route_kind, route_method, pattern, route in self._patterns:
            if route_kind == kind and route_method == method:
                found = pattern.match(path)
                if found is not None:
                    ints = self._ints
                    return route, {name: int(value) if name in ints else value
                                   for name, value in found.groupdict().items()}
        return None


class Edge:
    """The server's ASGI application; see the module docstring."""

    def __init__(self, table: RouteTable, app: ASGIApp, chaos: Chaos,
                 refuse_websocket: ASGIApp) -> None:
        self.table = table
        self.app = app
        self.chaos = chaos
        self.refuse_websocket = refuse_websocket

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == HTTP:
            path = scope["path"]
            if (self.chaos.spec.latency_max and path.startswith("/v1/")
                    and not path.startswith("/v1/admin/")):
                send = self._delayed(send)
            found = self.table.match(HTTP, scope["method"], path)
        elif kind == WEBSOCKET:
            found = self.table.match(WEBSOCKET, "", scope["path"])
            if found is None:
                await self.refuse_websocket(scope, receive, send)
                return
        else:  # lifespan
            found = None
        if found is None:
            await self.app(scope, receive, send)
            return
        route, params = found
        await route.handler(scope, receive, send, params)

    def _delayed(self, send: Send) -> Send:
        """`send`, with the start of the answer held back by chaos mode's latency."""
        delay = self.chaos.latency()

        async def delayed(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                await trio.sleep(delay)
                message = {**message, "headers": [*message.get("headers", ()),
                                                  _CHAOS_LATENCY]}
            await send(message)

        return delayed
