"""The benches' shared command: exit codes, table and JSON line."""

from __future__ import annotations

import json
import socket

import pytest

from exchange.cli import main


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("bench", ["http", "ws", "fanout"])
def test_no_admin_token_exits_2(bench: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("EXCHANGE_ADMIN_TOKEN", raising=False)
    assert main(["bench", bench, "--url", "http://127.0.0.1:1", "--duration", "1"]) == 2
    assert capsys.readouterr().out.strip() == (
        f"exchange bench {bench}: --admin-token (or EXCHANGE_ADMIN_TOKEN) is required")


@pytest.mark.parametrize("bench", ["http", "ws", "fanout"])
def test_an_unreachable_server_exits_1_with_one_line(
        bench: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    assert main(["bench", bench, "--url", url, "--admin-token", "bench-token-123",
                 "--duration", "1", "--no-progress"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"exchange bench {bench}: ")


def test_a_run_prints_the_table_and_the_json_line_last(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    from exchange.bench.report import latency_rows, run_network_bench

    async def bench(_bar: object) -> dict[str, object]:
        return {"bench": "x", "latency_ms": {"p50": 1.0, "max": 2.5}}

    assert run_network_bench(
        "x", "token", 1.0, progress=False, as_json=True, bench=bench,
        report=lambda result: ("bench x", latency_rows(result["latency_ms"])),
    ) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "bench x"
    assert any("latency p50 ms" in line and "1.00" in line for line in lines)
    assert any("latency max ms" in line and "2.50" in line for line in lines)
    assert json.loads(lines[-1]) == {"bench": "x", "latency_ms": {"p50": 1.0, "max": 2.5}}
