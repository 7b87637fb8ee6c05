"""The contract's error envelope, and the one exception the routes raise to answer with it.

    ApiError          any failure answered with `{"error": {code, message, details?}}`

Business rejections arrive from the engine as reason codes (`RejectReason`); `STATUS_OF`
maps each to the contract's HTTP status.
"""

from __future__ import annotations

from typing import Any

import msgspec

from exchange.engine.codes import RejectReason
from exchange.pipeline.sequencer import OutcomeUnknown, Overloaded, Unavailable

STATUS_OF: dict[str, int] = {
    RejectReason.INSUFFICIENT_FUNDS: 422,
    RejectReason.UNKNOWN_SYMBOL: 422,
    RejectReason.PRICE_NOT_ON_TICK: 422,
    RejectReason.QUANTITY_NOT_ON_LOT: 422,
    RejectReason.QUANTITY_BELOW_MINIMUM: 422,
    RejectReason.QUANTITY_ABOVE_MAXIMUM: 422,
    RejectReason.NOTIONAL_BELOW_MINIMUM: 422,
    RejectReason.POST_ONLY_WOULD_TAKE: 422,
    RejectReason.INSTRUMENT_HALTED: 422,
    RejectReason.TOO_MANY_OPEN_ORDERS: 422,
    RejectReason.INVALID_ORDER: 422,
    RejectReason.ORDER_NOT_OPEN: 409,
    RejectReason.NOT_FOUND: 404,
    RejectReason.FORBIDDEN: 403,
    RejectReason.CONFLICT: 409,
    RejectReason.ROUND_CLOSED: 422,
}

MESSAGES: dict[str, str] = {
    "insufficient_funds": "insufficient available balance",
    "unknown_symbol": "unknown symbol",
    "price_not_on_tick": "price is not a multiple of the tick size",
    "quantity_not_on_lot": "quantity is not a multiple of the lot size",
    "quantity_below_minimum": "quantity is below the instrument's minimum",
    "quantity_above_maximum": "quantity is above the instrument's max_quantity",
    "notional_below_minimum": "the order is worth less than the instrument's min_notional",
    "post_only_would_take": "a post-only order would take liquidity",
    "instrument_halted": "trading on this instrument is halted",
    "too_many_open_orders": "too many open orders",
    "invalid_order": "the order is not valid for its type",
    "order_not_open": "the order is already finished",
    "not_found": "not found",
    "forbidden": "not allowed",
    "conflict": "conflict",
    "round_closed": "the account's round has ended or has not started: no new orders",
}


class ApiError(Exception):
    """Answers the request with `status` and the error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or MESSAGES.get(code, code))
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, code.replace("_", " "))
        self.details = details
        self.headers = headers or {}

    @classmethod
    def rejected(cls, reason: str) -> ApiError:
        """The error for an engine rejection reason."""
        return cls(STATUS_OF.get(reason, 422), str(reason))

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def body(self) -> bytes:
        return msgspec.json.encode(self.envelope())


# What the sequencer raises when a request is not answered with its events.
PipelineError = (Overloaded, Unavailable, OutcomeUnknown)


def pipeline_error(exc: Overloaded | Unavailable | OutcomeUnknown) -> ApiError:
    """The answer to the sequencer's refusals: 503 for a full inbox, for shutting down and
    for a request withdrawn at its deadline (none of them executed: safe to retry); 504
    `outcome_unknown` for one executed but not durable by its deadline."""
    if isinstance(exc, Overloaded):
        return ApiError(503, "overloaded", "the engine inbox is full; retry",
                        headers={"Retry-After": "1"})
    if isinstance(exc, OutcomeUnknown):
        return ApiError(504, "outcome_unknown", str(exc))
    return ApiError(503, "unavailable", str(exc) or "unavailable", headers={"Retry-After": "1"})


def chaos_refusal() -> ApiError:
    """Chaos mode's refusal of an order-entry request, before it reached the engine."""
    return ApiError(503, "unavailable", "chaos mode refused the request before the engine: "
                    "nothing was done; retry", headers={"Retry-After": "1", "X-Chaos": "reject"})


def internal_error() -> ApiError:
    """The answer to a bug (logged where it was caught): the same on every surface."""
    return ApiError(500, "internal_error", "internal error")


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body over {limit} bytes")


def invalid(message: str, path: str | None = None) -> ApiError:
    details = [{"path": path, "message": message}] if path else None
    return ApiError(400, "invalid_request", message, details=details)
