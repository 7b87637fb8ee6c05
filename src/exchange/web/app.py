"""The Quart-Trio application: routes, the error envelope for every failure, metrics.

`create_app(services)` builds the app for one server; the routes live in sibling modules
(`market`, `orders`, `account`, `admin`, `ops`), each a `register(app, services)`.
Every failure leaves as the contract's envelope: `ApiError` from the routes, werkzeug's
HTTP errors (404 unknown route, 405 wrong method, 413 body too large), the pipeline's
`Overloaded`/`Unavailable` (503) and `OutcomeUnknown` (504), and, as a last resort that
tests make sure never fires, any other exception (logged, answered 500 in the envelope).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import msgspec
import trio
from quart import Response, g, has_request_context, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from exchange.pipeline.chaos import Chaos
from exchange.pipeline.config import Settings
from exchange.pipeline.history import History
from exchange.pipeline.journal import Journal
from exchange.pipeline.keyring import KeyRing
from exchange.pipeline.metrics import Metrics
from exchange.pipeline.readmodel import ReadModel
from exchange.pipeline.sequencer import OutcomeUnknown, Overloaded, Sequencer, Unavailable
from exchange.web.auth import authorization
from exchange.web.errors import ApiError, internal_error, pipeline_error, too_large
from exchange.web.ratelimit import RateLimiter

if TYPE_CHECKING:
    from exchange.binance.listenkey import ListenKeys
    from exchange.binance.usage import Usage
    from exchange.pipeline.deadman import DeadMan
    from exchange.web.fanout import Fanout
    from exchange.web.orders import OrderEntry
    from exchange.web.ws import WebSocketHub

BINANCE_PREFIXES = ("/api/", "/sapi/")  # the Binance-compatible surface (`exchange.binance`)
log = logging.getLogger("exchange.web")

JSON = "application/json"
_encode = msgspec.json.encode

HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


@dataclass(eq=False)
class Services:
    """What the routes use: the pipeline's parts, every one given at construction (the
    runtime builds them first), and the two edge objects made from them on first use."""

    settings: Settings
    readmodel: ReadModel
    metrics: Metrics
    journal: Journal
    sequencer: Sequencer
    chaos: Chaos  # off unless `settings.chaos` or the admin route says
    deadman: DeadMan
    fanout: Fanout
    history: History  # orders, fills and trades at any depth (memory, then the database)
    keys: KeyRing  # the Binance-compatible surface's API keys
    limiter: RateLimiter = field(init=False)
    # (account_id, client_order_id) of placements in flight: a second request with the same
    # id waits for the first to finish instead of placing a duplicate.
    inflight: dict[tuple[int, str], trio.Event] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.settings.rate_limit, self.settings.rate_burst)

    @cached_property
    def order_entry(self) -> OrderEntry:
        """Order entry for the routes, the fast path and the WebSocket (one of each)."""
        from exchange.web.orders import OrderEntry

        return OrderEntry(self)

    @cached_property
    def websockets(self) -> WebSocketHub:
        from exchange.web.ws import WebSocketHub

        return WebSocketHub(self, self.fanout)

    @cached_property
    def listen_keys(self) -> ListenKeys:
        """The Binance surface's listenKeys, for its REST routes and streams (one of them)."""
        from exchange.binance.listenkey import ListenKeys

        return ListenKeys(self.keys, self.fanout, self.settings.listen_key_seconds)

    @cached_property
    def binance_usage(self) -> Usage:
        """The Binance surface's usage headers, for its app routes and edge routes."""
        from exchange.binance.usage import Usage

        return Usage(self.limiter)

    def engine(self) -> Sequencer:
        if self.sequencer.closed:
            raise Unavailable("the exchange is starting or stopping")
        return self.sequencer


async def request_body() -> bytes:
    """The current request's body (Quart raises 413 past MAX_CONTENT_LENGTH)."""
    data = await request.get_data()
    return data if isinstance(data, bytes) else data.encode()


def answer_headers() -> dict[str, str]:
    """Headers for the current request's answer, whatever it is (a success or an error):
    a route fills them (the rate-limit headers) and `after_request` adds them."""
    headers: dict[str, str] = g.setdefault("exchange_headers", {})
    return headers


def request_authorization() -> str | None:
    """The current request's `Authorization` header (several: 400, see `auth.authorization`)."""
    return authorization(request.scope["headers"])


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    return Response(_encode(data), status=status, content_type=JSON, headers=headers)


def error_response(error: ApiError) -> Response:
    """The one error path's answer, in the envelope of the surface the request is on: the
    contract's under `/v1` (and everywhere else), Binance's under `/api/` and `/sapi/`."""
    if has_request_context() and request.path.startswith(BINANCE_PREFIXES):
        from exchange.binance.errors import envelope

        status, body, headers = envelope(error)
        return Response(body, status=status, content_type=JSON, headers=headers)
    return Response(error.body(), status=error.status, content_type=JSON, headers=error.headers)


def create_app(services: Services) -> QuartTrio:
    from exchange.binance import rest as binance
    from exchange.web import account, admin, batch, competitions, market, ops, orders, page

    # No static folder: the page module serves the page's files, and Quart's default
    # `/static/<path:filename>` route would be one more undocumented way in.
    app = QuartTrio("exchange", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = services.settings.max_body_bytes
    app.config["BODY_TIMEOUT"] = 30
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.url_map.strict_slashes = False
    metrics = services.metrics

    @app.errorhandler(ApiError)
    async def _api_error(error: ApiError) -> Response:
        return error_response(error)

    @app.errorhandler(Overloaded)
    @app.errorhandler(Unavailable)
    @app.errorhandler(OutcomeUnknown)
    async def _refused(error: Overloaded | Unavailable | OutcomeUnknown) -> Response:
        return error_response(pipeline_error(error))

    @app.errorhandler(HTTPException)
    async def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = HTTP_CODES.get(status, "invalid_request" if status < 500 else "unavailable")
        headers = {
            name: value for name, value in error.get_headers()
            if name.lower() not in ("content-type", "content-length")
        }
        if status == 413:
            return error_response(too_large(services.settings.max_body_bytes))
        message = {
            404: "no such route",
            405: f"method {request.method} not allowed here",
        }.get(status, error.description or code)
        return error_response(ApiError(status, code, message, headers=headers))

    @app.errorhandler(Exception)
    async def _bug(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path,
                      exc_info=error)
        return error_response(internal_error())

    @app.before_request
    async def _start() -> None:
        g.exchange_start = time.perf_counter()
        request_authorization()  # several Authorization headers are a 400 on every route

    @app.after_request
    async def _measure(response: Response) -> Response:
        for name, value in g.get("exchange_headers", {}).items():
            response.headers.setdefault(name, value)
        started: float | None = g.get("exchange_start")
        if started is not None:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            metrics.request_seconds.labels(
                request.method, rule, str(response.status_code)
            ).observe(time.perf_counter() - started)
        return response

    for module in (market, orders, batch, account, admin, competitions, ops, page, binance):
        module.register(app, services)
    return app
