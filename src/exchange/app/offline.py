"""Changing the exchange with the server stopped: the same pipeline without HTTP."""

from __future__ import annotations

from decimal import Decimal

import trio

from exchange.engine.commands import AnyCommand, CreateAccount, Deposit
from exchange.engine.events import AccountCreated, AnyEvent, RequestRejected
from exchange.engine.units import to_units
from exchange.pipeline.config import Settings
from exchange.pipeline.journal import AccountInfo
from exchange.pipeline.metrics import Metrics
from exchange.pipeline.sequencer import Sequencer
from exchange.pipeline.storage import StartupError, open_storage
from exchange.web.auth import new_api_key


async def run_offline(settings: Settings, commands: list[tuple[AnyCommand, AccountInfo | None]]
                      ) -> list[list[AnyEvent]]:
    """Runs commands one after the other through engine, journal and read model; returns
    their events once durable."""
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
            finally:
                sequencer.close()
        await storage.seal()
    return results


def create_account_offline(settings: Settings, name: str,
                           deposits: list[tuple[str, Decimal]]) -> tuple[int, str]:
    api_key, key_id, key_hash = new_api_key()
    commands: list[tuple[AnyCommand, AccountInfo | None]] = [
        (CreateAccount(), AccountInfo(0, name, key_id, key_hash))
    ]
    for asset, amount in deposits:
        units = to_units(amount)
        if units is None:
            raise StartupError(f"{asset} amount {amount} has more than 12 decimals")
        commands.append((Deposit(account_id=0, asset=asset, amount=units), None))
    results = trio.run(run_offline, settings, commands)
    for events in results:
        for event in events:
            if type(event) is RequestRejected:
                raise StartupError(f"refused: {event.reason}")
    created = results[0][0]
    assert isinstance(created, AccountCreated)
    return created.account_id, api_key
