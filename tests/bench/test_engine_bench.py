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


def test_check_reports_the_state_hash(capsys) -> None:
    assert main(["bench", "engine", "--commands", "2000", "--check", "--json",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert len(result["state_hash"]) == 64
    assert "self-check" in out
    assert result["state_hash"] in out  # in the table too


def test_a_recorded_stream_replays_to_the_same_state(tmp_path) -> None:
    from exchange.bench.engine import measure

    path = tmp_path / "mixed.jsonl"
    built_in = measure(commands=3000, seed=5, check=True)
    recorded = measure(commands=3000, seed=5, check=True, record=str(path))
    replayed = measure(workload_file=str(path), check=True)
    for key in ("commands", "trades", "events", "rejects", "open_orders", "state_hash"):
        assert built_in[key] == recorded[key] == replayed[key], key
    assert replayed["workload"] == "file"

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    header = lines[0]
    assert header == {"format": "exchange-workload", "version": 1,
                      "warmup": header["warmup"], "commands": 3000}
    assert len(lines) == 1 + header["warmup"] + 3000
    ops = {line["op"] for line in lines[1:]}
    assert {"add_instrument", "create_account", "deposit", "place", "cancel", "amend"} <= ops
    add = lines[1]
    assert add["tick_size"] == "0.01"  # decimals as strings, the rest integers
    place = next(line for line in lines[1:] if line["op"] == "place")
    assert isinstance(place["price"], int)
    assert "post_only" not in place or place["post_only"]  # defaults left out

    # A shorter replay of the same file: its first commands only.
    assert measure(workload_file=str(path), commands=1000)["commands"] == 1000


def test_a_bad_workload_file_is_one_clear_line(tmp_path, capsys) -> None:
    path = tmp_path / "bad.jsonl"
    header = '{"format": "exchange-workload", "version": 1, "warmup": 1, "commands": 1}\n'
    cases = {
        "": "line 1: not an exchange-workload version 1 header",
        header + '{"op": "fly"}\n': "line 2: unknown op",
        header + '{"op": "deposit", "account_id": 1}\n': "line 2: Object missing required",
        header + '{"op": "cancel", "account_id": 1, "order_id": 2, "oops": 1}\n':
            "line 2: cancel has no field oops",
        header + '{"op": "create_account"}\n{"op": "create_account"\n': "line 3: not JSON",
        header + '{"op": "create_account"}\n': "ends before the 1 commands",
    }
    for text, message in cases.items():
        path.write_text(text)
        assert main(["bench", "engine", "--workload-file", str(path), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert message in err[0], (message, err)
    code = main(["bench", "engine", "--workload-file", str(tmp_path / "none"), "--no-progress"])
    assert code == 2
    assert "No such file" in capsys.readouterr().err
