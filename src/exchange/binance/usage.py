"""The usage headers on every `/api/` and `/sapi/` answer, as Binance's:

    X-MBX-USED-WEIGHT-1M    the request weight the client's IP used this minute (UTC)
    X-MBX-ORDER-COUNT-10S   the account's order-entry requests in this 10 s window
    X-MBX-ORDER-COUNT-1D    ... and this UTC day

Each request adds its route's Binance weight (`weight`: 1 unless the table below says more;
`depth`, `openOrders` and the tickers by their parameters, as Binance weighs them) to the
IP's count of the current minute. The weight is reported, not limited: the limit the venue
enforces is the rate limiter's order-entry bucket (a 429 `-1003` with `Retry-After`), whose
counts (`RateLimiter.orders`) the order-count headers show, for the account that signed the
request (or named its key: `userDataStream`); an anonymous request carries none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from quart import Response, g, request
from quart_trio import QuartTrio

from exchange.web.app import BINANCE_PREFIXES, Services
from exchange.web.ratelimit import RateLimiter

WEIGHT = "X-MBX-USED-WEIGHT-1M"
ORDERS_10S = "X-MBX-ORDER-COUNT-10S"
ORDERS_1D = "X-MBX-ORDER-COUNT-1D"

# (method, path) -> Binance's weight of the route, where it is not 1.
_WEIGHTS = {
    ("GET", "/api/v3/exchangeInfo"): 20, ("GET", "/api/v3/trades"): 25,
    ("GET", "/api/v3/historicalTrades"): 25, ("GET", "/api/v3/aggTrades"): 4,
    ("GET", "/api/v3/klines"): 2, ("GET", "/api/v3/uiKlines"): 2,
    ("GET", "/api/v3/avgPrice"): 2, ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/account/commission"): 20, ("GET", "/api/v3/allOrders"): 20,
    ("GET", "/api/v3/myTrades"): 20, ("GET", "/api/v3/order"): 4,
    ("GET", "/api/v3/rateLimit/order"): 40, ("PUT", "/api/v3/order/amend/keepPriority"): 4,
    ("POST", "/api/v3/userDataStream"): 2, ("PUT", "/api/v3/userDataStream"): 2,
    ("DELETE", "/api/v3/userDataStream"): 2,
}
# Weighed by their parameters (`_by_parameters`).
_DEPTH = "/api/v3/depth"
_OPEN_ORDERS = "/api/v3/openOrders"
_TICKERS = {"/api/v3/ticker/24hr": (2, 80), "/api/v3/ticker/price": (2, 4),
            "/api/v3/ticker/bookTicker": (2, 4)}  # (one symbol, several or all)


def weight(method: str, path: str, args: Mapping[str, str]) -> int:
    """Binance's weight of a request (`args`: its query parameters)."""
    fixed = _WEIGHTS.get((method, path))
    if fixed is not None:
        return fixed
    if method == "GET" and (path in (_DEPTH, _OPEN_ORDERS) or path in _TICKERS):
        return _by_parameters(path, args)
    return 1


def _by_parameters(path: str, args: Mapping[str, str]) -> int:
    if path == _DEPTH:
        raw = args.get("limit", "")
        limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else 100
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if path == _OPEN_ORDERS:
        return 6 if args.get("symbol") else 80
    one, several = _TICKERS[path]
    return one if args.get("symbol") else several


class RequestWeight:
    """Each client IP's request weight in the current minute of `clock` (UTC seconds): one
    count per IP, all forgotten when the minute turns (so a minute holds only its own)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._minute = -1
        self._used: dict[str, int] = {}

    def add(self, client: str, amount: int) -> int:
        """Adds `amount` to the IP's weight; the weight it has used this minute."""
        minute = int(self.clock()) // 60
        if minute != self._minute:
            self._minute = minute
            self._used = {}
        used = self._used.get(client, 0) + amount
        self._used[client] = used
        return used


class Usage:
    """The usage headers of one server: the IPs' request weights and the rate limiter's
    order counts, shared by the app's routes and the edge's order-entry routes."""

    def __init__(self, limiter: RateLimiter, clock: Callable[[], float] = time.time) -> None:
        self.weights = RequestWeight(clock)
        self.limiter = limiter

    def headers(self, method: str, path: str, args: Mapping[str, str], client: str,
                account_id: int | None) -> dict[str, str]:
        """The headers of an answer to `method path` from `client`, signed by
        `account_id` (None: anonymous, no order counts)."""
        out = {WEIGHT: str(self.weights.add(client, weight(method, path, args)))}
        if account_id is not None:
            ten, day = self.limiter.orders(account_id)
            out[ORDERS_10S] = str(ten)
            out[ORDERS_1D] = str(day)
        return out


def register(app: QuartTrio, services: Services) -> None:
    """Adds the headers to every answer under `/api/` and `/sapi/`, errors included (the
    routes put the account that signed into `g.binance_account`)."""
    usage = services.binance_usage

    @app.after_request
    async def _binance_usage(response: Response) -> Response:
        path = request.path
        if path.startswith(BINANCE_PREFIXES):
            response.headers.update(usage.headers(
                request.method, path, request.args, request.remote_addr or "",
                g.get("binance_account")))
        return response
