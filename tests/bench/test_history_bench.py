"""`exchange bench history` end to end on a small SQLite history: the offline fill, two
server subprocesses, the timed queries under load and the JSON contract (not a timing
test: the targets are for PostgreSQL and a million orders)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange.bench.history import Plan
from exchange.cli import main


def test_plan_mix() -> None:
    plan = Plan.of(1_000_000, None)
    assert (plan.open, plan.trades) == (10_000, 300_000)
    assert 2 + plan.open + 2 * plan.pairs + plan.cancels == 1_000_000
    small = Plan.of(2_000, None)
    assert small.open == 200
    assert 2 + small.open + 2 * small.pairs + small.cancels == 2_000


def test_bench_history_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    code = main(["bench", "history", "--database-url", url, "--orders", "2000",
                 "--seconds", "2", "--rate", "40", "--json", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["bench"] == "history"
    assert result["database"] == "sqlite"
    assert (result["placed"], result["open_orders"], result["rejected"]) == (2000, 200, 0)
    assert result["trades"] == 600
    assert result["cancelled"] == 2000 - 200 - 2 * 600
    assert result["first_order_id"] == 1
    assert result["baseline"]["ready_s"] > 0
    assert result["ready_s"] > 0
    assert result["baseline"]["rss_mb"] > 0
    assert result["rss_mb"] > 0
    assert result["rss_ratio"] > 0
    queries = result["queries"]
    assert set(queries) == {"first_order", "closed_orders", "fills"}
    assert queries["first_order"]["statuses"].get("200", 0) > 0
    for item in queries.values():
        assert set(item["statuses"]) == {"200"}
        assert 0 < item["latency_ms"]["p50"] <= item["latency_ms"]["p99"]
    assert queries["closed_orders"]["rows_per_page"] > 0
    assert queries["fills"]["rows_per_page"] > 0
    assert result["order_entry"]["requests"] > 0
    assert result["order_entry"]["errors"] == 0
    assert len(result["rss_samples_mb"]) >= 2
    assert result["server_exit_code"] == 0
    assert set(result["met"]) == {"rss_ratio", "ready_s", "first_order_p99",
                                  "closed_orders_p99", "fills_p99", "rss_flat"}

    # The history is there now: a second run refuses the database in one line.
    assert main(["bench", "history", "--database-url", url, "--orders", "2000",
                 "--no-progress"]) == 2
    assert "already has orders" in capsys.readouterr().out
