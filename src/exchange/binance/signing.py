"""Signed requests: `X-MBX-APIKEY`, `timestamp`, `recvWindow` and `signature`.

The signature covers the total parameter string exactly as sent: the query string, then the
body, each without its `signature=` pair (Binance's "totalParams"). An HMAC key signs with
HMAC-SHA256, in lower-case hex; an Ed25519 key with its private key, in base64. A request is
refused with Binance's codes: -2014 without a well-formed key, -2015 for a key the venue does
not know (or revoked), -1021 with a `timestamp` more than 1 s ahead of the server or older
than `recvWindow` (default 5000 ms, at most 60000), -1022 when the signature does not match.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import parse_qsl, unquote_plus

from exchange.binance.errors import (
    BAD_KEY,
    BAD_KEY_FORMAT,
    BAD_SIGNATURE,
    OUTSIDE_WINDOW,
    BinanceError,
    bad_parameter,
    missing,
)
from exchange.pipeline.keyring import ApiKey, KeyRing

KEY_HEADER = "x-mbx-apikey"
DEFAULT_WINDOW = 5000
MAX_WINDOW = 60000
AHEAD = 1000  # ms a timestamp may be ahead of the server's clock
_KEY = re.compile(r"^[A-Za-z0-9]{1,64}$")


def parameters(query: bytes, body: bytes) -> dict[str, str]:
    """The request's parameters, the query string's and the body's (a body one wins)."""
    out: dict[str, str] = {}
    for raw in (query, body):
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            raise bad_parameter("Illegal characters found in a parameter.", -1100) from None
        out.update(parse_qsl(text, keep_blank_values=True))
    return out


def signed_payload(query: bytes, body: bytes) -> tuple[bytes, str | None]:
    """(the total parameter string without `signature`, the signature as sent)."""
    signature = None
    parts = []
    for raw in (query, body):
        kept = []
        for pair in raw.split(b"&") if raw else []:
            if pair.startswith(b"signature="):
                signature = unquote_plus(pair[len(b"signature="):].decode("latin-1"))
            else:
                kept.append(pair)
        parts.append(b"&".join(kept))
    return b"".join(parts), signature


def api_key_of(keys: KeyRing, header: str | None) -> ApiKey:
    """The key of the `X-MBX-APIKEY` header (userDataStream takes only this)."""
    if header is None or not _KEY.match(header):
        raise BinanceError(401, -2014, BAD_KEY_FORMAT)
    key = keys.get(header)
    if key is None:
        raise BinanceError(401, -2015, BAD_KEY)
    return key


def verify(keys: KeyRing, header: str | None, query: bytes, body: bytes,
           params: dict[str, str], now_ms: int) -> ApiKey:
    """The key that signed this request, or the refusal."""
    key = api_key_of(keys, header)
    raw_time = params.get("timestamp")
    if raw_time is None or not is_digits(raw_time, 16):
        raise missing("timestamp")
    window = DEFAULT_WINDOW
    raw_window = params.get("recvWindow")
    if raw_window is not None:
        try:
            window = int(float(raw_window))
        except (ValueError, OverflowError):
            raise bad_parameter("Illegal characters found in parameter 'recvWindow'; legal "
                                "range is '^[0-9]{1,20}$'.", -1100) from None
        if not 0 < window <= MAX_WINDOW:
            raise bad_parameter("recvWindow must be less than 60000", -1131)
    timestamp = int(raw_time)
    if timestamp > now_ms + AHEAD or now_ms - timestamp > window:
        raise BinanceError(400, -1021, OUTSIDE_WINDOW)
    payload, signature = signed_payload(query, body)
    if signature is None:
        raise missing("signature")
    if _carries(query) and _carries(body):
        # The signature covers query + body run together, which does not say where one ends:
        # moving the boundary would change what was signed ("quantity=1" + "0&...").
        raise bad_parameter("Send the parameters in the query string or in the body, not "
                            "both.", -1104)
    if not key.verifies(payload, _signature_bytes(key, signature)):
        raise BinanceError(400, -1022, BAD_SIGNATURE)
    return key


def verify_request(keys: KeyRing, header: str | None, query: bytes, body: bytes,
                   now_ms: int) -> tuple[ApiKey, dict[str, str]]:
    """A signed REST request's key and parameters (the Quart routes' and the fast path's
    one way to read them), or the refusal."""
    given = parameters(query, body)
    return verify(keys, header, query, body, given, now_ms), given


def is_digits(raw: str, most: int) -> bool:
    """1 to `most` ASCII digits (`str.isdigit` also takes "²", which `int` refuses)."""
    return 0 < len(raw) <= most and raw.isascii() and raw.isdigit()


def _carries(raw: bytes) -> bool:
    """Whether a query string or body has a parameter besides `signature`."""
    return any(pair and not pair.startswith(b"signature=") for pair in raw.split(b"&"))


def _signature_bytes(key: ApiKey, signature: str) -> bytes:
    try:
        if key.kind == "hmac":
            return bytes.fromhex(signature)
        return base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise BinanceError(400, -1022, BAD_SIGNATURE) from None
