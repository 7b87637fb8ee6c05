"""Bad configuration ends `exchange serve` with exit code 2 and one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from exchange.pipeline.config import ConfigError, load_settings


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", "serve", *args], capture_output=True, text=True,
        timeout=60, env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("args", [
    ("--database-url", "bogus://nowhere"),
    ("--database-url", "::not a url::"),
    ("--port", "70000"),
    ("--database-url", "postgresql+asyncpg://nobody@127.0.0.1:1/none"),
])
def test_bad_configuration_exits_2(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_exits_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("--port", str(port), "--database-url", "memory://")
    assert result.returncode == 2, result.stderr
    assert "cannot listen" in result.stderr
    assert "Traceback" not in result.stderr


def test_environment_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXCHANGE_PORT", "9123")
    monkeypatch.setenv("EXCHANGE_RATE_LIMIT", "7")
    settings = load_settings(host="0.0.0.0")
    assert (settings.port, settings.rate_limit, settings.host) == (9123, 7, "0.0.0.0")
    monkeypatch.setenv("EXCHANGE_INBOX_SIZE", "zero")
    with pytest.raises(ConfigError, match="inbox_size"):
        load_settings()


def test_the_outbox_age_must_be_below_the_send_timeout() -> None:
    assert load_settings(send_timeout=1.0, ws_outbox_max_age=0.5).ws_outbox_max_age == 0.5
    with pytest.raises(ConfigError, match=r"ws_outbox_max_age \(5 s\) must be below "
                                          r"send_timeout \(5 s\)"):
        load_settings(ws_outbox_max_age=5.0)
