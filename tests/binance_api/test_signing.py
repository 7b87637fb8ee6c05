"""Signing: ccxt's own signing and the server's verification agree for random parameter
sets, with HMAC and Ed25519 keys; a changed parameter, a stale timestamp or another key's
secret is refused with Binance's code."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import ccxt
import pytest
import trio
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from exchange.binance.errors import BinanceError
from exchange.binance.signing import parameters, verify
from exchange.pipeline.keyring import ApiKey, KeyRing

# Parameter names and values as a bot may send them (ccxt url-encodes whatever it is given).
NAMES = st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=1,
                max_size=12).filter(lambda n: n not in ("timestamp", "signature",
                                                        "recvWindow"))
VALUES = st.one_of(st.text(max_size=20), st.integers(-10**12, 10**12).map(str),
                   st.decimals(allow_nan=False, allow_infinity=False, places=6).map(str))


def _ring() -> tuple[KeyRing, ApiKey, str, ApiKey, str]:
    ring = KeyRing(Fernet(Fernet.generate_key()))
    hmac_key, secret = trio.run(ring.create_hmac, 1)
    private = Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    ed_key = trio.run(ring.add_ed25519, 2, pem)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    return ring, hmac_key, secret, ed_key, private_pem


RING, HMAC_KEY, SECRET, ED_KEY, ED_PRIVATE = _ring()


def _signed(key: ApiKey, secret: str, method: str, params: dict[str, Any]
            ) -> tuple[bytes, bytes, dict[str, str]]:
    """(query, body, headers) exactly as ccxt would send them."""
    client = ccxt.binance({"apiKey": key.api_key, "secret": secret})
    client.urls["api"]["private"] = "http://venue/api/v3"
    request = client.sign("account", ["private"], method, dict(params))
    query = (urlsplit(request["url"]).query or "").encode()
    body = (request["body"] or "").encode()
    return query, body, {k.lower(): v for k, v in request["headers"].items()}


def _check(query: bytes, body: bytes, headers: dict[str, str]) -> ApiKey:
    return verify(RING, headers.get("x-mbx-apikey"), query, body, parameters(query, body),
                  time.time_ns() // 1_000_000)


@given(st.dictionaries(NAMES, VALUES, max_size=6), st.sampled_from(["GET", "POST", "DELETE"]),
       st.booleans())
def test_ccxt_signatures_verify(params: dict[str, str], method: str, ed25519: bool) -> None:
    key, secret = (ED_KEY, ED_PRIVATE) if ed25519 else (HMAC_KEY, SECRET)
    query, body, headers = _signed(key, secret, method, params)
    assert _check(query, body, headers) == key
    given_params = parameters(query, body)
    for name, value in params.items():
        assert given_params[name] == value
    # One parameter changed after signing: refused.
    tampered_query, tampered_body = (query, body + b"&x=1") if body else (query + b"&x=1", body)
    with pytest.raises(BinanceError) as refused:
        _check(tampered_query, tampered_body, headers)
    assert refused.value.binance_code == -1022


def test_refusals() -> None:
    query, body, headers = _signed(HMAC_KEY, "z" * 64, "GET", {})
    with pytest.raises(BinanceError) as wrong:
        _check(query, body, headers)
    assert wrong.value.binance_code == -1022
    stale = dict(parameters(*_signed(HMAC_KEY, SECRET, "GET", {})[:2]))
    old = str(int(stale["timestamp"]) - 6000).encode()
    query = b"timestamp=" + old
    with pytest.raises(BinanceError) as late:
        verify(RING, HMAC_KEY.api_key, query, b"", parameters(query, b""),
               time.time_ns() // 1_000_000)
    assert late.value.binance_code == -1021
    for header, code in ((None, -2014), ("not a key!", -2014), ("A" * 64, -2015)):
        with pytest.raises(BinanceError) as refused:
            verify(RING, header, b"timestamp=1", b"", {"timestamp": "1"}, 1)
        assert refused.value.binance_code == code


def test_the_server_key_file_is_made_once_beside_the_database(tmp_path: Any) -> None:
    from exchange.pipeline.keyring import load_server_key, server_key_path

    url = f"sqlite+aiosqlite:///{tmp_path / 'venue.db'}"
    path = server_key_path(url, None)
    assert path == tmp_path / "venue.db.key"
    first = load_server_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    token = first.encrypt(b"secret")
    assert load_server_key(path).decrypt(token) == b"secret"  # the same key again
    assert server_key_path("postgresql+asyncpg://h/db", None).name == "exchange.key"
    assert server_key_path(url, str(tmp_path / "k")) == tmp_path / "k"


async def test_keys_survive_a_restart_encrypted_at_rest(tmp_path: Any) -> None:
    import sqlite3

    from web.support import start_exchange

    url = f"sqlite+aiosqlite:///{tmp_path / 'venue.db'}"
    async with trio.open_nursery() as nursery:
        first = await start_exchange(nursery, database_url=url, server_key=None)
        account = await first.admin.create_account("keeper")
        made = await first.admin.request(
            "POST", f"/v1/admin/accounts/{account['account_id']}/api-keys",
            json={"type": "hmac"}, auth="admin")
        await first.admin.aclose()
        first.server.shutdown()
    stored = sqlite3.connect(tmp_path / "venue.db").execute(
        "SELECT secret FROM api_keys").fetchone()[0]
    assert made["secret_key"] not in stored  # encrypted, not the secret
    assert (tmp_path / "venue.db.key").exists()
    async with trio.open_nursery() as nursery:
        again = await start_exchange(nursery, database_url=url, server_key=None)
        key = again.server.services.keys.get(made["api_key"])
        assert key is not None
        assert key.secret == made["secret_key"].encode()
        await again.admin.aclose()
        again.server.shutdown()
