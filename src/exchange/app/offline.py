"""Changing the exchange with the server stopped: the same pipeline without HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

import trio

from exchange.engine.commands import AnyCommand, CreateAccount, Deposit
from exchange.engine.events import AccountCreated, AnyEvent, RequestRejected
from exchange.engine.units import to_units
from exchange.pipeline.config import Settings
from exchange.pipeline.journal import AccountInfo
from exchange.pipeline.metrics import Metrics
from exchange.pipeline.sequencer import Sequencer
from exchange.pipeline.storage import StartupError, Storage, open_storage
from exchange.web.auth import new_api_key


async def run_offline(settings: Settings, commands: list[tuple[AnyCommand, AccountInfo | None]],
                      then: Callable[[Storage, list[list[AnyEvent]]], Awaitable[None]] | None
                      = None) -> list[list[AnyEvent]]:
    """Runs commands one after the other through engine, journal and read model; returns
    their events once durable. `then` runs after them, on the same storage."""
    results: list[list[AnyEvent]] = []
    async with open_storage(settings) as storage:
        sequencer = Sequencer(storage.engine, storage.journal, storage.readmodel, Metrics())
        async with trio.open_nursery() as nursery:
            await nursery.start(storage.journal.serve)
            await nursery.start(sequencer.serve_replies)
            await nursery.start(sequencer.serve_engine)
            try:
                for command, record in commands:
                    if type(command) is Deposit and command.account_id == 0 and results:
                        created = results[0][0]
                        assert isinstance(created, AccountCreated)
                        command = Deposit(account_id=created.account_id, asset=command.asset,
                                          amount=command.amount)
                    results.append(await sequencer.execute(command, account=record))
                if then is not None:
                    await then(storage, results)
            finally:
                sequencer.close()
        await storage.seal()
    return results


def create_account_offline(settings: Settings, name: str, deposits: list[tuple[str, Decimal]],
                           binance: bool = False) -> tuple[int, str, tuple[str, str] | None]:
    """(account id, its API key, and with `binance` a Binance-compatible HMAC key and its
    secret)."""
    api_key, key_id, key_hash = new_api_key()
    commands: list[tuple[AnyCommand, AccountInfo | None]] = [
        (CreateAccount(), AccountInfo(0, name, key_id, key_hash))
    ]
    for asset, amount in deposits:
        units = to_units(amount)
        if units is None:
            raise StartupError(f"{asset} amount {amount} has more than 12 decimals")
        commands.append((Deposit(account_id=0, asset=asset, amount=units), None))
    made: list[tuple[str, str]] = []

    async def binance_key(storage: Storage, results: list[list[AnyEvent]]) -> None:
        created = results[0][0]
        if binance and isinstance(created, AccountCreated):
            key, secret = await storage.keys.create_hmac(created.account_id)
            made.append((key.api_key, secret))

    results = trio.run(run_offline, settings, commands, binance_key)
    for events in results:
        for event in events:
            if type(event) is RequestRejected:
                raise StartupError(f"refused: {event.reason}")
    created = results[0][0]
    assert isinstance(created, AccountCreated)
    return created.account_id, api_key, made[0] if made else None
