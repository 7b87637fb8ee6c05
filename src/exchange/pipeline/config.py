"""The server's configuration: command-line options over `EXCHANGE_*` variables over `.env`.

`load_settings` turns any invalid value into `ConfigError` with one line that names the
setting, which the command line prints before exiting with code 2.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./exchange.db"


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line for the operator."""


class Settings(BaseSettings):
    """Every knob of `exchange serve`. Each reads `EXCHANGE_<NAME>` (and `.env`)."""

    model_config = SettingsConfigDict(
        env_prefix="EXCHANGE_", env_file=".env", extra="ignore", validate_default=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    database_url: str = DEFAULT_DATABASE_URL
    admin_token: str | None = None
    demo: bool = False
    migrate: bool = True
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # The pipeline.
    inbox_size: int = Field(default=4096, ge=1)
    batch_limit: int = Field(default=1000, ge=1)
    request_timeout: float = Field(default=30.0, gt=0)
    shutdown_timeout: float = Field(default=10.0, gt=0)

    # Limits.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    rate_limit: float = Field(default=50.0, ge=0)  # order-entry requests per second; 0: off
    rate_burst: int = Field(default=100, ge=1)
    max_open_orders: int = Field(default=10_000, ge=1)
    # History memory holds (on a database; the rest is read from it when asked for): closed
    # orders and fills per account, public trades per symbol.
    keep_closed_orders: int = Field(default=200, ge=0)
    keep_fills: int = Field(default=1000, ge=0)
    keep_trades: int = Field(default=1000, ge=0)
    # Second candles memory holds per symbol (the newest; older ones are aggregated from
    # the trades table when asked for).
    keep_second_candles: int = Field(default=3600, ge=1)
    max_ws_message_bytes: int = Field(default=1024 * 1024, ge=1024)
    # What a WebSocket connection may have queued (JSON characters) before it is closed
    # with 4008 (slow consumer).
    ws_outbox_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    # How long what a WebSocket connection has to send may wait (queued for its writer, or
    # written but not acknowledged by the peer) before it is closed with 4008: below
    # send_timeout, so that a peer that stops reading hears 4008 before the kernel resets it.
    ws_outbox_max_age: float = Field(default=2.0, gt=0)
    # A connection whose peer leaves sent data unacknowledged this long is dropped by the
    # kernel (TCP_USER_TIMEOUT): hypercorn writes in a shielded scope, so without it a
    # peer that stops reading could hold its writer, and the shutdown, forever.
    send_timeout: float = Field(default=5.0, gt=0)
    # The key that encrypts the Binance-compatible surface's HMAC secrets at rest (a Fernet
    # key), else the key file (made on first start; default beside the SQLite file).
    server_key: str | None = None
    server_key_file: str | None = None
    # How long a Binance listenKey (`POST /api/v3/userDataStream`) lives without a
    # keep-alive (Binance: 60 minutes); short in tests of its expiry.
    listen_key_seconds: float = Field(default=3600.0, gt=0)
    # Chaos mode (`exchange.pipeline.chaos`): "latency=20ms..200ms,reject=0.02,...,seed=42".
    chaos: str = ""

    @model_validator(mode="after")
    def _ages(self) -> Settings:
        if self.ws_outbox_max_age >= self.send_timeout:
            raise ValueError(f"ws_outbox_max_age ({self.ws_outbox_max_age:g} s) must be below "
                             f"send_timeout ({self.send_timeout:g} s)")
        return self

    @field_validator("admin_token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and len(value) < 8:
            raise ValueError("must be at least 8 characters")
        return value

    @field_validator("chaos")
    @classmethod
    def _chaos(cls, value: str) -> str:
        from exchange.pipeline.chaos import parse_spec

        parse_spec(value)  # one line saying what is wrong
        return value

    @field_validator("server_key")
    @classmethod
    def _server_key(cls, value: str | None) -> str | None:
        if not value:
            return None
        from cryptography.fernet import Fernet

        try:
            Fernet(value)
        except ValueError:
            raise ValueError("must be a Fernet key: 32 url-safe base64-encoded bytes") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        from exchange.store.database import check_url

        if value == "memory://":  # no database: state lives and dies with the process
            return value
        check_url(value)
        return value


def load_settings(**overrides: Any) -> Settings:
    """Settings from `overrides` (options given on the command line; None means not given),
    the environment and `.env`. Raises `ConfigError` with one line."""
    given = {name: value for name, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        if not name:  # a rule between settings: its message names them
            raise ConfigError(f"invalid settings: {first['msg']}") from None
        raise ConfigError(
            f"invalid setting {name} (EXCHANGE_{name.upper()}): {first['msg']}"
        ) from None
