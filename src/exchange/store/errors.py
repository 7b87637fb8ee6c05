"""The store's errors, and the one place that translates driver errors into them.

    StoreError
    ├── DatabaseError        a statement, a transaction or a connection failed
    │                        (`transient`: whether the same statement can succeed later)
    ├── PermanentWriteError  the writer met an error retrying cannot fix, and stopped
    └── RecoveryError        the stored state is inconsistent: refuse to start on it

Transient means the database or the way to it failed, not the statement: the connection was
lost or refused, the server is restarting or shutting down, it has too many connections or
no memory or disk, a serialization failure or deadlock rolled the transaction back, a
timeout. The writer retries those until the database is back. Anything else is permanent:
the database refused the statement itself (a value it cannot store, a constraint, a
programming error), and the same write fails the same way every time.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy.exc


class StoreError(Exception):
    """Base of the persistence layer's errors."""


class DatabaseError(StoreError):
    """A statement, a transaction or a connection failed; the cause is chained.

    `transient` is True iff retrying can succeed (see the module docstring)."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class PermanentWriteError(StoreError):
    """A write set failed permanently: the writer stopped without acknowledging it or any
    batch after it. A bug (a value got past validation that the database cannot store): the
    process should exit, and a restart recovers from the last committed batch."""


class RecoveryError(StoreError):
    """The database does not describe a state the engine could have been in."""


def _driver_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """The errors to translate, and those of them that mean "the connection is gone"."""
    errors: list[type[BaseException]] = [
        sqlalchemy.exc.SQLAlchemyError,
        sqlite3.Error,
        OSError,  # includes ConnectionError and socket errors
        TimeoutError,
    ]
    lost: list[type[BaseException]] = [
        OSError, TimeoutError, sqlalchemy.exc.TimeoutError, sqlalchemy.exc.DisconnectionError,
    ]
    try:
        import asyncpg  # type: ignore[import-untyped]

        errors += [asyncpg.PostgresError, asyncpg.InterfaceError]
        # No SQLSTATE: "connection is closed", "another operation is in progress".
        lost.append(asyncpg.InterfaceError)
    except ImportError:  # pragma: no cover - asyncpg is a dependency, but SQLite needs none
        pass
    return tuple(errors), tuple(lost)


_DRIVER_ERRORS, _LOST_CONNECTION = _driver_errors()

# SQLSTATE classes (the first two characters) of failures outside the statement:
# 08 connection exception, 40 transaction rollback (serialization failure, deadlock),
# 53 insufficient resources (too many connections, disk full, out of memory), 55 object not
# in prerequisite state (a database closed to connections, a lock not available),
# 57 operator intervention (shutting down, restarting, cannot connect now, statement
# timeout), 58 system error (I/O); 28 and 3D, the login or the database refused (an
# operator's doing, not the statement's). Plus 25006: a read-only server (a standby not yet
# promoted).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "55", "57", "58", "28", "3D"})
_TRANSIENT_SQLSTATES = frozenset({"25006"})
# SQLite's primary result codes for the same: BUSY, LOCKED, NOMEM, READONLY, INTERRUPT,
# IOERR, FULL, CANTOPEN, PROTOCOL, SCHEMA (the schema changed under the statement).
_TRANSIENT_SQLITE_CODES = frozenset({5, 6, 7, 8, 9, 10, 13, 14, 15, 17})


def is_transient(exc: BaseException) -> bool:
    """Whether `exc`, a driver's or SQLAlchemy's error, is a failure retrying can cure.

    Looks through SQLAlchemy's wrapper and the asyncpg adapter's to the driver's error: a
    SQLSTATE or a SQLite result code decides; else a disconnect, an OS error or a timeout is
    transient, and anything else (a value the driver cannot encode, a misuse) is not."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and len(sqlstate) == 5:
            return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES or sqlstate in _TRANSIENT_SQLSTATES
        code = getattr(error, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF in _TRANSIENT_SQLITE_CODES
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True  # SQLAlchemy's dialect recognised a disconnect
        if isinstance(error, _LOST_CONNECTION) and not isinstance(error, ValueError):
            return True  # (asyncpg's client-side DataError is an InterfaceError and a
            # ValueError: a value it cannot encode)
        orig = getattr(error, "orig", None)
        error = orig if isinstance(orig, BaseException) else error.__cause__
    return False


@contextmanager
def map_database_errors() -> Iterator[None]:
    """Turns the drivers' and SQLAlchemy's exceptions into `DatabaseError`."""
    try:
        yield
    except _DRIVER_ERRORS as exc:
        raise DatabaseError(f"{type(exc).__name__}: {exc}", transient=is_transient(exc)) from exc
