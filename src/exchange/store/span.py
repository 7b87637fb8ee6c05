"""A page of history to read: a range of ids and times, and how many from which end.

The database's queries (`exchange.store.history`) and the read model's memory
(`exchange.pipeline.readmodel`) take the same `Span`, so a page is cut the same way on
either side of the seam between them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """Ids in `(above, below)` (None: unbounded) and times in `[start, end)`, `limit` of
    them: the newest (`newest=True`) or the oldest."""

    above: int | None
    below: int | None
    start: int | None
    end: int | None
    limit: int
    newest: bool = True
