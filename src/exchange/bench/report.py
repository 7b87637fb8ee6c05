"""Benchmark output: a progress line while running, a table, and one JSON line last."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import trio


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return float(sorted_values[rank])


def latency_ms(sorted_seconds: Sequence[float], points: Sequence[str] = ("p50", "p90", "p99")
               ) -> dict[str, float]:
    """Percentiles (and `max`) in milliseconds, two decimals, of sorted latencies in seconds."""
    out = {name: round(percentile(sorted_seconds, int(name[1:]) / 100) * 1000, 2)
           for name in points}
    out["max"] = round((sorted_seconds[-1] if sorted_seconds else 0.0) * 1000, 2)
    return out


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, label: str, *, enabled: bool) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled
        self._last = 0.0

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        width = 30
        filled = width * done // max(self.total, 1)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done:,}/{self.total:,}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


async def show_progress(progress: Progress | None, started: float, deadline: float) -> None:
    """Redraws `progress` with the seconds since `started` (monotonic) until `deadline`."""
    if progress is None:
        return
    while time.monotonic() < deadline:
        await trio.sleep(0.2)
        progress.update(int(time.monotonic() - started))
    progress.close()


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(title)
    print("-" * (width + 20))
    for name, value in rows:
        print(f"{name:<{width}}  {value:>16}")


def print_json(result: Mapping[str, Any]) -> None:
    print(json.dumps(result, separators=(",", ":")))
