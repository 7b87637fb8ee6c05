"""`exchange bench fanout` keeps the bench.md output contract (not a timing test)."""

from __future__ import annotations

import trio

from exchange.bench.fanout import bench_fanout
from web.support import ADMIN_TOKEN, start_exchange


async def test_bench_fanout_json_contract(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    result = await bench_fanout(running.url, ADMIN_TOKEN, subscribers=20, duration=2.0,
                                rate=100, seed=1)
    assert result["bench"] == "fanout"
    assert result["subscribers"] == 20
    assert result["disconnected"] == 0
    assert result["gaps"] == 0
    assert result["orders_sent"] >= 150  # 100/s for 2 s
    assert result["orders_per_s"] > 0
    assert result["updates_per_s"] > 0
    assert result["messages_delivered_per_s"] > 0
    assert result["frames_delivered_per_s"] > 0
    assert result["latency_samples"] > 0
    latency = result["delivery_latency_ms"]
    assert set(latency) == {"p50", "p99", "max"}
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    # Every subscriber got every trade.
    assert result["trades_received"]["min"] == result["trades_received"]["max"] > 0
    await running.admin.aclose()
    running.server.shutdown()


async def test_bench_fanout_stalled_subscribers_are_closed_with_4008(
        nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, send_timeout=2.0, ws_outbox_max_age=0.5)
    result = await bench_fanout(running.url, ADMIN_TOKEN, subscribers=5, duration=3.0,
                                rate=400, seed=1, stalled=10)
    assert result["stalled"]["subscribers"] == 10
    fates = {key: value for key, value in result["stalled"].items() if key != "subscribers"}
    assert sum(fates.values()) == 10
    # Each was closed with 4008 (the frame delivered, or the connection reset if its send
    # buffer was full: after the 4008 too), and counted.
    assert fates["closed_4008"] + fates["reset"] == 10, fates
    assert result["slow_consumers"] == fates["closed_4008"] + fates["reset"]
    assert result["disconnected"] == 0  # the readers were not hurt
    assert result["gaps"] == 0
    await running.admin.aclose()
    running.server.shutdown()


async def test_bench_fanout_spreads_subscribers_over_processes(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    result = await bench_fanout(running.url, ADMIN_TOKEN, subscribers=6, duration=1.0,
                                rate=50, seed=2, processes=2)
    assert result["processes"] == 2
    assert result["disconnected"] == 0
    assert result["gaps"] == 0
    assert result["latency_samples"] > 0
    assert result["trades_received"]["min"] == result["trades_received"]["max"] > 0
    await running.admin.aclose()
    running.server.shutdown()
