"""Where the server's state lives: the database (`exchange.store`) or, for tests and
throw-away runs (`--database-url memory://`), memory.

`open_storage` applies migrations (unless told not to), recovers the engine from the
database, rebuilds the read model from the same database, and yields them with a `Journal`
that feeds the store's writer. Startup failures become `StartupError` (one line; the command
line exits 2).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio
from cryptography.fernet import Fernet

from exchange.engine import Engine
from exchange.gctuning import collector_paused
from exchange.pipeline.config import Settings
from exchange.pipeline.history import History, StorePast
from exchange.pipeline.journal import Batch, Journal, JournalStopped, MemoryJournal
from exchange.pipeline.keyring import KeyProblem, KeyRing, load_server_key, server_key_path
from exchange.pipeline.readmodel import Keep, ReadModel
from exchange.pipeline.rows import instrument_view, order_view, round_view
from exchange.store.standings import Standing

if TYPE_CHECKING:
    from exchange.store.bridge import Bridge
    from exchange.store.ledger import Ledger

log = logging.getLogger("exchange.server")

MEMORY_URL = "memory://"
WRITER_QUEUE = 8  # batches between the engine task and the writer
PING_TIMEOUT = 2.0


class StartupError(Exception):
    """The server cannot start (database unreachable, inconsistent state, ...)."""


@dataclass(eq=False)
class Storage:
    engine: Engine
    readmodel: ReadModel
    journal: Journal
    history: History
    keys: KeyRing
    description: str

    async def seal(self) -> None:
        """After a clean shutdown (the engine drained, every batch durable): stores the
        engine's state hash, which the next start verifies the rebuilt engine against."""
        if isinstance(self.journal, StoreJournal):
            await self.journal.seal(self.engine)


class StoreJournal:
    """The `Journal` seam over the store's writer (`exchange.store.writer.serve_writer`)."""

    def __init__(self, bridge: Bridge, ledger: Ledger, *, queue_size: int = WRITER_QUEUE
                 ) -> None:
        from exchange.store.writer import WriterStatus

        self.bridge = bridge
        self.ledger = ledger
        self.status = WriterStatus()
        self._send, self._receive = trio.open_memory_channel[Batch](queue_size)

    @property
    def stopped(self) -> bool:
        return self.status.stopped

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:
        from exchange.store.errors import PermanentWriteError
        from exchange.store.writer import serve_writer

        try:
            await serve_writer(self.bridge, self._receive, self.ledger, status=self.status,
                               task_status=task_status)
        except PermanentWriteError as exc:  # the writer logged it; the runtime exits
            raise JournalStopped(str(exc)) from exc

    async def submit(self, batch: Batch) -> None:
        await self._send.send(batch)

    def close(self) -> None:
        self._send.close()

    async def seal(self, engine: Engine) -> None:
        from exchange.store.writes import write_state_hash

        digest = await trio.to_thread.run_sync(engine.state_hash)
        await self.bridge.run(write_state_hash, digest)
        log.info("stored the engine's state hash %s for the next start", digest[:15])

    async def ready(self) -> bool:
        from exchange.store.snapshot import ping

        if not self.status.ready:
            return False
        with trio.move_on_after(PING_TIMEOUT):
            try:
                await self.bridge.run(ping)
            except Exception:  # any failure means "not ready"; /readyz says so
                return False
            return True
        return False


@asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    """The engine, read model and journal for `settings.database_url`."""
    if settings.database_url.startswith(MEMORY_URL):
        # Nothing to read the past from: every order stays, and the newest fills and trades.
        readmodel = ReadModel()
        readmodel.ready = True
        fernet = Fernet(settings.server_key or Fernet.generate_key())
        yield Storage(Engine(max_open_orders=settings.max_open_orders), readmodel,
                      MemoryJournal(), History(readmodel, None), KeyRing(fernet),
                      "memory (nothing is kept)")
        return

    from exchange.store.bridge import open_bridge
    from exchange.store.database import dialect_name, normalize_url
    from exchange.store.errors import StoreError
    from exchange.store.migrate import upgrade_engine
    from exchange.store.recovery import recover

    try:
        url = normalize_url(settings.database_url)
    except Exception as exc:
        raise StartupError(f"bad database URL: {exc}") from None
    try:
        async with open_bridge(url) as bridge:
            try:
                if settings.migrate:
                    await bridge.run(upgrade_engine)
                recovered = await recover(bridge, max_open_orders=settings.max_open_orders)
                with collector_paused():  # as recovery: a million long-lived views
                    readmodel = await bridge.run(load_readmodel, keep_of(settings),
                                                 recovered.take_order_rows())
                keys = KeyRing(server_key(settings), bridge)
                await keys.load()
                await trio.to_thread.run_sync(attach_books, readmodel, recovered.engine)
            except (StoreError, OSError) as exc:
                raise StartupError(f"cannot start on the database: {_line(exc)}") from None
            except KeyProblem as exc:
                raise StartupError(str(exc)) from None
            readmodel.ready = True
            journal = StoreJournal(bridge, recovered.ledger)
            description = (f"{dialect_name(url)}, recovered {recovered.open_orders} open "
                           f"orders in {recovered.seconds:.2f} s")
            if recovered.verified:
                description += ", state hash of the clean shutdown verified"
            yield Storage(recovered.engine, readmodel, journal,
                          History(readmodel, StorePast(bridge)), keys, description)
    except StoreError as exc:
        raise StartupError(f"database: {_line(exc)}") from None


def server_key(settings: Settings) -> Fernet:
    if settings.server_key:
        return Fernet(settings.server_key)
    return load_server_key(server_key_path(settings.database_url, settings.server_key_file))


def keep_of(settings: Settings) -> Keep:
    return Keep(settings.keep_closed_orders, settings.keep_fills, settings.keep_trades,
                settings.keep_second_candles)


def _line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return text_[0] if text_ else type(exc).__name__


# -- REBUILDING THE READ MODEL --


async def load_readmodel(engine: Any, keep: Keep,
                         open_orders: Sequence[Sequence[Any]] | None = None) -> ReadModel:
    """The read model from the tables (runs on the store's loop, one transaction), with the
    open orders recovery read, if given, instead of reading them again."""
    from exchange.store.snapshot import read_snapshot

    builder = _Builder(keep)
    await read_snapshot(engine, builder, open_orders)
    return builder.model


class _Builder:
    """Turns the store's rows into the read model (`exchange.store.snapshot.Visitor`)."""

    def __init__(self, keep: Keep) -> None:
        self.model = ReadModel(keep)

    def instrument(self, row: Any) -> None:
        keep = self.model.keep
        self.model.instruments[row["symbol"]] = instrument_view(row, keep.trades,
                                                                keep.second_candles)

    def account(self, row: Any) -> None:
        account = self.model.account(row["account_id"], row["name"])
        account.api_key_id = row["api_key_id"]
        account.api_key_hash = row["api_key_hash"]
        account.house = bool(row["house"])
        if account.api_key_id is not None:
            self.model.keys[account.api_key_id] = account

    def balance(self, row: Any) -> None:
        account = self.model.account(row["account_id"])
        account.balances[row["asset"]] = [int(row["total"]), int(row["held"])]

    def round(self, row: Any) -> None:
        self.model.start_round(round_view(row))

    def order(self, row: Any) -> None:
        self.model.add_order(order_view(row))

    def standing(self, row: Any) -> None:
        self.model.load_standing(row["account_id"], row["symbol"], Standing.from_row(row))

    def minute(self, symbol: str, candle: list[int]) -> None:
        self.model.instruments[symbol].candles.load_minute(candle)

    def seams(self, order_id: int, trade_id: int) -> None:
        self.model.set_seams(order_id, trade_id)


def attach_books(model: ReadModel, engine: Engine) -> None:
    """Copies the recovered books (levels and sequences) into the read model; runs before
    the engine task owns the engine."""
    for symbol, inst in model.instruments.items():
        bids, asks = engine.depth(symbol)
        inst.bids = {price: [quantity, count] for price, quantity, count in bids}
        inst.asks = {price: [quantity, count] for price, quantity, count in asks}
        inst.sequence = engine.instruments[symbol].sequence
        if inst.last_price is None:
            inst.last_price = engine.instruments[symbol].last_price
