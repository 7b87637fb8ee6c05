"""The trading page in a real browser: market data from a running market, and trading
through the form and the open-orders table, checked against the REST API."""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `test` extras bring it; without them, only CI insists
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("Playwright for Python is not installed (pip install -e '.[test]')",
                allow_module_level=True)

from .conftest import BUSY_SYMBOL, QUIET_SYMBOL, Market, Server, Ui


def rest(server: Server, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10,
                        headers={"Authorization": f"Bearer {key}"})


def open_orders(server: Server, key: str) -> list[dict[str, Any]]:
    with rest(server, key) as http:
        orders: list[dict[str, Any]] = http.get("/v1/orders", params={"status": "open"}).json()
        return orders


def test_the_page_loads_with_instruments_and_goes_live(ui: Ui) -> None:
    ui.open(BUSY_SYMBOL)
    page = ui.page
    options = page.locator("#symbol option")
    expect(options).to_have_count(2)
    assert options.all_inner_texts() == ["BTC-USD", "ETH-USD"]
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#f-submit")).to_have_text("Buy BTC")
    assert ui.errors == []


def test_book_trades_and_candles_fill_in_from_a_running_market(ui: Ui, market: Market
                                                               ) -> None:
    ui.open(BUSY_SYMBOL)
    page = ui.page
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    bids = page.locator("#book-bids .lrow:not(.empty)")
    asks = page.locator("#book-asks .lrow:not(.empty)")
    expect(bids.nth(4)).to_be_visible()
    expect(asks.nth(4)).to_be_visible()
    tape = page.locator("#trades .trow")
    expect(tape.nth(2)).to_be_visible()
    newest = tape.first.get_attribute("data-trade-id")
    # Live: new trades arrive on the tape without a reload.
    ui.wait_for("id => document.querySelector('#trades .trow').dataset.tradeId !== id",
                newest)
    # The ladder is a sane book: best first on each side, and never crossed.
    book = ui.evaluate("""() => {
        const prices = (side) => [...document.querySelectorAll(`#book-${side} .lrow`)]
            .filter((row) => row.dataset.price).map((row) => Number(row.dataset.price));
        return {bids: prices("bids"), asks: prices("asks"),
                sequence: window.exchangePage.book.sequence};
    }""")
    assert book["bids"] == sorted(book["bids"], reverse=True)
    assert book["asks"] == sorted(book["asks"])
    assert book["bids"][0] < book["asks"][0]
    expect(page.locator("#t-last")).not_to_have_text("—")
    ui.wait_for("() => window.exchangePage.state.candles.length >= 1")
    ui.wait_for("s => window.exchangePage.book.sequence > s", book["sequence"])
    # The simulator counts trades by polling the server once a second.
    deadline = time.monotonic() + 15
    while market.stats.trades == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert market.stats.trades > 0
    assert ui.errors == []


def test_an_order_from_the_form_rests_in_the_book_and_cancelling_removes_it(
        ui: Ui, trader_key: str) -> None:
    ui.open(QUIET_SYMBOL, trader_key)
    page = ui.page
    page.select_option("#f-type", "limit")
    page.fill("#f-price", "1234.56")
    page.fill("#f-quantity", "0.5")
    page.click("#f-submit")
    expect(page.locator("#f-result")).to_contain_text("— new")
    [order] = open_orders(ui.server, trader_key)
    assert (order["side"], order["price"], order["quantity"]) == ("buy", "1234.56", "0.5")

    level = page.locator('#book-bids .lrow[data-price="1234.56"]')
    expect(level).to_have_class("lrow own")
    expect(level.locator(".q")).to_have_text("0.5000")
    row = page.locator(f'#open-orders tr[data-order-id="{order["order_id"]}"]')
    expect(row).to_contain_text("1,234.56")
    expect(row).to_contain_text("0.5000")
    expect(page.locator("#open-count")).to_have_text("1")

    row.locator("button.cancel").click()
    expect(row).to_have_count(0)
    expect(level).to_have_count(0)
    expect(page.locator("#orders-result")).to_contain_text(f"Order #{order['order_id']} cancelled")
    assert open_orders(ui.server, trader_key) == []
    assert ui.errors == []


