"""API keys and the admin token.

A key is `<key_id>.<secret>`: `key_id` (16 hex digits) finds the account, the secret (256
random bits) is checked against its stored SHA-256 in constant time. A fast hash is the right
one here: the secret is random, not a password, so there is nothing to brute-force, and a
slow KDF would cost every request milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from exchange.pipeline.readmodel import AccountView, ReadModel
from exchange.web.errors import ApiError


def new_api_key() -> tuple[str, str, str]:
    """`(api_key, key_id, secret_hash)` for a new account; show `api_key` once."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return f"{key_id}.{secret}", key_id, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(api_key: str) -> tuple[str, str] | None:
    key_id, dot, secret = api_key.partition(".")
    if not dot or not key_id or not secret or len(api_key) > 200:
        return None
    return key_id, secret


def authorization(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The request's `Authorization` header, from its ASGI headers (None without one).

    Several are `400 invalid_request`: each surface (the fast path, Quart, the WebSocket
    upgrade) would otherwise pick its own (the last, the first, any), so every surface reads
    the header here."""
    found = None
    for name, value in headers:
        if name.lower() == b"authorization":
            if found is not None:
                raise ApiError(400, "invalid_request", "several Authorization headers")
            found = value.decode("latin-1")
    return found


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def account_for(readmodel: ReadModel, token: str | None) -> AccountView | None:
    if token is None:
        return None
    parts = split_key(token)
    if parts is None:
        return None
    account = readmodel.account_for_key(parts[0])
    if account is None or account.api_key_hash is None:
        return None
    if not hmac.compare_digest(hash_secret(parts[1]), account.api_key_hash):
        return None
    return account


def authenticate(readmodel: ReadModel, header: str | None) -> AccountView:
    account = account_for(readmodel, bearer(header))
    if account is None:
        raise ApiError(401, "unauthorized", "missing or wrong API key",
                       headers={"WWW-Authenticate": "Bearer"})
    return account


def authorize_admin(readmodel: ReadModel, admin_token: str | None, header: str | None) -> None:
    """Passes with the configured admin token; 403 when none is configured or an API key is
    used, 401 otherwise."""
    if admin_token is None:
        raise ApiError(403, "forbidden", "admin routes are disabled: no admin token configured")
    token = bearer(header)
    if token is not None and hmac.compare_digest(token.encode(), admin_token.encode()):
        return
    if account_for(readmodel, token) is not None:
        raise ApiError(403, "forbidden", "admin routes need the admin token")
    raise ApiError(401, "unauthorized", "missing or wrong admin token",
                   headers={"WWW-Authenticate": "Bearer"})
