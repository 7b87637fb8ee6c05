"""`exchange bench ws` keeps the bench.md output contract (not a timing test)."""

from __future__ import annotations

import pytest
import trio

from exchange.bench.ws import bench_ws
from web.support import ADMIN_TOKEN, start_exchange


@pytest.mark.parametrize("batch", [1, 4])
async def test_bench_ws_json_contract(nursery: trio.Nursery, batch: int) -> None:
    running = await start_exchange(nursery)
    result = await bench_ws(running.url, ADMIN_TOKEN, clients=4, duration=2.0, seed=1,
                            inflight=8, batch=batch)
    assert result["bench"] == "ws"
    assert result["requests"] > 50
    assert result["errors"] == 0, result["codes"]
    assert result["seconds"] >= 2.0
    assert result["orders_per_s"] > 0
    assert result["requests_per_s"] >= result["orders_per_s"]
    assert set(result["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["max"]
    # The whole mix ran, cancels and amends of live orders included.
    assert {"passive", "cancel", "amend", "aggressive", "market"} <= set(result["mix"])
    assert result["refused"] < result["requests"] / 4
    await running.admin.aclose()
    running.server.shutdown()


async def test_bench_ws_counts_rate_limited_as_errors(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, rate_limit=5, rate_burst=5)
    result = await bench_ws(running.url, ADMIN_TOKEN, clients=2, duration=1.0, seed=1)
    assert result["codes"].get("rate_limited", 0) > 0
    assert result["errors"] >= result["codes"]["rate_limited"]
    await running.admin.aclose()
    running.server.shutdown()
