"""What one command produces while the engine applies it, passed explicitly to every part.

A `Context` lives for one command: its timestamp, the events in the order they happen, the
balances changed so far (each once, to report at the end), and the bracket parents that
finished and wait for their children to be created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exchange.engine.accounts import Balance
    from exchange.engine.book import Order
    from exchange.engine.events import AnyEvent


class Context:
    __slots__ = ("events", "spawn", "touched", "ts")

    def __init__(self, ts: int) -> None:
        # `Any`, not `int`: mypyc then keeps the Python int the command carried, which every
        # event of the command takes as is; as an `int` it would be unboxed here and boxed
        # again (a new object) for each event.
        self.ts: Any = ts
        self.events: list[AnyEvent] = []
        self.touched: list[Balance] = []
        self.spawn: list[Order] = []

    def touch(self, balance: Balance) -> None:
        """Notes a changed balance, once per command."""
        if not balance.dirty:
            balance.dirty = True
            self.touched.append(balance)
