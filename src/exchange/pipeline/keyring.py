"""API keys of the Binance-compatible surface, in memory and (through the store) at rest.

An account may have any number of them beside its `/v1` bearer key:

- **HMAC** keys: the server must know the secret to check a signature, so the secret is kept
  encrypted at rest with the *server key* (Fernet: AES-128-CBC with HMAC-SHA256, from
  `cryptography`), decrypted only into this process's memory, never logged.
- **Ed25519** keys: the client keeps the private key; only the public key is stored.

The server key comes from the `server_key` setting (a Fernet key), else from a key file
(`server_key_file`, by default `<the SQLite file>.key`, or `exchange.key` in the working
directory for PostgreSQL), made on first start with owner-only permissions. Lose it and the
HMAC secrets cannot be read: new keys must be made.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from exchange.pipeline.sequencer import Unavailable

log = logging.getLogger("exchange.server")

_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 64  # Binance's keys and secrets: 64 letters and digits


class KeyProblem(ValueError):
    """A key that cannot be made or kept (a bad public key, an unreadable server key)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    api_key: str
    account_id: int
    kind: str  # "hmac" or "ed25519"
    created_at: int  # microseconds
    secret: bytes | None = field(default=None, repr=False)  # HMAC: in memory only, unlogged
    public_key: Ed25519PublicKey | None = None  # Ed25519

    def verifies(self, payload: bytes, signature: bytes) -> bool:
        """Whether `signature` signs `payload` with this key: for HMAC the raw 32-byte
        SHA-256 MAC (compared in constant time), for Ed25519 the 64-byte signature."""
        if self.secret is not None:
            # Not the one-shot `hmac.digest`: it releases the GIL around so short a hash, and
            # winning it back behind the engine's and the database's threads costs far more.
            expected = hmac.new(self.secret, payload, hashlib.sha256).digest()
            return hmac.compare_digest(expected, signature)
        assert self.public_key is not None
        try:
            self.public_key.verify(signature, payload)
        except InvalidSignature:
            return False
        return True

    def listed(self) -> dict[str, Any]:
        """As the admin API lists it: never a secret."""
        return {"api_key": self.api_key, "type": self.kind, "account_id": self.account_id,
                "created_at": self.created_at}


def _token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(KEY_LENGTH))


def server_key_path(database_url: str, configured: str | None) -> Path:
    if configured:
        return Path(configured)
    if database_url.startswith("sqlite"):
        database = database_url.split(":///", 1)[-1].split("?", 1)[0]
        if database and database != ":memory:":
            return Path(database + ".key")
    return Path("exchange.key")


def load_server_key(path: Path) -> Fernet:
    """The Fernet of the key file at `path`, made (owner-only) if there is none."""
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(Fernet.generate_key() + b"\n")
            log.info("made the server key %s (it encrypts API secrets: keep it)", path)
        return Fernet(path.read_bytes().strip())
    except (OSError, ValueError) as exc:
        raise KeyProblem(f"server key {path}: {exc}") from None


class KeyRing:
    """Every key of every account, by `api_key`; `bridge` (None: memory only) keeps them."""

    def __init__(self, fernet: Fernet, bridge: Any | None = None) -> None:
        self.fernet = fernet
        self.bridge = bridge
        self.keys: dict[str, ApiKey] = {}
        # Called with each key as it is revoked (the listenKeys made with it end).
        self.on_revoke: list[Callable[[ApiKey], None]] = []

    async def load(self) -> None:
        """The stored keys that are not revoked (at start)."""
        if self.bridge is None:
            return
        from exchange.store.keys import key_rows

        for row in await self.bridge.run(key_rows):
            if row["revoked_at"] is not None:
                continue
            try:
                self.keys[row["api_key"]] = self._decoded(row)
            except (InvalidToken, ValueError):
                log.error("API key %s of account %d cannot be read with this server key: "
                          "it is left out", row["api_key"][:8], row["account_id"])

    def _decoded(self, row: Any) -> ApiKey:
        if row["kind"] == "hmac":
            secret = self.fernet.decrypt(row["secret"].encode())
            return ApiKey(row["api_key"], row["account_id"], "hmac", row["created_at"],
                          secret=secret)
        return ApiKey(row["api_key"], row["account_id"], "ed25519", row["created_at"],
                      public_key=parse_public_key(row["public_key"]))

    def get(self, api_key: str) -> ApiKey | None:
        return self.keys.get(api_key)

    def of_account(self, account_id: int) -> list[ApiKey]:
        return sorted((key for key in self.keys.values() if key.account_id == account_id),
                      key=lambda key: (key.created_at, key.api_key))

    async def create_hmac(self, account_id: int) -> tuple[ApiKey, str]:
        """A new HMAC key and its secret (shown once)."""
        secret = _token()
        return await self.add_hmac(account_id, _token(), secret), secret

    async def add_hmac(self, account_id: int, api_key: str, secret: str) -> ApiKey:
        """An HMAC key with the given key and secret (the demo's published ones)."""
        key = ApiKey(api_key, account_id, "hmac", _now(), secret=secret.encode())
        await self._store(key, self.fernet.encrypt(secret.encode()).decode(), None)
        return key

    async def add_ed25519(self, account_id: int, pem: str) -> ApiKey:
        public_key = parse_public_key(pem)
        key = ApiKey(_token(), account_id, "ed25519", _now(), public_key=public_key)
        await self._store(key, None, pem.strip())
        return key

    async def revoke(self, api_key: str) -> ApiKey | None:
        key = self.keys.pop(api_key, None)  # refused from now on, even while it is stored
        if key is None:
            return None
        for listener in self.on_revoke:
            listener(key)
        if self.bridge is not None:
            from exchange.store.keys import revoke_key

            await self._run(revoke_key, api_key, _now())
        return key

    async def _store(self, key: ApiKey, secret: str | None, public_key: str | None) -> None:
        if self.bridge is not None:
            from exchange.store.keys import add_key

            await self._run(add_key, key.api_key, key.account_id, key.kind, secret,
                            public_key, key.created_at)
        self.keys[key.api_key] = key

    async def _run(self, fn: Any, *args: Any) -> None:
        from exchange.store.errors import StoreError

        try:
            await self.bridge.run(fn, *args)  # type: ignore[union-attr]
        except StoreError as exc:
            log.warning("storing an API key failed: %s", exc)
            raise Unavailable("the database cannot be written just now") from exc


def parse_public_key(pem: str) -> Ed25519PublicKey:
    try:
        key = load_pem_public_key(pem.strip().encode())
    except (ValueError, TypeError):
        raise KeyProblem("public_key is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyProblem("public_key is not an Ed25519 key")
    return key


def _now() -> int:
    return time.time_ns() // 1000
