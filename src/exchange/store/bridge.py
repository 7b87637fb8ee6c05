"""The Trio-asyncio bridge: one thread runs an asyncio loop that owns the database.

SQLAlchemy's async engine and its drivers (asyncpg, aiosqlite) need asyncio, and the server
runs on Trio. So a dedicated thread runs an asyncio event loop; the `AsyncEngine` and its pool
are created, used and disposed only there. A Trio task calls `await bridge.run(fn, *args)`:
`fn(engine, *args)` runs as an asyncio task on that loop, and the Trio task sleeps until the
loop thread wakes it through Trio's token (no thread is blocked waiting).

Cancellation goes across: when the Trio caller is cancelled, its asyncio task is cancelled
too, and the caller waits (shielded, bounded) until that task has really ended, so a
cancelled call leaves no statement running behind its back. This is why the bridge does not
wait on the future of `asyncio.run_coroutine_threadsafe`: that future reports "cancelled" at
once, while the task is still unwinding (and, with asyncpg, still cancelling its query).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import outcome
import trio
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.database import create_engine, interrupt_task
from exchange.store.errors import DatabaseError, StoreError, map_database_errors

log = logging.getLogger("exchange.store")

T = TypeVar("T")
P = ParamSpec("P")

THREAD_NAME = "exchange-store"
CANCEL_GRACE = 10.0  # seconds a cancelled call may take to unwind on the loop thread
CLOSE_GRACE = 10.0  # seconds to dispose of the engine and stop the thread


class _Call(Generic[T]):
    """One coroutine run on the loop thread on behalf of one Trio task.

    `start` and `cancel` run on the loop thread (posted with `call_soon_threadsafe`, which
    keeps their order); the outcome comes back to Trio through the token."""

    __slots__ = ("coro", "finished", "on_cancel", "outcome", "task", "token")

    def __init__(
        self,
        coro: Coroutine[Any, Any, T],
        token: trio.lowlevel.TrioToken,
        on_cancel: Callable[[asyncio.Task[Any]], None] | None = None,
    ) -> None:
        self.coro = coro
        self.token = token
        self.on_cancel = on_cancel
        self.task: asyncio.Task[T] | None = None
        self.outcome: outcome.Outcome[T] | None = None
        self.finished = trio.Event()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.coro)
        self.task.add_done_callback(self._done)

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            if self.on_cancel is not None:
                self.on_cancel(self.task)
            self.task.cancel()

    def _done(self, task: asyncio.Task[T]) -> None:
        result: outcome.Outcome[T]
        if task.cancelled():
            result = outcome.Error(StoreError("the database call was cancelled"))
        else:
            exc = task.exception()
            result = outcome.Error(exc) if exc is not None else outcome.Value(task.result())
        # If the Trio run is gone, so is whoever waited.
        with suppress(trio.RunFinishedError):
            self.token.run_sync_soon(self._deliver, result)

    def _deliver(self, result: outcome.Outcome[T]) -> None:
        self.outcome = result
        self.finished.set()


class _LoopThread(threading.Thread):
    """A thread running an asyncio loop until `stop()`; reports readiness and exit to Trio."""

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        super().__init__(name=THREAD_NAME, daemon=True)
        self.token = token
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = trio.Event()
        self.exited = trio.Event()
        # stop() may come before the loop exists; the lock makes "stop requested" and "loop
        # created" one or the other, never neither.
        self._lock = threading.Lock()
        self._stopping = False

    def run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            with self._lock:
                self.loop = loop
                stopping = self._stopping
            if not stopping:
                self.token.run_sync_soon(self.ready.set)
                loop.run_forever()
                # Calls still running when the bridge stops end cancelled, so that their Trio
                # callers hear about it instead of waiting forever.
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            with self._lock:
                loop.close()
            with suppress(trio.RunFinishedError):
                self.token.run_sync_soon(self.exited.set)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            loop = self.loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(loop.stop)


class Bridge:
    """Runs database coroutines on the store's asyncio thread; see the module docstring.

    Created by `open_bridge`. Safe to call from any number of Trio tasks at once (each call is
    its own asyncio task; the engine's pool hands out connections)."""

    def __init__(self, thread: _LoopThread, token: trio.lowlevel.TrioToken) -> None:
        assert thread.loop is not None
        self._thread = thread
        self._loop = thread.loop
        self._token = token
        self._engine: AsyncEngine | None = None

    @property
    def engine(self) -> AsyncEngine:
        """The async engine: only for coroutines running on the bridge's loop."""
        if self._engine is None:
            raise StoreError("the bridge is closed")
        return self._engine

    @property
    def dialect(self) -> str:
        """`"postgresql"` or `"sqlite"`."""
        return self.engine.dialect.name

    async def run(
        self,
        fn: Callable[Concatenate[AsyncEngine, P], Awaitable[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Runs `fn(engine, *args, **kwargs)` on the loop thread and returns its result.

        Driver errors arrive as `DatabaseError`. If the caller is cancelled, the asyncio task
        is cancelled and waited for (shielded, at most `CANCEL_GRACE` seconds) before
        `trio.Cancelled` propagates."""
        engine = self.engine

        async def call() -> T:
            with map_database_errors():
                return await fn(engine, *args, **kwargs)

        return await self._call(call(), lambda task: interrupt_task(engine, task))

    async def _call(
        self,
        coro: Coroutine[Any, Any, T],
        on_cancel: Callable[[asyncio.Task[Any]], None] | None = None,
    ) -> T:
        call = _Call(coro, self._token, on_cancel)
        if not self._post(call.start):
            coro.close()
            raise StoreError("the bridge is closed")
        try:
            await call.finished.wait()
        except BaseException:
            if self._post(call.cancel):
                with trio.move_on_after(CANCEL_GRACE) as scope:
                    scope.shield = True
                    await call.finished.wait()
                if scope.cancelled_caught:
                    log.error("a cancelled database call did not end within %.0f s",
                              CANCEL_GRACE)
            raise
        assert call.outcome is not None
        return call.outcome.unwrap()

    def _post(self, callback: Callable[[], None]) -> bool:
        """Schedules `callback` on the loop thread; False if the loop is already closed (and
        its tasks with it)."""
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:
            return False
        return True

    async def _open(self, url: str, options: dict[str, Any]) -> None:
        async def create() -> AsyncEngine:
            with map_database_errors():
                return create_engine(url, **options)

        self._engine = await self._call(create())

    async def _close(self) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return

        async def dispose() -> None:
            await engine.dispose()

        try:
            await self._call(dispose())
        except (DatabaseError, StoreError, OSError) as exc:
            log.warning("disposing of the database engine failed: %s", exc)


@asynccontextmanager
async def open_bridge(url: str, **options: Any) -> AsyncIterator[Bridge]:
    """Starts the store thread, creates the engine for `url` on it, and yields the bridge.

    On exit the engine is disposed of and the thread stopped and joined, shielded from
    cancellation and bounded by `CLOSE_GRACE`. `options` go to `create_engine`."""
    token = trio.lowlevel.current_trio_token()
    thread = _LoopThread(token)
    thread.start()
    try:
        await thread.ready.wait()
        bridge = Bridge(thread, token)
        try:
            await bridge._open(url, options)
            yield bridge
        finally:
            with trio.move_on_after(CLOSE_GRACE) as scope:
                scope.shield = True
                await bridge._close()
    finally:
        with trio.move_on_after(CLOSE_GRACE) as scope:
            scope.shield = True
            thread.stop()
            await thread.exited.wait()
        if scope.cancelled_caught:
            log.error("the store thread did not stop within %.0f s", CLOSE_GRACE)
        else:
            thread.join()
