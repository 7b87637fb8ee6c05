"""The edge's route table: what it matches, what it leaves to the app, and a second surface
added as one more entry."""

from __future__ import annotations

from typing import Any

import pytest

from exchange.pipeline.chaos import Chaos
from exchange.web.edge import HTTP, WEBSOCKET, Edge, Route, RouteTable


async def _nothing(scope: Any, receive: Any, send: Any, params: dict[str, int]) -> None:
    return None


ORDERS = Route(HTTP, "POST", "/v1/orders", _nothing)
ORDER = Route(HTTP, "DELETE", "/v1/orders/<int:order_id>", _nothing)
SOCKET = Route(WEBSOCKET, "", "/v1/ws", _nothing)
TABLE = RouteTable([ORDERS, ORDER, SOCKET])


@pytest.mark.parametrize(("kind", "method", "path", "expected"), [
    (HTTP, "POST", "/v1/orders", (ORDERS, {})),
    (HTTP, "DELETE", "/v1/orders/42", (ORDER, {"order_id": 42})),
    (HTTP, "DELETE", "/v1/orders/" + "9" * 18, (ORDER, {"order_id": 10**18 - 1})),
    (WEBSOCKET, "", "/v1/ws", (SOCKET, {})),
    # left to the app (its 404, 405 and validation answer these)
    (HTTP, "GET", "/v1/orders", None),
    (HTTP, "POST", "/v1/orders/", None),
    (HTTP, "DELETE", "/v1/orders/" + "9" * 19, None),  # past int64: the app's 404
    (HTTP, "DELETE", "/v1/orders/١٢", None),  # Arabic-Indic digits are not an id
    (HTTP, "DELETE", "/v1/orders/12/x", None),
    (HTTP, "DELETE", "/v1/orders/-1", None),
    (WEBSOCKET, "", "/ws", None),
    (HTTP, "GET", "/v1/ws", None),
])
def test_the_table_matches_exactly_its_routes(kind: str, method: str, path: str,
                                              expected: object) -> None:
    assert TABLE.match(kind, method, path) == expected


def test_two_routes_for_one_path_are_refused() -> None:
    with pytest.raises(ValueError, match="two routes"):
        RouteTable([ORDERS, Route(HTTP, "POST", "/v1/orders", _nothing)])


async def test_a_second_surface_is_one_more_entry() -> None:
    seen: list[tuple[str, Any]] = []

    async def ping(scope: Any, receive: Any, send: Any, params: dict[str, int]) -> None:
        seen.append(("ping", params))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(("app", scope.get("path", scope["type"])))

    async def refuse(scope: Any, receive: Any, send: Any) -> None:
        seen.append(("refused", scope["path"]))

    edge = Edge(RouteTable([ORDERS, Route(HTTP, "GET", "/api/v3/ping", ping)]), app, Chaos(),
                refuse)
    for scope in ({"type": "http", "method": "GET", "path": "/api/v3/ping"},
                  {"type": "http", "method": "GET", "path": "/api/v3/time"},
                  {"type": "websocket", "path": "/ws"},
                  {"type": "lifespan"}):
        await edge(scope, None, None)  # type: ignore[arg-type]
    assert seen == [("ping", {}), ("app", "/api/v3/time"), ("refused", "/ws"),
                    ("app", "lifespan")]
