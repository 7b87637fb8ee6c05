"""`watch_book`: a `LocalBook` kept live over the WebSocket, resubscribing on a gap and
reconnecting when the connection drops.

    async with watch_book("http://127.0.0.1:8000", "BTC-USD") as watcher:
        await watcher.wait_for_sequence(n)
        watcher.book.bids()
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
from trio_websocket import HandshakeError

from exchange.client.book import LocalBook, SequenceGap
from exchange.client.client import ExchangeError
from exchange.client.socket import ExchangeSocket, SocketClosed, open_exchange_socket

Json = dict[str, Any]

RECONNECT_DELAY = 0.2  # seconds before connecting again after a drop (doubles up to 5 s)
MAX_RECONNECT_DELAY = 5.0


class BookWatcher:
    """Keeps `book` for one symbol from the messages of a socket subscribed to its book.

    On a gap it resets the book and sends `unsubscribe` then `subscribe` in one frame
    without waiting for the replies (waiting here would stop the very loop that reads
    them), ignores the old subscription's remaining updates and starts again from the
    fresh snapshot. `resubscribes` counts the gaps; `reconnects` the new connections made
    by `watch_book` after a drop (each starts from a fresh snapshot too).
    """

    def __init__(self, socket: ExchangeSocket, symbol: str) -> None:
        self.socket = socket
        self.symbol = symbol
        self.channel = f"book.{symbol}"
        self.book = LocalBook()
        self.resubscribes = 0
        self.reconnects = 0
        self._resyncing = False
        self._changed = trio.Event()

    async def handle(self, message: Json) -> bool:
        """Applies one message of the socket's stream; False if it is not this book's."""
        if message.get("channel") != self.channel:
            return False
        kind = message.get("type")
        if self._resyncing and kind != "snapshot":
            return True  # the old subscription's tail: the coming snapshot replaces it
        try:
            self.book.apply(message)
        except SequenceGap:
            await self.resubscribe()
            return True
        if kind == "snapshot":
            self._resyncing = False
        self._changed.set()
        self._changed = trio.Event()
        return True

    async def resubscribe(self) -> None:
        """Drops the book and asks for a fresh snapshot."""
        self.resubscribes += 1
        self.book.reset()
        self._resyncing = True
        await self.socket.send([{"op": "unsubscribe", "channels": [self.channel]},
                                {"op": "subscribe", "channels": [self.channel]}])

    def reconnected(self, socket: ExchangeSocket) -> None:
        """A new connection replaces the dropped one: the book waits for its snapshot."""
        self.socket = socket
        self.reconnects += 1
        self.book.reset()
        self._resyncing = True

    async def run(self, messages: AsyncIterable[Json] | None = None) -> None:
        """Feeds `messages` (default: the socket's stream) to `handle` until they end."""
        async for message in messages if messages is not None else self.socket:
            await self.handle(message)

    async def wait_until(self, predicate: Callable[[LocalBook], bool]) -> None:
        """Waits until `predicate(book)` holds after some change (or holds now)."""
        while not predicate(self.book):
            await self._changed.wait()

    async def wait_for_sequence(self, sequence: int) -> None:
        """Waits until the book is at `sequence` or later."""
        await self.wait_until(lambda book: book.sequence is not None
                              and book.sequence >= sequence)


async def _keep_watching(url: str, api_key: str | None, watcher: BookWatcher | None,
                         symbol: str, *,
                         task_status: trio.TaskStatus[BookWatcher] = trio.TASK_STATUS_IGNORED
                         ) -> None:
    """Connects, subscribes and feeds the watcher; after a drop, connects again (backing
    off while the server cannot be reached). Failing to connect the first time raises."""
    delay = RECONNECT_DELAY
    while True:
        try:
            async with open_exchange_socket(url, api_key) as socket:
                if watcher is None:
                    watcher = BookWatcher(socket, symbol)
                    await socket.subscribe([watcher.channel])
                    task_status.started(watcher)
                else:
                    watcher.reconnected(socket)
                    await socket.subscribe([watcher.channel])
                delay = RECONNECT_DELAY
                await watcher.run()
        except SocketClosed:
            pass  # dropped (even before the first snapshot): connect again
        except (OSError, HandshakeError, ExchangeError, trio.BrokenResourceError):
            if watcher is None:  # the server cannot be reached at all: say so
                raise
        await trio.sleep(delay)
        delay = min(MAX_RECONNECT_DELAY, delay * 2)


@asynccontextmanager
async def watch_book(url: str, symbol: str, api_key: str | None = None
                     ) -> AsyncIterator[BookWatcher]:
    """Opens a socket, subscribes to `book.<symbol>` and yields a `BookWatcher` kept up to
    date by a task that lives until the block ends. When the connection drops (the server
    closes it, chaos mode drops it, the network fails) the task connects again and
    resubscribes; the book is not ready (`book.ready`) until the new snapshot is in."""
    async with trio.open_nursery() as nursery:
        watcher: BookWatcher = await nursery.start(_keep_watching, url, api_key, None, symbol)
        try:
            yield watcher
        finally:
            nursery.cancel_scope.cancel()
