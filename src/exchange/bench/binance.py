"""The `mixed` order mix in Binance's words, for `bench http --api binance` (`POST` and
`DELETE /api/v3/order`) and `bench ws --api binance` (`/ws-api/v3` `order.place` and
`order.cancel`), signed with each bench account's own HMAC key.

A placement carries what ccxt 4.5.90's `create_order` sends for a spot order (`symbol`,
`side`, `type`, `quantity`, `price`, `timeInForce`, `stopPrice`, `newOrderRespType=FULL`,
`recvWindow=10000`, `timestamp`), but no `newClientOrderId`: the `/v1` benches send no
`client_order_id`, and one would add the idempotency lookup to every placement. Binance's
order entry has no plain amend, so the flow draws no amends here (`OrderFlow(amends=False)`).

The REST request is signed as ccxt signs it (HMAC-SHA256 of the form-encoded parameters, in
the body for a `POST`, in the query string for a `DELETE`); the WebSocket API request over
its parameters sorted by name, as ccxt.pro and Binance's documentation do.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import msgspec

from exchange.bench.flow import Op, OrderFlow, Trader

PATH = "/api/v3/order"
RECV_WINDOW = "10000"
# Refusals the mix provokes on purpose: a post-only that would take (-2010), a cancel that
# raced a fill (-2011). Any other code is an error of the run.
REFUSALS = frozenset({-2010, -2011})
_TYPES = {"limit": "LIMIT", "market": "MARKET", "stop_limit": "STOP_LOSS_LIMIT"}
_encode = msgspec.json.encode


def binance_symbol(symbol: str) -> str:
    """`BENCH-USD` as Binance spells it: `BENCHUSD`."""
    return symbol.replace("-", "")


def order_params(order: dict[str, Any]) -> dict[str, str]:
    """A `POST /v1/orders` body of the mix as Binance's `order` parameters."""
    kind = "LIMIT_MAKER" if order.get("post_only") else _TYPES[order["type"]]
    params = {"symbol": binance_symbol(order["symbol"]), "side": order["side"].upper(),
              "type": kind, "quantity": order["quantity"]}
    if "price" in order:
        params["price"] = order["price"]
    if "stop_price" in order:
        params["stopPrice"] = order["stop_price"]
    if kind in ("LIMIT", "STOP_LOSS_LIMIT"):
        params["timeInForce"] = order.get("time_in_force", "gtc").upper()
    params["newOrderRespType"] = "FULL"
    return params


def op_params(op: Op, symbol: str) -> tuple[str, dict[str, str]]:
    """("place" or "cancel", the op's Binance parameters, unsigned)."""
    if op.kind == "cancel":
        return "cancel", {"symbol": binance_symbol(symbol), "orderId": str(op.order_id)}
    if op.order is None:
        raise ValueError(f"Binance's order entry has no {op.kind!r}")
    return "place", order_params(op.order)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Signer:
    """Signs with one trader's HMAC key."""

    def __init__(self, trader: Trader) -> None:
        self.api_key = trader.hmac_key
        self.secret = trader.hmac_secret.encode()

    def sign(self, payload: bytes) -> str:
        return hmac.new(self.secret, payload, hashlib.sha256).hexdigest()

    def rest(self, op: Op, symbol: str) -> tuple[str, bytes]:
        """(method, the signed parameter string) of the op's REST request."""
        action, params = op_params(op, symbol)
        params["recvWindow"] = RECV_WINDOW
        params["timestamp"] = str(now_ms())
        query = urlencode(params).encode()
        signed = query + b"&signature=" + self.sign(query).encode()
        return ("DELETE" if action == "cancel" else "POST"), signed

    def ws(self, op: Op, symbol: str, request_id: int) -> bytes:
        """The op's `/ws-api/v3` request."""
        action, params = op_params(op, symbol)
        signed: dict[str, Any] = {**params, "apiKey": self.api_key,
                                  "recvWindow": int(RECV_WINDOW), "timestamp": now_ms()}
        payload = "&".join(f"{name}={signed[name]}" for name in sorted(signed)).encode()
        signed["signature"] = self.sign(payload)
        return _encode({"id": request_id, "method": "order." + action, "params": signed})


def observe(flow: OrderFlow, op: Op, order_id: int | None, status: str | None) -> None:
    """Tells the flow about an accepted answer (Binance's `orderId` and `status`)."""
    if order_id is not None and status is not None:
        flow.observe(op, {"order_id": order_id, "status": status.lower()})
