"""Competitions end to end: rounds reset accounts, the admin reads them, the leaderboard
ranks them (on SQLite and PostgreSQL, through the real server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import trio

from exchange.client import ExchangeError

from .support import ADMIN_TOKEN, Exchange
from .wsclient import connect

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def totals(account: dict[str, Any]) -> dict[str, Decimal]:
    return {b["asset"]: Decimal(b["total"]) for b in account["balances"]}


async def every_total(exchange: Exchange) -> dict[str, Decimal]:
    """Each asset summed over every account, the fee account 0 included."""
    out: dict[str, Decimal] = {}
    after = None
    while True:
        page = await exchange.admin.admin_accounts(limit=2, after=after)
        for account in page["accounts"]:
            for asset, total in totals(account).items():
                out[asset] = out.get(asset, Decimal(0)) + total
        after = page["next_after"]
        if after is None:
            return out


async def test_a_round_end_to_end(exchange: Exchange) -> None:
    await exchange.instrument()
    alice = await exchange.trader("alice", USD="10000", BTC="10")
    bob = await exchange.trader("bob", USD="10000", BTC="10")
    carol = await exchange.trader("carol", USD="10000", BTC="10")  # the house
    await exchange.admin.set_house(carol.account_id)
    # Before the round: alice and bob trade (fees go to account 0) and leave orders.
    await alice.client.place_order("BTC-USD", "sell", quantity="1", price="100")
    await bob.client.place_order("BTC-USD", "buy", quantity="1", price="100")
    await alice.client.place_order("BTC-USD", "buy", quantity="2", price="90")
    await bob.client.place_order("BTC-USD", "sell", quantity="1", price="150")
    await bob.client.place_order("BTC-USD", "sell", quantity="1", type="stop_market",
                                 stop_price="80")
    supply = await every_total(exchange)
    assert supply == {"USD": Decimal(30000), "BTC": Decimal(30)}
    before = {t.account_id: totals(await exchange.admin.admin_account(t.account_id))
              for t in (alice, bob)}

    started = await exchange.admin.start_round("round 1", {"USD": "5000", "BTC": "1"})
    assert started["accounts"] == [alice.account_id, bob.account_id]  # not the house
    assert started["status"] == "running"
    assert started["starting_balances"] == {"BTC": "1", "USD": "5000"}
    assert await exchange.admin.round(started["round_id"]) == started
    assert await exchange.admin.rounds() == [started]
    for trader in (alice, bob):
        detail = await exchange.admin.admin_account(trader.account_id)
        assert detail["open_orders"] == []
        assert detail["positions"] == []
        assert detail["round_id"] == started["round_id"]
        assert {b["asset"]: (b["total"], b["held"]) for b in detail["balances"]} == {
            "BTC": ("1", "0"), "USD": ("5000", "0"),
        }
        assert await trader.client.orders(status="open") == []
    # Conserved: the reset withdrew and deposited exactly the differences.
    change = {asset: sum(Decimal(t) - before[a].get(asset, Decimal(0))
                         for a, t in ((alice.account_id, {"USD": 5000, "BTC": 1}[asset]),
                                      (bob.account_id, {"USD": 5000, "BTC": 1}[asset])))
              for asset in ("USD", "BTC")}
    after_reset = await every_total(exchange)
    assert after_reset == {asset: supply[asset] + change[asset] for asset in supply}

    # The house makes a market; alice takes from it.
    await carol.client.place_order("BTC-USD", "buy", quantity="1", price="95")
    await carol.client.place_order("BTC-USD", "sell", quantity="1", price="105")
    board = await exchange.admin.leaderboard(started["round_id"], "USD")
    assert [e["equity"] for e in board["accounts"]] == ["5100", "5100"]
    assert [e["pnl"] for e in board["accounts"]] == ["0", "0"]
    await alice.client.place_order("BTC-USD", "buy", quantity="0.5", price="105")
    board = await exchange.admin.leaderboard(started["round_id"], "USD")
    book = await exchange.admin.book("BTC-USD")
    mid = (Decimal(book["bids"][0][0]) + Decimal(book["asks"][0][0])) / 2
    assert board["marks"] == {"BTC": {"price": str(mid), "source": "mid", "symbol": "BTC-USD"}}
    assert board["starting_equity"] == str(5000 + 1 * mid)
    expected = {}
    for trader in (alice, bob):
        held = totals(await trader.client.account())
        expected[trader.account_id] = held["USD"] + held["BTC"] * mid
    entries = {e["account_id"]: e for e in board["accounts"]}
    assert set(entries) == {alice.account_id, bob.account_id}
    for account_id, equity in expected.items():
        assert Decimal(entries[account_id]["equity"]) == equity
        assert Decimal(entries[account_id]["pnl"]) == equity - (5000 + mid)
    assert [e["account_id"] for e in board["accounts"]] == [bob.account_id, alice.account_id]
    assert entries[alice.account_id]["trades"] == 1
    assert entries[alice.account_id]["fees_paid"] == {"USD": "0.105"}  # 52.5 x 0.002
    assert entries[bob.account_id]["trades"] == 0
    [position] = (await exchange.admin.admin_account(alice.account_id))["positions"]
    assert position["quantity"] == "0.5"  # the round's epoch only

    # A new round for alice alone: PnL, fees and trades restart at zero.
    again = await exchange.admin.start_round("round 2", {"USD": "5000", "BTC": "1"},
                                             accounts=[alice.account_id])
    board = await exchange.admin.leaderboard(again["round_id"])
    [entry] = board["accounts"]
    assert (entry["pnl"], entry["trades"], entry["fees_paid"]) == ("0", 0, {})
    assert (await exchange.admin.leaderboard())["round_id"] == again["round_id"]
    # bob stays in round 1, alice moved on.
    first = await exchange.admin.leaderboard(started["round_id"])
    assert [e["account_id"] for e in first["accounts"]] == [bob.account_id]


async def test_trading_is_refused_after_the_end(exchange: Exchange) -> None:
    await exchange.instrument()
    alice = await exchange.trader("alice", USD="100")
    end = datetime.now(UTC) + timedelta(seconds=1.5)
    await exchange.admin.start_round("short", {"USD": "1000"}, accounts=[alice.account_id],
                                     end=end.isoformat())
    await alice.client.place_order("BTC-USD", "buy", quantity="1", price="10")
    await trio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.1)
    assert (await exchange.admin.rounds())[0]["status"] == "ended"
    with pytest.raises(ExchangeError) as caught:
        await alice.client.place_order("BTC-USD", "buy", quantity="1", price="10")
    assert (caught.value.status, caught.value.code) == (422, "round_closed")
    await alice.client.cancel_all()  # cancelling stays allowed


async def test_a_scheduled_round_refuses_trading_until_it_starts(exchange: Exchange) -> None:
    await exchange.instrument()
    alice = await exchange.trader("alice")
    start = datetime.now(UTC) + timedelta(hours=1)
    started = await exchange.admin.start_round(
        "later", {"USD": "1000"}, accounts=[alice.account_id], start=start.isoformat())
    assert started["status"] == "scheduled"
    with pytest.raises(ExchangeError) as caught:
        await alice.client.place_order("BTC-USD", "buy", quantity="1", price="10")
    assert (caught.value.status, caught.value.code) == (422, "round_closed")


async def test_bad_rounds_change_nothing(exchange: Exchange) -> None:
    await exchange.instrument()
    alice = await exchange.trader("alice", USD="100")
    ok = {"name": "r", "starting_balances": {"USD": "10"}, "accounts": [alice.account_id]}
    now = datetime.now(UTC)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"accounts": [alice.account_id, 999]}, 404, "not_found"),
        ({"accounts": [0]}, 404, "not_found"),
        ({"accounts": []}, 400, "invalid_request"),
        ({"accounts": "some"}, 400, "invalid_request"),
        ({"accounts": [alice.account_id, alice.account_id]}, 400, "invalid_request"),
        ({"accounts": [2**70]}, 400, "invalid_request"),
        ({"starting_balances": {"USD": "-1"}}, 400, "invalid_request"),
        ({"starting_balances": {"USD": "1e400"}}, 400, "invalid_request"),
        ({"starting_balances": {"USD": "0.0000000000001"}}, 400, "invalid_request"),
        ({"starting_balances": {"US D": "1"}}, 400, "invalid_request"),
        ({"starting_balances": {"EUR": "1"}}, 422, "unknown_asset"),
        ({"name": "a\u0000b"}, 400, "invalid_request"),
        ({"name": ""}, 400, "invalid_request"),
        ({"start": (now + timedelta(hours=2)).isoformat(),
          "end": (now + timedelta(hours=1)).isoformat()}, 400, "invalid_request"),
        ({"end": (now - timedelta(hours=1)).isoformat()}, 400, "invalid_request"),
        ({"end": "yesterday"}, 400, "invalid_request"),
        ({"extra": 1}, 400, "invalid_request"),
    ]
    async with httpx.AsyncClient(base_url=exchange.url, headers=ADMIN) as http:
        for change, status, code in cases:
            response = await http.post("/v1/admin/rounds", json={**ok, **change})
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), (
                change, response.text)
        for path, status in (
            ("/v1/admin/rounds/7", 404), ("/v1/admin/accounts/999", 404),
            ("/v1/admin/accounts?limit=0", 400), ("/v1/admin/accounts?after=x", 400),
            ("/v1/leaderboard", 404), ("/v1/leaderboard?round=abc", 400),
            ("/v1/leaderboard?round=9", 404),
        ):
            response = await http.get(path)
            assert response.status_code == status, path
            assert "error" in response.json()
        for body in ({"house": "yes"}, {}, {"house": True, "x": 1}):
            response = await http.patch(f"/v1/admin/accounts/{alice.account_id}", json=body)
            assert response.status_code == 400, body
        response = await http.patch("/v1/admin/accounts/999", json={"house": True})
        assert response.status_code == 404
    assert await exchange.admin.rounds() == []
    assert totals(await alice.client.account()) == {"USD": Decimal(100)}
    await exchange.admin.start_round("r", {"USD": "1"}, accounts=[alice.account_id])
    async with httpx.AsyncClient(base_url=exchange.url) as http:
        response = await http.get("/v1/leaderboard?asset=U$D")
        assert response.status_code == 400


async def test_admin_accounts_are_paged_by_id(exchange: Exchange) -> None:
    await exchange.instrument()
    traders = [await exchange.trader(f"t{i}", USD="1") for i in range(3)]
    await traders[0].client.place_order("BTC-USD", "buy", quantity="1", price="0.5")
    first = await exchange.admin.admin_accounts(limit=2)
    ids = [a["account_id"] for a in first["accounts"]]
    assert ids == [t.account_id for t in traders[:2]]
    assert first["next_after"] == ids[-1]
    assert first["accounts"][0]["open_orders"] == 1
    assert first["accounts"][0]["house"] is False
    rest = await exchange.admin.admin_accounts(after=first["next_after"])
    assert [a["account_id"] for a in rest["accounts"]] == [traders[2].account_id]
    assert rest["next_after"] is None
    flagged = await exchange.admin.set_house(traders[2].account_id)
    assert flagged["house"] is True
    detail = await exchange.admin.admin_account(traders[0].account_id)
    assert [o["price"] for o in detail["open_orders"]] == ["0.5"]
    assert detail["recent_fills"] == []


async def test_the_leaderboard_channel(exchange: Exchange) -> None:
    await exchange.instrument()
    alice = await exchange.trader("alice")
    house = await exchange.trader("house", USD="1000", BTC="10")
    await exchange.admin.set_house(house.account_id)
    started = await exchange.admin.start_round("r", {"USD": "100"})
    channel = f"leaderboard.{started['round_id']}"
    async with connect(exchange.url) as socket:
        reply = await socket.call("subscribe", channels=["leaderboard.99"])
        assert reply["type"] == "error"
        await socket.call("subscribe", channels=[channel])
        first = await socket.until("leaderboard")
        assert first["channel"] == channel
        assert [(e["account_id"], e["equity"]) for e in first["accounts"]] == [
            (alice.account_id, "100")]
        await house.client.place_order("BTC-USD", "sell", quantity="1", price="50")
        await alice.client.place_order("BTC-USD", "buy", quantity="1", price="50")
        changed = await socket.until("leaderboard", within=5)
        [entry] = changed["accounts"]
        assert entry["trades"] == 1
        assert changed["marks"]["BTC"] == {"price": "50", "source": "last",
                                           "symbol": "BTC-USD"}
        # Nothing changes: nothing more is sent.
        with trio.move_on_after(1.5) as idle:
            await socket.until("leaderboard", within=2)
        assert idle.cancelled_caught