def test_amending_from_the_table_changes_quantity_and_price(ui: Ui, trader_key: str) -> None:
    with rest(ui.server, trader_key) as http:
        placed = http.post("/v1/orders", json={"symbol": QUIET_SYMBOL, "side": "sell",
                                               "type": "limit", "price": "5000",
                                               "quantity": "1"}).json()
    ui.open(QUIET_SYMBOL, trader_key)
    page = ui.page
    row = page.locator(f'#open-orders tr[data-order-id="{placed["order_id"]}"]')
    expect(row).to_contain_text("5,000.00")
    expect(page.locator('#book-asks .lrow[data-price="5000"] .q')).to_have_text("1.0000")

    row.locator("button.amend").click()
    row.locator("input.amend-qty").fill("0.4")
    row.locator("input.amend-price").fill("5001.5")
    row.locator("button.save").click()
    expect(row).to_contain_text("5,001.50")
    expect(row).to_contain_text("0.4000")
    expect(page.locator('#book-asks .lrow[data-price="5001.5"] .q')).to_have_text("0.4000")
    expect(page.locator('#book-asks .lrow[data-price="5000"]')).to_have_count(0)
    [order] = open_orders(ui.server, trader_key)
    assert (order["price"], order["quantity"]) == ("5001.5", "0.4")

    # A quantity the server refuses shows its error and leaves the order as it was.
    row.locator("button.amend").click()
    row.locator("input.amend-qty").fill("0.00001")
    row.locator("button.save").click()
    expect(page.locator("#orders-result")).to_contain_text("quantity_not_on_lot")
    row.locator("input.amend-qty").press("Escape")
    expect(row).to_contain_text("0.4000")
    assert ui.errors == []


def test_refusals_show_the_error_envelope(ui: Ui, trader_key: str) -> None:
    ui.open(QUIET_SYMBOL, trader_key)
    page = ui.page
    result = page.locator("#f-result")
    page.fill("#f-price", "100.001")
    page.fill("#f-quantity", "1")
    page.click("#f-submit")
    expect(result).to_have_class("notice error")
    expect(result).to_contain_text("price_not_on_tick")

    page.fill("#f-price", "100")
    page.fill("#f-quantity", "100000")
    page.click("#f-submit")
    expect(result).to_contain_text("insufficient_funds")

    # A missing field: the server's validation details name it.
    page.fill("#f-price", "")
    page.click("#f-submit")
    expect(result).to_contain_text("invalid_request")
    expect(result).to_contain_text("price is required")
    page.fill("#f-price", "100")
    page.fill("#f-quantity", "abc")
    page.click("#f-submit")
    expect(result.locator("li")).to_have_text('quantity: must be a decimal number like "100.25"')
    assert open_orders(ui.server, trader_key) == []


def test_stop_and_gtd_orders_from_the_form(ui: Ui, trader_key: str) -> None:
    ui.open(QUIET_SYMBOL, trader_key)
    page = ui.page
    page.select_option("#f-type", "stop_limit")
    expect(page.locator("#f-stop")).to_be_visible()
    page.click(".side.sell")
    page.fill("#f-stop", "900")
    page.fill("#f-price", "899")
    page.fill("#f-quantity", "0.25")
    page.select_option("#f-tif", "gtd")
    expect(page.locator("#f-expire")).to_be_visible()
    page.click("#f-submit")
    expect(page.locator("#f-result")).to_contain_text("pending")
    [order] = open_orders(ui.server, trader_key)
    assert (order["type"], order["side"], order["stop_price"], order["price"],
            order["time_in_force"]) == ("stop_limit", "sell", "900", "899", "gtd")
    row = page.locator(f'#open-orders tr[data-order-id="{order["order_id"]}"]')
    expect(row).to_contain_text("pending")
    # A pending stop is not on the book.
    expect(page.locator('#book-asks .lrow[data-price="899"]')).to_have_count(0)

    page.select_option("#f-type", "market")
    expect(page.locator("#f-price")).to_be_hidden()
    expect(page.locator("#f-tif")).to_be_hidden()
    page.fill("#f-quantity", "0.1")
    page.click("#f-submit")  # an empty book: the market order expires unfilled
    expect(page.locator("#f-result")).to_contain_text("expired")
    assert ui.errors == []


