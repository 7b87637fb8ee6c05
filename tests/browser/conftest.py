"""Browser tests: the page in headless Chromium (Debian's, driven by Playwright) against a
real server started as a subprocess, with the market simulator keeping BTC-USD busy.

Chromium is `/usr/bin/chromium` (or `EXCHANGE_CHROMIUM`); Playwright's own browser downloads
are never used. Without Chromium these tests skip, except under `CI=true`, where they fail.
On a failure the page's screenshot and console log are saved in the test's tmp dir and the
paths printed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from exchange.simulate import SimStats, run_simulation

CHROMIUM = os.environ.get("EXCHANGE_CHROMIUM", "/usr/bin/chromium")
ADMIN_TOKEN = "browser-test-admin-token"
BUSY_SYMBOL = "BTC-USD"   # the simulator trades here
QUIET_SYMBOL = "ETH-USD"  # only the tests' own orders, so the book is exactly known
EXPECT_TIMEOUT_MS = 15_000


def unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)")
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


# -- THE SERVER --


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10,
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    command = [sys.executable, "-m", "exchange", "serve", "--port", str(port),
               "--database-url", "memory://", "--admin-token", ADMIN_TOKEN, "--demo"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /healthz in 60 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield Server(url, process, log)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def trader_key(server: Server) -> Iterator[str]:
    """A fresh funded account's API key; its orders are cancelled afterwards, so the quiet
    book holds only what the running test put there."""
    with server.admin() as admin:
        created = admin.post("/v1/admin/accounts", json={"name": "browser-trader"}).json()
        for asset, amount in (("USD", "1000000"), ("ETH", "1000"), ("BTC", "10")):
            answer = admin.post(f"/v1/admin/accounts/{created['account_id']}/deposits",
                                json={"asset": asset, "amount": amount})
            assert answer.status_code == 201, answer.text
    key: str = created["api_key"]
    yield key
    httpx.delete(f"{server.url}/v1/orders", headers={"Authorization": f"Bearer {key}"},
                 timeout=10).raise_for_status()


# -- THE MARKET --


@dataclass
class Market:
    stats: SimStats
    thread: threading.Thread
    errors: list[BaseException] = field(default_factory=list)


@pytest.fixture(scope="package")
def market(server: Server) -> Iterator[Market]:
    """`exchange simulate` on BUSY_SYMBOL at its default rate (about 50 order-entry requests
    a second), in a thread of its own running Trio."""
    stats = SimStats()
    ready = threading.Event()
    errors: list[BaseException] = []
    handle: dict[str, Any] = {}

    async def drive() -> None:
        handle["token"] = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            handle["scope"] = scope
            async with trio.open_nursery() as nursery:
                await nursery.start(lambda task_status: run_simulation(
                    server.url, ADMIN_TOKEN, [BUSY_SYMBOL], seed=1, stats=stats,
                    task_status=task_status))
                ready.set()

    def main() -> None:
        try:
            trio.run(drive)
        except BaseException as exc:
            errors.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=main, name="market", daemon=True)
    thread.start()
    assert ready.wait(60), "the simulator did not start in 60 s"
    assert not errors, errors
    yield Market(stats, thread, errors)
    trio.from_thread.run_sync(handle["scope"].cancel, trio_token=handle["token"])
    thread.join(10)
    assert not errors, errors


# -- THE BROWSER --


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set "
                    "EXCHANGE_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@dataclass
class Ui:
    """One page in a fresh browser context, with what it logged."""

    page: Any
    server: Server
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, symbol: str, key: str | None = None) -> None:
        from playwright.sync_api import expect

        self.page.goto(f"{self.server.url}/#{symbol}")
        expect(self.page.locator("#symbol")).to_have_value(symbol)
        if key is not None:
            self.page.fill("#api-key", key)
            self.page.click("#key-save")
            expect(self.page.locator("#account-name")).to_contain_text("#")

    def evaluate(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)

    def wait_for(self, script: str, arg: Any = None, timeout_ms: int = EXPECT_TIMEOUT_MS
                 ) -> None:
        self.page.wait_for_function(script, arg=arg, timeout=timeout_ms)


@pytest.fixture
def ui(browser: Any, server: Server, request: pytest.FixtureRequest, tmp_path: Path
       ) -> Iterator[Ui]:
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    made = Ui(page, server)
    page.on("console", lambda message: made.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: made.errors.append(str(error)))
    try:
        yield made
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            save_evidence(made, tmp_path)
        context.close()


def save_evidence(made: Ui, folder: Path) -> None:
    shot = folder / "page.png"
    log = folder / "console.log"
    try:
        made.page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failed page: {shot}")
    except Exception as exc:  # the page may be gone; the log still helps
        print(f"no screenshot: {exc}")
    log.write_text("\n".join(made.console + [f"pageerror: {e}" for e in made.errors]) + "\n")
    print(f"the page's console log: {log}")

