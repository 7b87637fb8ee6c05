"""`LocalBook`: an L2 book kept from the WebSocket book channel's snapshot and updates.

Pure (no I/O): feed it the channel's messages with `apply`. Prices and quantities are kept as
`Decimal`, so `"1.10"` and `"1.1"` are the same level and comparisons are exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

Level = tuple[Decimal, Decimal]

_ZERO = Decimal(0)


class SequenceGap(Exception):
    """An update does not continue the book: `first_sequence != sequence + 1`.

    The book is left as it was; the caller resubscribes to get a fresh snapshot.
    `expected` is None when no snapshot was applied yet.
    """

    def __init__(self, expected: int | None, first_sequence: int, sequence: int) -> None:
        got = f"[{first_sequence}, {sequence}]"
        super().__init__(f"book update {got} does not follow sequence "
                         f"{'(no snapshot)' if expected is None else expected - 1}")
        self.expected = expected
        self.first_sequence = first_sequence
        self.sequence = sequence


class LocalBook:
    """One symbol's book: `apply` snapshots and updates, read `bids()` / `asks()`."""

    def __init__(self) -> None:
        self.sequence: int | None = None  # None until a snapshot is applied
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}

    @property
    def ready(self) -> bool:
        """True once a snapshot has been applied."""
        return self.sequence is not None

    def apply(self, message: Mapping[str, Any]) -> None:
        """Applies a `snapshot` or `update` message (other types are ignored).

        Raises `SequenceGap` (changing nothing) for an update that does not start at
        `sequence + 1`, including any update before the first snapshot.
        """
        kind = message.get("type")
        if kind == "snapshot":
            self._bids = _levels(message["bids"])
            self._asks = _levels(message["asks"])
            self.sequence = int(message["sequence"])
        elif kind == "update":
            first, last = int(message["first_sequence"]), int(message["sequence"])
            expected = None if self.sequence is None else self.sequence + 1
            if first != expected or last < first:
                raise SequenceGap(expected, first, last)
            _merge(self._bids, message.get("bids", ()))
            _merge(self._asks, message.get("asks", ()))
            self.sequence = last

    def reset(self) -> None:
        """Forgets everything (before resubscribing)."""
        self.sequence = None
        self._bids.clear()
        self._asks.clear()

    def bids(self, depth: int | None = None) -> list[Level]:
        """Bid levels, highest price first, as (price, quantity)."""
        return sorted(self._bids.items(), reverse=True)[:depth]

    def asks(self, depth: int | None = None) -> list[Level]:
        """Ask levels, lowest price first, as (price, quantity)."""
        return sorted(self._asks.items())[:depth]

    def best_bid(self) -> Level | None:
        return max(self._bids.items()) if self._bids else None

    def best_ask(self) -> Level | None:
        return min(self._asks.items()) if self._asks else None


def _levels(rows: Iterable[Any]) -> dict[Decimal, Decimal]:
    levels: dict[Decimal, Decimal] = {}
    _merge(levels, rows)
    return levels


def _merge(levels: dict[Decimal, Decimal], rows: Iterable[Any]) -> None:
    # Quantities are absolute: each row replaces its level, and zero removes it.
    for row in rows:
        price, quantity = Decimal(row[0]), Decimal(row[1])
        if quantity == _ZERO:
            levels.pop(price, None)
        else:
            levels[price] = quantity


def levels_of(rows: Iterable[Any]) -> list[Level]:
    """(price, quantity) pairs of REST or WebSocket book rows (any extra column such as
    REST's `order_count` is dropped), for comparing with `bids()` / `asks()`."""
    return [(Decimal(row[0]), Decimal(row[1])) for row in rows]
