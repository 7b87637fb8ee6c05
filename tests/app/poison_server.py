"""`exchange` with one planted bug, for `test_poison.py`: an account created with the name
`POISON` reaches the journal with a NUL in its name, as if the web's validation had let one
through. PostgreSQL cannot store it, so its write fails permanently.

    python poison_server.py serve ARGS...
"""

from __future__ import annotations

import sys

from exchange.cli import main
from exchange.pipeline import storage
from exchange.pipeline.journal import AccountInfo, Batch

POISON = "poison-pill"
_submit = storage.StoreJournal.submit


async def _planted(self: storage.StoreJournal, batch: Batch) -> None:
    batch.accounts = [
        AccountInfo(r.account_id, "a\x00b", r.api_key_id, r.api_key_hash)
        if r.name == POISON else r
        for r in batch.accounts
    ]
    await _submit(self, batch)


if __name__ == "__main__":
    storage.StoreJournal.submit = _planted  # type: ignore[method-assign]
    raise SystemExit(main(sys.argv[1:]))
