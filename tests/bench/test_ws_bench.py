"""`exchange bench ws` keeps the bench.md output contract (not a timing test)."""

from __future__ import annotations

import pytest
import trio

from exchange.bench.report import compare
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


async def test_bench_ws_binance_json_contract(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    result = await bench_ws(running.url, ADMIN_TOKEN, clients=4, duration=2.0, seed=1,
                            inflight=8, batch=4, api="binance")
    assert (result["bench"], result["api"]) == ("ws", "binance")
    assert result["requests"] > 50
    assert result["errors"] == 0, result["codes"]
    assert result["orders_per_s"] > 0
    assert result["requests_per_s"] >= result["orders_per_s"]
    assert set(result["latency_ms"]) == {"p50", "p90", "p99", "max"}
    # The mix without amends (Binance has no plain amend), cancels of live orders included.
    assert {"passive", "cancel", "aggressive", "market"} <= set(result["mix"])
    assert "amend" not in result["mix"]
    # Refusals only as the mix provokes them: a cancel racing a fill, a post-only taking.
    assert set(result["codes"]) <= {"-2010", "-2011"}, result["codes"]
    assert result["refused"] == sum(result["codes"].values()) < result["requests"] / 4
    await running.admin.aclose()
    running.server.shutdown()


async def test_bench_ws_both_compares_the_two_apis(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    result = await compare("ws", lambda api, bar: bench_ws(
        running.url, ADMIN_TOKEN, clients=2, duration=0.5, seed=1, inflight=8, batch=4,
        progress=bar, api=api), 2, "orders_per_s")
    assert (result["bench"], result["api"], result["rounds"]) == ("ws", "both", 2)
    assert (result["v1"]["api"], result["binance"]["api"]) == ("v1", "binance")
    assert len(result["runs"]["v1"]) == len(result["runs"]["binance"]) == 2
    # The median run is one of the runs: the lower middle one of two.
    assert result["v1"]["orders_per_s"] == min(result["runs"]["v1"])
    assert result["binance"]["errors"] == result["v1"]["errors"] == 0
    assert result["ratio"] == round(result["binance"]["orders_per_s"]
                                    / result["v1"]["orders_per_s"], 3)
    await running.admin.aclose()
    running.server.shutdown()


async def test_bench_ws_binance_counts_rate_limited_as_errors(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, rate_limit=5, rate_burst=5)
    result = await bench_ws(running.url, ADMIN_TOKEN, clients=2, duration=1.0, seed=1,
                            api="binance")
    assert result["codes"].get("-1003", 0) > 0  # Binance's "too many requests"
    assert result["errors"] >= result["codes"]["-1003"]
    await running.admin.aclose()
    running.server.shutdown()
