"""The matching engine: a pure, deterministic state machine (commands in, events out).

It imports nothing that does I/O; the edges convert decimals to integer ticks, lots and
units (`exchange.engine.units`) and back.
"""

from exchange.engine.checks import InvariantError
from exchange.engine.engine import Engine

__all__ = ["Engine", "InvariantError"]
