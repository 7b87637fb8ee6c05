"""The `exchange` fixture: a real server in the test's nursery, on each real database.

`EXCHANGE_TEST_DATABASES` (comma-separated, default `sqlite,postgresql`) picks the stores;
PostgreSQL is skipped when no server is reachable (see `support.postgres_url`).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from .support import (
    Exchange,
    Templates,
    database_url_for,
    drop_database,
    start_exchange,
)

DATABASES = os.environ.get("EXCHANGE_TEST_DATABASES", "sqlite,postgresql").split(",")


@pytest.fixture(params=DATABASES)
async def exchange(request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
                   ) -> AsyncIterator[Exchange]:
    url = await database_url_for(request.param, tmp_path, templates)
    # The fixture's own nursery: the server has stopped before the database is dropped.
    async with trio.open_nursery() as nursery:
        running = await start_exchange(nursery, database_url=url)
        try:
            yield running
        finally:
            await running.admin.aclose()
            running.server.shutdown()
    await drop_database(url)


@pytest.fixture(params=DATABASES)
async def url(request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
              ) -> AsyncIterator[str]:
    """A fresh database's URL, for a test that starts (and restarts) servers itself."""
    made = await database_url_for(request.param, tmp_path, templates)
    yield made
    await drop_database(made)
