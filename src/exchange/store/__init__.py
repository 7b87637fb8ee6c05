"""Persistence: the engine's events made durable, and the engine rebuilt from them.

    engine events ─► Batch ─► serve_writer ─► Ledger.build ─► WriteSet ─► Bridge.run(write)
       (a Trio channel, bounded)      (one row per changed key)      (one transaction)
                                                    └─► batch.durable set, in order

    start: Bridge.run(upgrade_engine) ─► recover(bridge) ─► Engine + Ledger

Modules: `schema` (tables), `migrate` (Alembic), `database` (URLs, engines), `bridge` (the
asyncio thread that owns the database, called from Trio), `rows` and `ledger` (events to
rows), `writes` and `pg` (a write set in one transaction; PostgreSQL's COPY fast path),
`writer` (the Trio task), `recovery` (with `exchange.engine.restore`), `errors`.
"""

from exchange.store.bridge import Bridge, open_bridge
from exchange.store.errors import DatabaseError, RecoveryError, StoreError
from exchange.store.ledger import Ledger
from exchange.store.recovery import Recovered, recover
from exchange.store.rows import AccountInfo
from exchange.store.writer import Batch, WriterStatus, serve_writer

__all__ = [
    "AccountInfo",
    "Batch",
    "Bridge",
    "DatabaseError",
    "Ledger",
    "Recovered",
    "RecoveryError",
    "StoreError",
    "WriterStatus",
    "open_bridge",
    "recover",
    "serve_writer",
]
