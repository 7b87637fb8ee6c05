"""The server's subcommands: `serve` and `accounts create`.

Options left out fall back to `EXCHANGE_*` variables and `.env` (pydantic-settings).
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

from exchange.pipeline.config import ConfigError, Settings, load_settings


def add_server_commands(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the exchange server")
    serve.add_argument("--host", default=None, help="default 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default 8000")
    serve.add_argument("--database-url", default=None,
                       help="default sqlite+aiosqlite:///./exchange.db; memory:// keeps nothing")
    serve.add_argument("--admin-token", default=None)
    serve.add_argument("--demo", action="store_true", default=None,
                       help="create demo instruments and funded accounts if absent")
    serve.add_argument("--no-migrate", action="store_true",
                       help="do not apply database migrations at start")
    serve.add_argument("--log-format", choices=["text", "json"], default=None)
    serve.add_argument("--chaos", default=None, metavar="SPEC",
                       help="misbehave on purpose, e.g. 'latency=20ms..200ms,reject=0.02,"
                            "disconnect=0.001,stall=0.001,seed=42' (see README)")

    accounts = commands.add_parser("accounts", help="manage accounts")
    actions = accounts.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create an account and print its API key once")
    create.add_argument("name")
    create.add_argument("--deposit", action="append", default=[], metavar="ASSET=AMOUNT")
    create.add_argument("--url", default=None,
                        help="a running server's URL (admin API); without it, offline")
    create.add_argument("--admin-token", default=None)
    create.add_argument("--database-url", default=None, help="offline: the database")
    create.add_argument("--binance", action="store_true",
                        help="also a key for the Binance-compatible surface: prints its key, "
                             "its secret (once) and a ccxt snippet for this server")


def run_server_command(args: argparse.Namespace) -> int:
    try:
        if args.command == "serve":
            settings = load_settings(
                host=args.host, port=args.port, database_url=args.database_url,
                admin_token=args.admin_token, demo=args.demo,
                migrate=False if args.no_migrate else None, log_format=args.log_format,
                chaos=args.chaos,
            )
            from exchange.app.serve import run_serve

            return run_serve(settings)
        return _create_account(args)
    except ConfigError as exc:
        print(f"exchange: {exc}", file=sys.stderr)
        return 2


def _deposits(specs: list[str]) -> list[tuple[str, Decimal]]:
    out = []
    for spec in specs:
        asset, _, amount = spec.partition("=")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            value = Decimal("NaN")
        if not asset or not value.is_finite() or value <= 0:
            raise ConfigError(f"--deposit {spec!r}: use ASSET=AMOUNT, e.g. USD=1000")
        out.append((asset, value))
    return out


def _checked(name: str, deposits: list[tuple[str, Decimal]]) -> None:
    """The admin API's own validation, so the offline path stores nothing it would refuse."""
    from exchange.web.errors import ApiError
    from exchange.web.models import CreateAccountBody, DepositBody, validate

    try:
        validate(CreateAccountBody, {"name": name})
        for asset, amount in deposits:
            validate(DepositBody, {"asset": asset, "amount": str(amount)})
    except ApiError as exc:
        raise ConfigError(f"{exc.message} ({exc.details[0]['path'] if exc.details else ''})"
                          ) from None


def _create_account(args: argparse.Namespace) -> int:
    deposits = _deposits(args.deposit)
    _checked(args.name, deposits)
    if args.url:
        settings = load_settings(admin_token=args.admin_token)
        if settings.admin_token is None:
            raise ConfigError("--url needs --admin-token (or EXCHANGE_ADMIN_TOKEN)")
        import trio

        from exchange.client import ExchangeClient, ExchangeError

        async def online() -> tuple[int, str, tuple[str, str] | None]:
            async with ExchangeClient(args.url, admin_token=settings.admin_token) as client:
                created = await client.create_account(args.name)
                for asset, amount in deposits:
                    await client.deposit(created["account_id"], asset, amount)
                made = None
                if args.binance:
                    key = await client.request(
                        "POST", f"/v1/admin/accounts/{created['account_id']}/api-keys",
                        json={"type": "hmac"}, auth="admin")
                    made = key["api_key"], key["secret_key"]
                return created["account_id"], created["api_key"], made

        try:
            account_id, api_key, binance = trio.run(online)
        except ExchangeError as exc:
            print(f"exchange accounts create: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"exchange accounts create: cannot reach {args.url}: {exc}", file=sys.stderr)
            return 2
    else:
        settings = load_settings(database_url=args.database_url)
        from exchange.app.offline import create_account_offline
        from exchange.pipeline.storage import StartupError

        try:
            account_id, api_key, binance = create_account_offline(
                settings, args.name, deposits, binance=args.binance)
        except StartupError as exc:
            print(f"exchange accounts create: {exc}", file=sys.stderr)
            return 2
    print(f"account {account_id} ({args.name})")
    print(f"api key: {api_key}")
    if binance is not None:
        from exchange.binance.snippet import ccxt_snippet

        key, secret = binance
        base = args.url or f"http://{settings.host}:{settings.port}"
        print(f"binance api key: {key}")
        print(f"binance secret: {secret}  (shown this once)")
        print("ccxt, pointed at this server:\n")
        print(ccxt_snippet(base, key, secret))
    return 0


def settings_for_tests(**overrides: Any) -> Settings:
    """Settings that ignore the environment's `.env` (tests)."""
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]
