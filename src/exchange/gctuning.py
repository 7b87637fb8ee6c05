"""Garbage-collector settings for a process that keeps a large, long-lived engine state.

The engine makes no reference cycles (orders are unlinked from their levels and siblings
when they close), yet every full collection would walk all its live orders, levels and
balances: at the default thresholds that costs the engine half its throughput and
millisecond pauses. So once the long-lived state is built, freeze it out of the collector and
collect the young generation less often. Cyclic garbage (trio, hypercorn) is still collected.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (20_000, 20, 100)


def freeze_long_lived() -> None:
    """Call after start-up (recovery, setup): moves every live object out of collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off while start-up makes millions of long-lived objects (rows,
    orders, views): each collection they would set off walks every object in the process,
    which made loading a million rows take twice as long. What they make has no cycles to
    drop, so nothing is left for the collector when it is back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
