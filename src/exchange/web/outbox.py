"""A WebSocket connection's outgoing queue: bounded, filled without waiting, drained in frames.

The fan-out task and the connection's own request handling `put` messages here and never
wait; the connection's writer task `take`s whatever is queued and sends it as one frame (one
JSON object, or an array of several). Public messages are encoded once for every subscriber:
an item is the JSON text of one message (`str`), of several (`Several`: the trades of one
batch, say), or a shared `BookUpdate`. So one batch adds a handful of items to a
subscriber's outbox however many trades it made.

Book updates carry absolute level quantities, so several updates of one channel that are
queued together merge into one covering `[first_sequence, sequence]` (on `take`, and when
the queue is full). Everything else (trades, private events, replies) is never merged or
dropped: if the queue is still full after merging, the outbox fails with close code 4008 and
takes nothing more.

It fails the same way once something has waited longer than `max_age` for a writer that is
stuck in a send (`sending`): a writer that cannot send (its peer stopped reading, the socket
buffer is full) takes nothing, so the queue's age grows while its size may stay small. The
age is that of the items queued since the writer last took any (`_since`: set when the
queue goes from empty to non-empty, and when a take leaves items behind): one clock reading
per transition, none per item, and the fan-out passes the one it read for all its outboxes.
`put` checks it; so does `expire`, for a consumer that nothing is being queued for. A queue
that grew old while its writer was not sending (waiting for its tick, or for a server too
busy to run it) is the server's delay, not the peer's, and fails nobody.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable

import msgspec
import trio

SLOW_CONSUMER = 4008
GOING_AWAY = 1001
DROPPED = 1012  # chaos mode dropped the connection ("service restart": reconnect)
DEFAULT_LIMIT = 4 * 1024 * 1024  # bytes queued (characters of JSON) before 4008
FRAME_ITEMS = 1024  # most messages sent in one frame

_encode = msgspec.json.encode


class BookUpdate:
    """Absolute level changes of one book channel over `[first, last]` sequences.

    `bids`/`asks` map decimal price strings to decimal quantity strings ("0": removed). One
    object is shared by every subscriber it is queued for, so it is never changed once
    queued: merging makes a new one. Subscribers that are behind by the same updates merge
    the same pairs, so the last merge is kept (`_next`) and shared, encoded text and all."""

    __slots__ = ("_next", "_text", "asks", "bids", "channel", "first", "last")

    def __init__(self, channel: str, first: int, last: int, bids: dict[str, str],
                 asks: dict[str, str]) -> None:
        self.channel = channel
        self.first = first
        self.last = last
        self.bids = bids
        self.asks = asks
        self._text: str | None = None
        self._next: tuple[BookUpdate, BookUpdate] | None = None  # (later, merged with it)

    def text(self) -> str:
        if self._text is None:
            self._text = _encode({
                "type": "update",
                "channel": self.channel,
                "first_sequence": self.first,
                "sequence": self.last,
                "bids": [[price, quantity] for price, quantity in self.bids.items()],
                "asks": [[price, quantity] for price, quantity in self.asks.items()],
            }).decode()
        return self._text

    def merged(self, later: BookUpdate) -> BookUpdate:
        cached = self._next
        if cached is not None and cached[0] is later:
            return cached[1]
        merged = BookUpdate(self.channel, self.first, later.last, {**self.bids, **later.bids},
                            {**self.asks, **later.asks})
        self._next = (later, merged)
        return merged


class Several(str):
    """The JSON texts of several messages, joined by commas (an array without brackets)."""

    __slots__ = ()


def several(texts: list[str]) -> str:
    """One item for `texts`: the message itself if there is one."""
    return texts[0] if len(texts) == 1 else Several(",".join(texts))


Item = str | BookUpdate


def merge_updates(items: Iterable[Item]) -> list[Item]:
    """`items` with every channel's book updates merged into one, at the place of its
    first; the order of everything else is kept."""
    out: list[Item] = []
    where: dict[str, int] = {}
    for item in items:
        if type(item) is BookUpdate:
            index = where.get(item.channel)
            if index is not None:
                earlier = out[index]
                assert type(earlier) is BookUpdate
                out[index] = earlier.merged(item)
                continue
            where[item.channel] = len(out)
        out.append(item)
    return out


class Outbox:
    """See the module docstring. Only Trio tasks of the server's thread use it.

    `limit` bounds the bytes queued, give or take the last item (shared items count for
    each outbox they are in); `max_age` the seconds an item may wait for the writer (of
    `time.monotonic()`). `on_slow` is called once, when the outbox fails with 4008."""

    __slots__ = ("_items", "_since", "_size", "_waiting", "_wakeup", "close_code",
                 "close_reason", "limit", "max_age", "on_slow", "sending")

    def __init__(self, limit: int = DEFAULT_LIMIT, max_age: float = math.inf,
                 on_slow: Callable[[], object] | None = None) -> None:
        self.limit = limit
        self.max_age = max_age
        self.on_slow = on_slow
        self._items: deque[Item] = deque()
        self._size = 0
        self._since = 0.0  # meaningful iff items are queued: see the module docstring
        self.sending = False  # True iff the writer is in a send (set by the writer)
        self._wakeup = trio.Event()
        self._waiting = False
        self.close_code: int | None = None
        self.close_reason = ""

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Bytes queued."""
        return self._size

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    def age(self, now: float) -> float:
        """Seconds the queued items have waited for the writer at `now` (0: none queued)."""
        return now - self._since if self._items else 0.0

    def put(self, item: Item, size: int = -1, now: float = 0.0) -> bool:
        """Queues `item` at once; False if the outbox is closed or has just failed (too
        full, or too old at `now`). `size` is `item`'s, if the caller knows it (one item
        sent to many outboxes); `now` is `time.monotonic()`, if the caller has read it."""
        if self.close_code is not None:
            return False
        if size < 0:
            size = size_of(item)
        if not self._items:
            self._since = now or time.monotonic()
        elif now and self.sending and now - self._since > self.max_age:
            self.close(SLOW_CONSUMER, "slow consumer")
            return False
        # Full once what is already queued reaches the limit: one item, however large (a
        # batch's trades), always fits into an outbox that is keeping up.
        if self._size >= self.limit:
            self._compact()
            if self._size >= self.limit:
                self.close(SLOW_CONSUMER, "slow consumer")
                return False
        self._items.append(item)
        self._size += size
        if self._waiting:
            self._waiting = False
            self._wakeup.set()
        return True

    def expire(self, now: float) -> bool:
        """Fails the outbox with 4008 if what is queued is older than `max_age` at `now`
        and the writer is in a send; whether it did."""
        if self.close_code is None and self.sending and self.age(now) > self.max_age:
            self.close(SLOW_CONSUMER, "slow consumer")
            return True
        return False

    def close(self, code: int, reason: str = "") -> None:
        """No more items; the writer sends what is queued (unless `SLOW_CONSUMER` or
        `DROPPED`: then the queue is dropped, and for `SLOW_CONSUMER` `on_slow` called) and
        closes with `code`. The first close
        wins."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        if code in (SLOW_CONSUMER, DROPPED):
            self._items.clear()
            self._size = 0
            if code == SLOW_CONSUMER and self.on_slow is not None:
                self.on_slow()
        self._wakeup.set()

    def discard(self, channel: str) -> None:
        """Drops queued book updates of `channel` (it was unsubscribed or is resubscribed:
        a new snapshot follows)."""
        items = self._items
        if any(type(item) is BookUpdate and item.channel == channel for item in items):
            self._replace([item for item in items
                           if not (type(item) is BookUpdate and item.channel == channel)])

    async def wait(self) -> None:
        """Returns once something is queued or the outbox is closed."""
        while not self._items and self.close_code is None:
            self._wakeup = trio.Event()
            self._waiting = True
            try:
                await self._wakeup.wait()
            finally:
                self._waiting = False

    async def take(self) -> str | None:
        """The next frame's text, once something is queued; None once the outbox is closed
        and empty. Cancelling it takes nothing."""
        await self.wait()
        return self.take_nowait()

    def take_nowait(self) -> str | None:
        """The next frame's text, or None if nothing is queued."""
        items = self._items
        if not items:
            return None
        if len(items) <= FRAME_ITEMS:
            batch: list[Item] = list(items)
            items.clear()
            self._size = 0
        else:
            batch = [items.popleft() for _ in range(FRAME_ITEMS)]
            self._size -= sum(size_of(item) for item in batch)
            self._since = time.monotonic()  # the writer is taking: the rest waits anew
        if len(batch) == 1:
            only = batch[0]
            if type(only) is str:
                return only
            if type(only) is BookUpdate:
                return only.text()
        parts = [item.text() if isinstance(item, BookUpdate) else item
                 for item in merge_updates(batch)]
        return "[" + ",".join(parts) + "]"

    def take_one(self) -> str | None:
        """The next message alone (a surface whose clients take one message a frame
        queues only plain texts), or None if nothing is queued."""
        items = self._items
        if not items:
            return None
        item = items.popleft()
        text = item.text() if isinstance(item, BookUpdate) else item
        self._size -= len(text)
        if items:
            self._since = time.monotonic()  # the writer is taking: the rest waits anew
        return text

    def _compact(self) -> None:
        merged = merge_updates(self._items)
        if len(merged) < len(self._items):
            self._replace(merged)

    def _replace(self, items: list[Item]) -> None:
        self._items.clear()
        self._items.extend(items)
        self._size = sum(size_of(item) for item in items)


def size_of(item: Item) -> int:
    return len(item.text()) if isinstance(item, BookUpdate) else len(item)
