"""schemathesis against `/openapi.json` of a real server on PostgreSQL (part of CI).

Two seeded runs with a fixed budget of examples, one with a demo account's API key and one
with the admin token, each checking every answer: no 5xx, none slower than the per-request
time-out, no status, content type, header or body that the document does not declare. Then
the writer must still be healthy: `/readyz` answers 200 and an order can be placed.
schemathesis runs as its command line in a subprocess (the server lives in this test's trio
loop, and the CLI's report, with a `curl` line per failure, is what a failure shows).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trio

from exchange.app.demo import ACCOUNTS

from .support import ADMIN_TOKEN, Templates, database_url_for, drop_database, start_exchange

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
])
EXAMPLES = 30  # per operation and run: about 1,350 requests a run
SEED = 20261202
REQUEST_TIMEOUT = 5.0
# A run that hangs or crawls fails instead of stalling CI; about 60 s on a quiet machine,
# three times that with the other core busy.
RUN_TIMEOUT = 400.0


async def schemathesis(url: str, token: str, report: Path) -> str | None:
    """One run; None if every check passed, else the failures from schemathesis's report
    (written whole to `report`)."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES),
        "--seed", str(SEED),
        "--workers", "1",
        "--request-timeout", str(REQUEST_TIMEOUT),
        "--generation-database", "none",
        "--suppress-health-check", "all",
        "--no-color",
        # Chaos mode makes the venue misbehave on purpose (refusals, latency past the
        # request timeout): it has its own tests (tests/web/test_chaos.py).
        "--exclude-path", "/v1/admin/chaos",
    ]
    # Into a file, not a pipe: a run cut short by RUN_TIMEOUT still shows how far it got.
    out = await trio.to_thread.run_sync(report.open, "wb")
    with out, trio.move_on_after(RUN_TIMEOUT) as limit:
        done = await trio.run_process(command, stdout=out, stderr=subprocess.STDOUT,
                                      check=False, cwd=report.parent)
    output = await trio.Path(report).read_text(errors="replace")
    where = f"whole report in {report}"
    if limit.cancelled_caught:
        return f"{report.name}: no result within {RUN_TIMEOUT:.0f} s ({where}):\n{output[-3000:]}"
    if done.returncode == 0:
        return None
    found = [i for i in (output.find("=== FAILURES"), output.find("=== ERRORS")) if i >= 0]
    start = output.rfind("\n", 0, min(found)) + 1 if found else 0
    return f"{report.name} (exit {done.returncode}, {where}):\n{output[start:]}"


async def test_schemathesis_finds_nothing(tmp_path: Path, templates: Templates) -> None:
    url = await database_url_for("postgresql", tmp_path, templates)
    failures = []
    try:
        async with trio.open_nursery() as nursery:
            running = await start_exchange(nursery, database_url=url, demo=True)
            try:
                for token, name in ((ACCOUNTS[0][1], "api-key"), (ADMIN_TOKEN, "admin")):
                    failed = await schemathesis(running.url, token, tmp_path / f"{name}.txt")
                    if failed is not None:
                        failures.append(failed)
                async with httpx.AsyncClient(base_url=running.url, timeout=10) as http:
                    assert (await http.get("/readyz")).status_code == 200
                # The runs halted instruments and moved funds: a fresh pair shows the writer
                # still commits.
                await running.instrument("AFTER-USD")
                trader = await running.trader("after", USD="1000")
                order = await trader.client.place_order("AFTER-USD", "buy", quantity="1",
                                                        price="10")
                assert order["status"] == "new"
            finally:
                await running.admin.aclose()
                running.server.shutdown()
    finally:
        await drop_database(url)
    if failures:
        pytest.fail("schemathesis found problems:\n\n" + "\n\n".join(failures), pytrace=False)
