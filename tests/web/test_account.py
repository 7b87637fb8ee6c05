"""Balances, holds and positions."""

from __future__ import annotations

from .support import Exchange


def _balances(account: dict) -> dict[str, tuple[str, str, str]]:  # type: ignore[type-arg]
    return {b["asset"]: (b["total"], b["available"], b["held"]) for b in account["balances"]}


async def test_balances_and_holds(exchange: Exchange) -> None:
    await exchange.instrument()
    alice = await exchange.trader("alice", USD="1000", BTC="2")
    account = await alice.client.account()
    assert account["account_id"] == alice.account_id
    assert account["name"] == "alice"
    assert _balances(account) == {"BTC": ("2", "2", "0"), "USD": ("1000", "1000", "0")}
    await alice.client.place_order("BTC-USD", "buy", quantity="1", price="100")
    await alice.client.place_order("BTC-USD", "sell", quantity="0.5", price="200")
    # a buy holds price x quantity x (1 + taker rate)
    assert _balances(await alice.client.account()) == {
        "BTC": ("2", "1.5", "0.5"), "USD": ("1000", "899.8", "100.2"),
    }


async def test_positions_and_conservation(exchange: Exchange) -> None:
    await exchange.instrument()
    alice = await exchange.trader("alice", USD="10000", BTC="10")
    bob = await exchange.trader("bob", USD="10000", BTC="10")
    await alice.client.place_order("BTC-USD", "sell", quantity="2", price="100")
    await bob.client.place_order("BTC-USD", "buy", quantity="2", price="100")
    await bob.client.place_order("BTC-USD", "sell", quantity="1", price="110")
    await alice.client.place_order("BTC-USD", "buy", quantity="1", price="110")
    [position] = await bob.client.positions()
    assert position == {
        "symbol": "BTC-USD", "quantity": "1", "average_price": "100", "realized_pnl": "10",
        "unrealized_pnl": "10", "mark_price": "110",
    }
    [short] = await alice.client.positions()
    assert short["quantity"] == "-1"
    assert short["realized_pnl"] == "-10"
    totals: dict[str, float] = {}
    for trader in (alice, bob):
        for asset, (total, _, _) in _balances(await trader.client.account()).items():
            totals[asset] = totals.get(asset, 0) + float(total)
    fees = 2 * 100 * 0.003 + 110 * 0.003  # maker 0.001 + taker 0.002 on each notional
    assert round(totals["USD"] + fees, 6) == 20000
    assert totals["BTC"] == 20