def test_the_key_is_remembered_and_can_be_forgotten(ui: Ui, trader_key: str) -> None:
    ui.open(QUIET_SYMBOL, trader_key)
    page = ui.page
    name = page.locator("#account-name").inner_text()
    page.reload()
    expect(page.locator("#account-name")).to_have_text(name)
    expect(page.locator("#balances tr[data-asset='USD']")).to_contain_text("1,000,000")
    page.click("#key-forget")
    expect(page.locator("#api-key")).to_be_visible()
    assert ui.evaluate("() => localStorage.getItem('exchange.apiKey')") is None

    page.fill("#api-key", "nobody.wrong-secret")
    page.click("#key-save")
    expect(page.locator("#f-result")).to_contain_text("unauthorized")
    expect(page.locator("#keybox")).to_have_class("keybox bad")


# -- THE FEED --

BOOK_OF_PAGE = """() => ({
    bids: window.exchangePage.book.bids.best().map((l) => [l.price, l.qty]),
    asks: window.exchangePage.book.asks.best().map((l) => [l.price, l.qty]),
    sequence: window.exchangePage.book.sequence,
})"""


def rest_book(server: Server, symbol: str) -> dict[str, Any]:
    book = httpx.get(f"{server.url}/v1/instruments/{symbol}/book",
                     params={"depth": 1000}).json()
    return {"bids": [[p, q] for p, q, _ in book["bids"]],
            "asks": [[p, q] for p, q, _ in book["asks"]], "sequence": book["sequence"]}


def wait_for_book(ui: Ui, symbol: str) -> dict[str, Any]:
    """The page's book once it has caught up with the server's (the quiet symbol only)."""
    expected = rest_book(ui.server, symbol)
    ui.wait_for("s => window.exchangePage.book.synced && window.exchangePage.book.sequence >= s",
                expected["sequence"])
    assert ui.evaluate(BOOK_OF_PAGE) == expected
    return expected


def place(server: Server, key: str, side: str, price: str, quantity: str) -> dict[str, Any]:
    with rest(server, key) as http:
        answer = http.post("/v1/orders", json={"symbol": QUIET_SYMBOL, "side": side,
                                               "type": "limit", "price": price,
                                               "quantity": quantity})
        assert answer.status_code == 201, answer.text
        order: dict[str, Any] = answer.json()
        return order


def test_the_book_follows_updates_and_resubscribes_on_a_gap(ui: Ui, trader_key: str) -> None:
    ui.open(QUIET_SYMBOL)
    expect(ui.page.locator("#conn")).to_have_attribute("data-state", "live")
    for side, price, quantity in (("buy", "990", "1"), ("buy", "991.5", "0.25"),
                                  ("sell", "1010", "2"), ("sell", "1010", "0.5")):
        place(ui.server, trader_key, side, price, quantity)
    book = wait_for_book(ui, QUIET_SYMBOL)
    assert ["1010", "2.5"] in book["asks"]
    ladder = ui.page.locator('#book-asks .lrow[data-price="1010"]')
    expect(ladder.locator(".q")).to_have_text("2.5000")

    # Pretend an update went missing: the next one does not follow, so the page
    # resubscribes and rebuilds its book from a fresh snapshot.
    resubscribes = ui.evaluate("() => window.exchangePage.feed.stats.resubscribes")
    ui.evaluate("() => { window.exchangePage.book.sequence -= 1; }")
    place(ui.server, trader_key, "sell", "1012", "0.75")
    ui.wait_for("n => window.exchangePage.feed.stats.resubscribes > n", resubscribes)
    book = wait_for_book(ui, QUIET_SYMBOL)
    assert ["1012", "0.75"] in book["asks"]
    expect(ui.page.locator('#book-asks .lrow[data-price="1012"] .q')).to_have_text("0.7500")
    assert any("book gap" in line for line in ui.console)
    assert ui.errors == []


