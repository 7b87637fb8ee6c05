"""Binance's order entry as routes of the edge's table: `POST` and `DELETE /api/v3/order`.

The same reasoning as `/v1`'s hot routes (`exchange.web.fastpath`): Quart's per-request
machinery costs about as much as the rest of a placement. These are answered at the ASGI
level by the Quart routes' own code (`signing.verify_request`, `BinanceOrders.place` and
`cancel`), with Binance's error envelope (`errors.envelope`), the rate-limit and usage
headers (`usage.Usage`) and the request metrics. `/api/v3/order/test` and every other route
stay the app's (and these two stay registered there too, for the app on its own).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec

from exchange.binance.errors import envelope
from exchange.binance.orders import BinanceOrders
from exchange.binance.rest import PREFIX, now_ms
from exchange.binance.signing import KEY_HEADER, verify_request
from exchange.web.app import Services
from exchange.web.edge import HTTP, Route
from exchange.web.errors import ApiError, PipelineError, internal_error, pipeline_error
from exchange.web.fastpath import header_of, read_body, respond

log = logging.getLogger("exchange.web")

ORDER = PREFIX + "/order"
_KEY_HEADER = KEY_HEADER.encode()
_CONTENT_LENGTH = b"content-length"
_encode = msgspec.json.encode

Scope = Any


def routes(services: Services) -> list[Route]:
    """The edge's entries for Binance's order entry."""
    orders = BinanceOrders(services)
    keys, accounts = services.keys, services.readmodel.accounts
    max_body = services.settings.max_body_bytes
    seconds = services.metrics.request_seconds
    usage = services.binance_usage

    async def handle(scope: Scope, receive: Any, send: Any, place: bool) -> None:
        started = time.perf_counter()
        headers: dict[str, str] = {}
        account_id: int | None = None
        try:
            try:
                # python-binance sends a DELETE's parameters in the body too.
                body = await read_body(receive, header_of(scope, _CONTENT_LENGTH), max_body)
                raw_key = header_of(scope, _KEY_HEADER)
                key, given = verify_request(
                    keys, None if raw_key is None else raw_key.decode("latin-1"),
                    scope["query_string"], body, now_ms())
                account_id = key.account_id
                account = accounts[account_id]
                result = (await orders.place(account, given, headers) if place
                          else await orders.cancel(account, given, headers))
                status, payload = 200, _encode(result)
            except PipelineError as exc:
                raise pipeline_error(exc) from None
        except ApiError as error:
            status, payload, extra = envelope(error)
            headers.update(extra)
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            status, payload, _ = envelope(internal_error())
        client = scope.get("client")
        headers.update(usage.headers(scope["method"], ORDER, {},
                                     client[0] if client else "", account_id))
        await respond(send, status, payload, headers)
        seconds.labels(scope["method"], ORDER, str(status)).observe(
            time.perf_counter() - started)

    async def place(scope: Scope, receive: Any, send: Any, _: dict[str, Any]) -> None:
        await handle(scope, receive, send, True)

    async def cancel(scope: Scope, receive: Any, send: Any, _: dict[str, Any]) -> None:
        await handle(scope, receive, send, False)

    return [Route(HTTP, "POST", ORDER, place), Route(HTTP, "DELETE", ORDER, cancel)]
