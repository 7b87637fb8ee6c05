"""`exchange simulate` as a user runs it: a subprocess against a real server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import trio

from web.support import ADMIN_TOKEN, start_exchange

ENV = {name: value for name, value in os.environ.items() if not name.startswith("EXCHANGE_")}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "exchange", "simulate", *args]


async def test_runs_for_its_duration_and_exits_cleanly(nursery: trio.Nursery) -> None:
    exchange = await start_exchange(nursery)
    # The token from the environment; SOL-USD does not exist and is created.
    done = await trio.run_process(
        command("--url", exchange.url, "--symbols", "SOL-USD", "--rate", "20",
                "--duration", "3", "--seed", "1"),
        env={**ENV, "EXCHANGE_ADMIN_TOKEN": ADMIN_TOKEN}, capture_stdout=True,
        capture_stderr=True, check=False,
    )
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "Traceback" not in err
    assert "simulating SOL-USD" in err
    assert "simulated 3." in err  # the summary
    assert "unexpected rejects: none" in err
    # Not a terminal: plain status lines, no carriage returns.
    assert "\r" not in err
    assert " | trades " in err
    sol = await exchange.admin.instrument("SOL-USD")
    assert (sol["tick_size"], sol["lot_size"]) == ("0.01", "0.001")
    assert await exchange.admin.trades("SOL-USD")
    await exchange.admin.aclose()


async def test_ctrl_c_cancels_the_bots_orders_and_exits_0(nursery: trio.Nursery) -> None:
    exchange = await start_exchange(nursery)
    process = await trio.lowlevel.open_process(
        command("--url", exchange.url, "--admin-token", ADMIN_TOKEN, "--symbols", "BTC-USD",
                "--rate", "20"),
        env=ENV, stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    seen = b""
    with trio.fail_after(20):
        while b"simulating" not in seen:
            chunk = await process.stderr.receive_some()
            assert chunk, seen
            seen += chunk
        await trio.sleep(1.5)
        book = await exchange.admin.book("BTC-USD")
        assert book["bids"]
        assert book["asks"]
        process.send_signal(signal.SIGINT)
        while chunk := await process.stderr.receive_some():
            seen += chunk
        assert await process.wait() == 0, seen.decode()
    err = seen.decode()
    assert "Traceback" not in err
    assert "unexpected rejects: none" in err
    book = await exchange.admin.book("BTC-USD")
    assert (book["bids"], book["asks"]) == ([], [])
    await exchange.admin.aclose()


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), env=env or ENV, capture_output=True, text=True,
                          timeout=60, check=False)


def test_an_unreachable_server_is_one_line_and_exit_2() -> None:
    done = run("--url", "http://127.0.0.1:9", "--admin-token", ADMIN_TOKEN)
    assert done.returncode == 2
    assert done.stderr.startswith("exchange simulate: cannot reach the exchange at "), \
        done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_no_admin_token_is_exit_2() -> None:
    done = run("--url", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "--admin-token (or EXCHANGE_ADMIN_TOKEN) is required" in done.stderr
