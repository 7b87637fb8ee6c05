"""Binance's error envelope, `{"code": -NNNN, "msg": "..."}`, for everything under `/api/`.

ccxt matches the exact `msg` before the code, so the texts below are part of the contract.
The routes raise `BinanceError`; anything else the one error path answers (a `/v1`
`ApiError`: the pipeline's 503 and 504, a 429, a 413, a 404 route) becomes the Binance code
a client expects for it (`envelope`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from exchange.web.errors import ApiError

INSUFFICIENT = "Account has insufficient balance for requested action."
WOULD_TAKE = "Order would immediately match and take."
UNKNOWN_ORDER = "Unknown order sent."
NO_ORDER = "Order does not exist."
BAD_SYMBOL = "Invalid symbol."
OUTSIDE_WINDOW = "Timestamp for this request is outside of the recvWindow."
BAD_SIGNATURE = "Signature for this request is not valid."
BAD_KEY_FORMAT = "API-key format invalid."
BAD_KEY = "Invalid API-key, IP, or permissions for action."
UNKNOWN = "An unknown error occurred while processing the request."

# A /v1 error's code -> (Binance code, message) where the message is not the /v1 one.
_BY_CODE: dict[str, tuple[int, str | None]] = {
    "overloaded": (-1008, "Server is currently overloaded with other requests. "
                          "Please try again in a few minutes."),
    "unavailable": (-1001, "Internal error; unable to process your request. "
                           "Please try again."),
    "outcome_unknown": (-1007, "Timeout waiting for response from backend server. "
                               "Send status unknown; execution status unknown."),
    "rate_limited": (-1003, None),
    "internal_error": (-1000, UNKNOWN),
    "not_found": (-1000, None),
    "method_not_allowed": (-1000, None),
    "payload_too_large": (-1000, None),
    "invalid_request": (-1100, None),
}


class BinanceError(ApiError):
    """Answers with Binance's envelope: HTTP `status`, `code` (negative) and `msg`, and
    `data` when given (a cancel-replace's halves)."""

    def __init__(self, status: int, code: int, msg: str,
                 headers: dict[str, str] | None = None,
                 data: dict[str, Any] | None = None) -> None:
        super().__init__(status, "binance", msg, headers=headers)
        self.binance_code = code
        self.data = data


def bad_parameter(msg: str, code: int = -1102) -> BinanceError:
    """-1100..-1116: a parameter missing (-1102), malformed (-1100) or not allowed."""
    return BinanceError(400, code, msg)


def missing(name: str) -> BinanceError:
    return bad_parameter(f"Mandatory parameter '{name}' was not sent, was empty/null, or "
                         "malformed.")


def envelope(error: ApiError) -> tuple[int, bytes, dict[str, str]]:
    """`error` as Binance answers it: status, body and headers."""
    if isinstance(error, BinanceError):
        code, msg = error.binance_code, error.message
    else:
        code, text = _BY_CODE.get(error.code, (-1000, None))
        msg = text or error.message
    body: dict[str, Any] = {"code": code, "msg": msg}
    if isinstance(error, BinanceError) and error.data is not None:
        body["data"] = error.data
    return error.status, msgspec.json.encode(body), dict(error.headers or {})
