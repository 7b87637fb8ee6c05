"""`exchange bench http` keeps the bench.md output contract (not a timing test)."""

from __future__ import annotations

import trio

from exchange.bench.http import bench_http
from web.support import ADMIN_TOKEN, start_exchange


async def test_bench_http_json_contract(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    result = await bench_http(running.url, ADMIN_TOKEN, clients=4, duration=1.0, seed=1)
    assert result["bench"] == "http"
    assert result["requests"] > 10
    assert result["errors"] == 0
    assert result["seconds"] >= 1.0
    assert result["requests_per_s"] > 0
    assert set(result["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["max"]
    assert result["mix"]["passive"] > 0
    await running.admin.aclose()
    running.server.shutdown()


async def test_bench_http_binance_json_contract(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    result = await bench_http(running.url, ADMIN_TOKEN, clients=4, duration=1.0, seed=1,
                              api="binance")
    assert (result["bench"], result["api"]) == ("http", "binance")
    assert result["requests"] > 10
    assert result["errors"] == 0, result["codes"]
    assert result["requests_per_s"] > 0
    assert set(result["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert result["mix"]["passive"] > 0
    assert "amend" not in result["mix"]
    assert set(result["codes"]) <= {"-2010", "-2011"}, result["codes"]
    await running.admin.aclose()
    running.server.shutdown()
