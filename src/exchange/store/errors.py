"""The store's errors, and the one place that translates driver errors into them.

    StoreError
    ├── DatabaseError      the database failed or is unreachable (the writer retries)
    └── RecoveryError      the stored state is inconsistent: refuse to start on it
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy.exc


class StoreError(Exception):
    """Base of the persistence layer's errors."""


class DatabaseError(StoreError):
    """A statement, a transaction or a connection failed; the cause is chained."""


class RecoveryError(StoreError):
    """The database does not describe a state the engine could have been in."""


def _driver_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [
        sqlalchemy.exc.SQLAlchemyError,
        sqlite3.Error,
        OSError,  # includes ConnectionError and socket errors
        TimeoutError,
    ]
    try:
        import asyncpg  # type: ignore[import-untyped]

        errors += [asyncpg.PostgresError, asyncpg.InterfaceError]
    except ImportError:  # pragma: no cover - asyncpg is a dependency, but SQLite needs none
        pass
    return tuple(errors)


_DRIVER_ERRORS = _driver_errors()


@contextmanager
def map_database_errors() -> Iterator[None]:
    """Turns the drivers' and SQLAlchemy's exceptions into `DatabaseError`."""
    try:
        yield
    except _DRIVER_ERRORS as exc:
        raise DatabaseError(f"{type(exc).__name__}: {exc}") from exc