def test_the_page_reconnects_by_itself(ui: Ui, trader_key: str) -> None:
    ui.open(QUIET_SYMBOL, trader_key)
    conn = ui.page.locator("#conn")
    expect(conn).to_have_attribute("data-state", "live")
    reconnects = ui.evaluate("() => window.exchangePage.feed.stats.reconnects")
    ui.evaluate("() => window.exchangePage.feed.ws.close()")
    ui.wait_for("n => window.exchangePage.feed.stats.reconnects > n", reconnects)
    expect(conn).to_have_attribute("data-state", "live")
    # Subscribed again, public and private: a new order reaches the book and the table.
    order = place(ui.server, trader_key, "buy", "777.77", "0.1")
    expect(ui.page.locator('#book-bids .lrow[data-price="777.77"]')).to_have_class("lrow own")
    expect(ui.page.locator(f'#open-orders tr[data-order-id="{order["order_id"]}"]')
           ).to_be_visible()
    wait_for_book(ui, QUIET_SYMBOL)
    assert ui.errors == []


def test_fills_reach_the_page_through_the_private_channels(ui: Ui, trader_key: str,
                                                           server: Server) -> None:
    ui.open(QUIET_SYMBOL, trader_key)
    expect(ui.page.locator("#conn")).to_have_attribute("data-state", "live")
    resting = place(server, trader_key, "sell", "1500", "0.3")
    row = ui.page.locator(f'#open-orders tr[data-order-id="{resting["order_id"]}"]')
    expect(row).to_be_visible()
    # Another account takes it.
    with server.admin() as admin:
        other = admin.post("/v1/admin/accounts", json={"name": "taker"}).json()
        admin.post(f"/v1/admin/accounts/{other['account_id']}/deposits",
                   json={"asset": "USD", "amount": "10000"})
    taken = place(server, other["api_key"], "buy", "1500", "0.3")
    assert taken["status"] == "filled"
    expect(row).to_have_count(0)
    ui.page.click('.tab[data-tab="fills"]')
    fill = ui.page.locator(f'#fills tr[data-trade-id="{taken["fills"][0]["trade_id"]}"]')
    expect(fill).to_contain_text("1,500.00")
    expect(fill).to_contain_text("maker")
    ui.page.click('.tab[data-tab="positions"]')
    position = ui.page.locator(f'#positions tr[data-symbol="{QUIET_SYMBOL}"]')
    expect(position).to_contain_text("0.3000")
    assert ui.errors == []


def test_frames_holding_an_array_of_messages_are_split(ui: Ui) -> None:
    ui.open(QUIET_SYMBOL)
    expect(ui.page.locator("#conn")).to_have_attribute("data-state", "live")
    trade = {"type": "trade", "channel": f"trades.{QUIET_SYMBOL}", "price": "1001",
             "quantity": "0.5", "taker_side": "buy", "ts": "2026-12-01T09:00:00.000000Z"}
    frames = [
        [{**trade, "trade_id": 900_000_001}, {**trade, "trade_id": 900_000_002,
                                              "price": "1002"}],
        {**trade, "trade_id": 900_000_003, "price": "1003"},
    ]
    for frame in frames:
        ui.evaluate("f => window.exchangePage.feed.handleFrame(JSON.stringify(f))", frame)
    for trade_id, price in ((900_000_001, "1,001.00"), (900_000_002, "1,002.00"),
                            (900_000_003, "1,003.00")):
        expect(ui.page.locator(f'#trades .trow[data-trade-id="{trade_id}"] .p')
               ).to_have_text(price)
    expect(ui.page.locator("#t-last")).to_have_text("1,003.00")
    assert ui.errors == []


