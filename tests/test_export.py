"""`exchange export`: what it writes equals what the API answers, on SQLite and PostgreSQL,
page after page; filters; the command's files and errors."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from exchange import export as export_module
from exchange.store.history import Filters
from web.support import (
    Exchange,
    Templates,
    database_url_for,
    drop_database,
    start_exchange,
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def served(request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
                 ) -> AsyncIterator[tuple[Exchange, str]]:
    url = await database_url_for(request.param, tmp_path, templates)
    async with trio.open_nursery() as nursery:
        running = await start_exchange(nursery, database_url=url)
        try:
            yield running, url
        finally:
            await running.admin.aclose()
            running.server.shutdown()
    await drop_database(url)


async def _trade(exchange: Exchange) -> tuple[Any, Any]:
    await exchange.instrument()
    await exchange.instrument("ETH-USD")
    alice = await exchange.trader("alice", USD="100000", BTC="10", ETH="10")
    bob = await exchange.trader("bob", USD="100000", BTC="10", ETH="10")
    for index in range(7):
        price = str(100 + index)
        await alice.client.place_order("BTC-USD", "sell", quantity="0.002", price=price)
        await bob.client.place_order("BTC-USD", "buy", quantity="0.001", price=price)
        await bob.client.place_order("BTC-USD", "buy", quantity="0.001", price=price)
    await alice.client.place_order("ETH-USD", "sell", quantity="0.001", price="50")
    await bob.client.place_order("ETH-USD", "buy", quantity="0.001", type="market")
    await bob.client.place_order("BTC-USD", "buy", quantity="0.001", price="1")  # stays open
    return alice, bob


async def _export(url: str, kind: str, **filters: Any) -> list[dict[str, Any]]:
    out = io.StringIO()
    await export_module.export(url, kind, Filters(**filters), "jsonl", out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_exported_history_equals_the_api(served: tuple[Exchange, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    exchange, url = served
    alice, bob = await _trade(exchange)
    monkeypatch.setattr(export_module, "PAGE", 3)  # many pages
    api_trades = [t for symbol in ("BTC-USD", "ETH-USD")
                  for t in await exchange.admin.trades(symbol, limit=1000)]
    exported = await _export(url, "trades")
    assert sorted(exported, key=lambda t: t["trade_id"]) == exported
    assert exported == sorted(api_trades, key=lambda t: t["trade_id"])
    assert len(exported) == 15
    assert await _export(url, "trades", symbol="ETH-USD") == [
        t for t in exported if t["symbol"] == "ETH-USD"]
    for trader in (alice, bob):
        fills = await _export(url, "fills", account_id=trader.account_id)
        api_fills = await trader.client.fills(limit=1000)
        assert fills == [{**f, "account_id": trader.account_id}
                         for f in sorted(api_fills, key=lambda f: f["trade_id"])]
        orders = await _export(url, "orders", account_id=trader.account_id)
        api_orders = await trader.client.orders(limit=1000)
        assert orders == sorted(api_orders, key=lambda o: o["order_id"])
    both = await _export(url, "fills")
    assert len(both) == 2 * len(exported)
    assert {f["account_id"] for f in both} == {alice.account_id, bob.account_id}
    middle = exported[5]["ts"]
    later = await _export(url, "trades", since=export_module.parse_time(middle, "--since"))
    assert later == [t for t in exported if t["ts"] >= middle]
    earlier = await _export(url, "trades", until=export_module.parse_time(middle, "--until"))
    assert earlier + later == exported


async def test_the_command_writes_csv_and_refuses_bad_options(
        served: tuple[Exchange, str], tmp_path: Path) -> None:
    exchange, url = served
    await _trade(exchange)
    target = tmp_path / "trades.csv"
    command = [sys.executable, "-m", "exchange", "export", "trades", "--database-url", url,
               "--symbol", "BTC-USD", "--output", str(target)]
    done = await trio.run_process(command, capture_stdout=True, capture_stderr=True)
    assert done.returncode == 0, done.stderr
    assert b"exported 14 trades" in done.stderr
    lines = target.read_text().splitlines()
    assert lines[0] == "trade_id,symbol,price,quantity,taker_side,ts"
    assert len(lines) == 15
    bad = await trio.run_process([*command[:-2], "--since", "yesterday"], check=False,
                                 capture_stdout=True, capture_stderr=True)
    assert bad.returncode == 2
    assert bad.stderr.decode().startswith("exchange export: --since 'yesterday'")
    missing = await trio.run_process(
        [sys.executable, "-m", "exchange", "export", "orders", "--database-url",
         f"sqlite:///{tmp_path}/nowhere/x.db"], check=False, capture_stdout=True,
        capture_stderr=True)
    assert missing.returncode == 2
    assert missing.stderr.decode().startswith("exchange export: cannot read the database")
