"""`exchange bench engine` keeps the bench.md output contract (not a timing test)."""

import json

from exchange.cli import main


def test_bench_engine_json_contract(capsys) -> None:
    assert main(["bench", "engine", "--commands", "3000", "--json", "--no-progress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "commands/s" in lines[2]  # the human table comes first
    result = json.loads(lines[-1])
    assert result["bench"] == "engine"
    assert result["workload"] == "mixed"
    assert result["commands"] == 3000
    assert result["seconds"] > 0
    assert result["commands_per_s"] > 0
    assert result["trades"] > 0
    assert result["events"] > result["commands"]
    assert result["rejects"] < result["commands"] // 10
    assert set(result["latency_us"]) == {"p50", "p99", "p999"}
    assert 0 < result["latency_us"]["p50"] <= result["latency_us"]["p99"]


def test_bench_engine_is_deterministic_for_a_seed() -> None:
    from exchange.bench.engine import measure

    first = measure(commands=2000, seed=7)
    second = measure(commands=2000, seed=7)
    for key in ("trades", "events", "rejects", "open_orders"):
        assert first[key] == second[key]
