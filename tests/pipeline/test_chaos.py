"""Chaos mode's spec and draws: parsing, bounds, seeded determinism, exit 2 on a bad spec."""

from __future__ import annotations

import pytest

from exchange.cli import main
from exchange.pipeline.chaos import Chaos, ChaosSpec, parse_spec
from exchange.pipeline.config import ConfigError, load_settings


def test_parse_full_spec() -> None:
    spec = parse_spec("latency=20ms..200ms, reject=0.02,disconnect=0.001,stall=0.001,seed=42")
    assert spec == ChaosSpec(0.02, 0.2, 0.02, 0.001, 0.001, 42)
    assert spec.enabled
    assert parse_spec(spec.text()) == spec
    assert parse_spec("latency=1.5s").latency_min == parse_spec("latency=1.5s").latency_max == 1.5
    assert not parse_spec("").enabled
    assert not parse_spec("seed=7").enabled


@pytest.mark.parametrize("text", [
    "latency=200ms..20ms", "latency=fast", "latency=20", "latency=11s", "reject=1.5",
    "reject=-0.1", "reject=often", "seed=-1", "seed=x", "volume=3", "reject", "reject=",
    "reject=0.1,reject=0.2",
])
def test_bad_specs_say_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match=r".") as caught:
        parse_spec(text)
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="chaos"):
        load_settings(chaos=text, database_url="memory://")


def test_bad_spec_on_the_command_line_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--chaos", "reject=2", "--database-url", "memory://"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "chaos" in lines[0]
    assert "probability" in lines[0]


def test_latency_stays_in_its_range() -> None:
    chaos = Chaos(parse_spec("latency=20ms..200ms,seed=1"))
    draws = [chaos.latency() for _ in range(2000)]
    assert all(0.02 <= draw <= 0.2 for draw in draws)
    assert min(draws) < 0.03
    assert max(draws) > 0.19
    assert Chaos(parse_spec("latency=50ms")).latency() == 0.05
    assert Chaos().latency() == 0.0


def _run(chaos: Chaos, steps: str) -> list[object]:
    draws = {"r": chaos.reject, "d": chaos.disconnect, "s": chaos.stall, "l": chaos.latency}
    return [draws[step]() for step in steps]


def test_same_seed_same_injections() -> None:
    spec = parse_spec("latency=1ms..9ms,reject=0.3,disconnect=0.2,stall=0.1,seed=42")
    steps = "rdslrrdsl" * 50
    first = _run(Chaos(spec), steps)
    assert first == _run(Chaos(spec), steps)
    assert first != _run(Chaos(parse_spec(spec.text().replace("seed=42", "seed=43"))), steps)
    # Each kind has its own generator: WebSocket frames in between do not shift REST's
    # refusals.
    rejects = [draw for step, draw in zip(steps, first, strict=True) if step == "r"]
    assert rejects == _run(Chaos(spec), "r" * len(rejects))
    assert 0.15 < sum(map(bool, rejects)) / len(rejects) < 0.45


def test_injections_are_counted_and_configure_restarts() -> None:
    counted: list[str] = []
    chaos = Chaos(parse_spec("reject=0.5,seed=3"), counted.append)
    first = [chaos.reject() for _ in range(100)]
    assert counted == ["reject"] * sum(first)
    chaos.update(reject=0.5)  # same setting: the generators start again
    assert [chaos.reject() for _ in range(100)] == first
    chaos.update(reject=0.0)
    assert not any(chaos.reject() for _ in range(100))
