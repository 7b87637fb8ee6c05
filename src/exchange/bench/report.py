"""Benchmark output: a progress line while running, a table, and one JSON line last."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx
import trio

from exchange.client import ExchangeError


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


def merged_counts(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Several `{name: count}` added up."""
    total: Counter[str] = Counter()
    for item in counts:
        total.update(item)
    return dict(total)


def latency_rows(latency: Mapping[str, float], label: str = "latency"
                 ) -> list[tuple[str, str]]:
    """Table rows for a `latency_ms` summary."""
    return [(f"{label} {name} ms", f"{value:.2f}") for name, value in latency.items()]


BOTH = "both"  # `--api both`: /v1 and the Binance-compatible surface in one run
APIS = ("v1", "binance", BOTH)


async def compare(name: str, one: Callable[[str, Progress | None], Awaitable[dict[str, Any]]],
                  rounds: int, figure: str, progress: Progress | None = None
                  ) -> dict[str, Any]:
    """`rounds` runs of `one(api, bar)` for each of `/v1` and `binance`, in the order
    v1, binance, binance, v1, v1, ... (so neither always runs on the fuller book or the
    quieter machine), and the run of each whose `figure` is the median (the lower of the
    two middle ones for an even count). `ratio`: binance's median over v1's."""
    runs: dict[str, list[dict[str, Any]]] = {"v1": [], "binance": []}
    enabled = progress is not None and progress.enabled
    for index in range(rounds):
        for api in (("v1", "binance") if index % 2 == 0 else ("binance", "v1")):
            bar = Progress(progress.total if progress else 1,
                           f"{name} {api} {index + 1}/{rounds}", enabled=enabled)
            runs[api].append(await one(api, bar if enabled else None))
    medians = {api: sorted(done, key=lambda run: run[figure])[(len(done) - 1) // 2]
               for api, done in runs.items()}
    base = medians["v1"][figure]
    return {
        "bench": name, "api": BOTH, "rounds": rounds, "figure": figure,
        "v1": medians["v1"], "binance": medians["binance"],
        "ratio": round(medians["binance"][figure] / base, 3) if base else 0.0,
        "runs": {api: [run[figure] for run in done] for api, done in runs.items()},
    }


def compared_rows(result: Mapping[str, Any], figure: str,
                  rows: Callable[[dict[str, Any]], list[tuple[str, str]]]
                  ) -> list[tuple[str, str]]:
    """Table rows of a `compare` result: each API's median run, the ratio, every run."""
    out: list[tuple[str, str]] = []
    for api in ("v1", "binance"):
        out += [(f"{api}: {name}", value) for name, value in rows(result[api])]
        out.append((f"{api}: {figure} of each run",
                    ", ".join(f"{value:,.0f}" for value in result["runs"][api])))
    out.append((f"binance / v1 ({figure})", f"{result['ratio']:.3f}"))
    return out


def run_network_bench(
    name: str,
    admin_token: str | None,
    duration: float,
    *,
    progress: bool,
    as_json: bool,
    bench: Callable[[Progress], Awaitable[dict[str, Any]]],
    report: Callable[[dict[str, Any]], tuple[str, list[tuple[str, str]]]],
    failures: tuple[type[BaseException], ...] = (),
) -> int:
    """The command of a benchmark against a running server: checks the admin token, runs
    `bench` under Trio with a progress bar, prints `report(result)` (a title and rows) and
    the JSON line. Returns the exit code: 2 without a token, 1 if the server failed it."""
    if not admin_token:
        print(f"exchange bench {name}: --admin-token (or EXCHANGE_ADMIN_TOKEN) is required")
        return 2
    bar = Progress(max(1, int(duration)), name, enabled=progress)
    caught: tuple[type[BaseException], ...] = (ExchangeError, httpx.HTTPError, OSError,
                                               *failures)
    try:
        result = trio.run(bench, bar)
    except caught as exc:
        print(f"exchange bench {name}: {exc or type(exc).__name__}")
        return 1
    title, rows = report(result)
    print_table(title, rows)
    if as_json:
        print_json(result)
    return 0


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(title)
    print("-" * (width + 20))
    for name, value in rows:
        print(f"{name:<{width}}  {value:>16}")


def print_json(result: Mapping[str, Any]) -> None:
    print(json.dumps(result, separators=(",", ":")))
