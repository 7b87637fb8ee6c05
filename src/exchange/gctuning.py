"""Garbage-collector settings for a process that keeps a large, long-lived engine state.

The engine makes no reference cycles (orders are unlinked from their levels and siblings
when they close), yet every full collection would walk all its live orders, levels and
balances: at the default thresholds that costs the engine half its throughput and
millisecond pauses. So once the long-lived state is built, freeze it out of the collector and
collect the young generation less often. Cyclic garbage (trio, hypercorn) is still collected.
"""

import gc

THRESHOLDS = (20_000, 20, 100)


def freeze_long_lived() -> None:
    """Call after start-up (recovery, setup): moves every live object out of collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