def test_switching_instruments_follows_the_new_book_only(ui: Ui, trader_key: str,
                                                         market: Market) -> None:
    place(ui.server, trader_key, "buy", "950", "0.2")
    ui.open(BUSY_SYMBOL)
    expect(ui.page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(ui.page.locator("#book-bids .lrow:not(.empty)").nth(2)).to_be_visible()
    ui.page.select_option("#symbol", QUIET_SYMBOL)
    assert ui.page.url.endswith(f"#{QUIET_SYMBOL}")
    expect(ui.page.locator('#book-bids .lrow[data-price="950"] .q')).to_have_text("0.2000")
    wait_for_book(ui, QUIET_SYMBOL)
    assert ui.evaluate("() => [...window.exchangePage.feed.channels]") == [
        f"book.{QUIET_SYMBOL}", f"trades.{QUIET_SYMBOL}", f"ticker.{QUIET_SYMBOL}"]
    # The busy market goes on, but nothing of it reaches the quiet book or tape.
    trades = market.stats.trades
    ui.page.wait_for_timeout(1500)
    assert market.stats.trades > trades
    wait_for_book(ui, QUIET_SYMBOL)
    assert ui.page.locator("#trades .trow").count() == len(
        httpx.get(f"{ui.server.url}/v1/instruments/{QUIET_SYMBOL}/trades").json()[:60])
    assert ui.errors == []


def test_live_trades_move_the_candles_as_the_server_builds_them(ui: Ui, trader_key: str,
                                                                server: Server) -> None:
    ui.open(QUIET_SYMBOL)
    expect(ui.page.locator("#conn")).to_have_attribute("data-state", "live")
    ui.wait_for("() => window.exchangePage.state.tradesLoaded")
    with server.admin() as admin:
        other = admin.post("/v1/admin/accounts", json={"name": "candle-taker"}).json()
        admin.post(f"/v1/admin/accounts/{other['account_id']}/deposits",
                   json={"asset": "USD", "amount": "100000"})
    for price in ("1100", "1180.5", "1050.25"):
        place(server, trader_key, "sell", price, "0.1")
        place(server, other["api_key"], "buy", price, "0.1")
    [last] = httpx.get(f"{server.url}/v1/instruments/{QUIET_SYMBOL}/candles",
                       params={"interval": "1m"}).json()[-1:]
    ui.wait_for("n => { const c = window.exchangePage.state.candles.at(-1); "
                "return c && c.n >= n; }", last["trades"])
    page_candle = ui.evaluate("() => window.exchangePage.state.candles.at(-1)")
    assert page_candle["n"] == last["trades"]
    assert [page_candle[k] for k in "ohlc"] == [
        float(last[k]) for k in ("open", "high", "low", "close")]
    assert abs(page_candle["v"] - float(last["volume"])) < 1e-9
    assert page_candle["c"] == 1050.25
    expect(ui.page.locator("#candle-info")).to_contain_text("C 1050.25")
    assert ui.errors == []


def test_the_leaderboard_view_shows_ranked_accounts_live(ui: Ui, server: Server) -> None:
    with server.admin() as admin:
        ids = [admin.post("/v1/admin/accounts", json={"name": name}).json()["account_id"]
               for name in ("lb-first", "lb-second")]
        started = admin.post("/v1/admin/rounds", json={
            "name": "browser round", "starting_balances": {"USD": "100"}, "accounts": ids,
        })
        assert started.status_code == 201, started.text
        deposit = admin.post(f"/v1/admin/accounts/{ids[1]}/deposits",
                             json={"asset": "USD", "amount": "50"})
        assert deposit.status_code == 201, deposit.text
        ui.open(QUIET_SYMBOL)
        page = ui.page
        page.click(".tabs .tab[data-tab=leaderboard]")
        rows = page.locator("#leaderboard .lb-row")
        expect(rows).to_have_count(2)
        expect(page.locator("#lb-round")).to_contain_text("browser round")
        assert rows.evaluate_all("rows => rows.map(r => Number(r.dataset.accountId))") == [
            ids[1], ids[0]]
        expect(rows.first).to_contain_text("150")
        expect(rows.first).to_contain_text("lb-second")
        # Live: the channel reorders the table without a reload.
        admin.post(f"/v1/admin/accounts/{ids[0]}/deposits",
                   json={"asset": "USD", "amount": "100"}).raise_for_status()
        expect(rows.first).to_have_attribute("data-account-id", str(ids[0]))
        expect(rows.first).to_contain_text("200")
    assert ui.errors == []
