"""The simulator against a real server: a market on every symbol, and no refusal that the
bots did not provoke on purpose."""

from __future__ import annotations

from decimal import Decimal
from functools import partial
from pathlib import Path

import pytest
import trio

from exchange.client import ExchangeClient
from exchange.simulate import SimStats, SimulationError, run_simulation, runner
from exchange.simulate.desk import Desk, Health, Pacer
from exchange.simulate.runner import BURST, top_ups
from web.support import ADMIN_TOKEN, Exchange, Templates, database_url_for, start_exchange

SYMBOLS = ["BTC-USD", "ETH-USD"]


async def check_market(client: ExchangeClient, symbol: str, stats: SimStats) -> Decimal:
    """Asserts a live, sane market on `symbol`; returns its mid price."""
    trades = await client.trades(symbol, limit=10)
    assert trades, f"no trades on {symbol}"
    book = await client.book(symbol, depth=50)
    assert book["bids"], f"no bids on {symbol}"
    assert book["asks"], f"no asks on {symbol}"
    best_bid, best_ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
    assert best_bid < best_ask, f"{symbol} is crossed"
    assert stats.trades_by_symbol[symbol] > 0
    return (best_bid + best_ask) / 2


def assert_clean(stats: SimStats) -> None:
    assert stats.unexpected == 0, (stats.rejects_unexpected, stats.last_unexpected)
    assert stats.errors == 0
    assert stats.throttled == 0


@pytest.mark.parametrize("database", ["memory", "sqlite"])
async def test_a_market_on_every_symbol(nursery: trio.Nursery, tmp_path: Path,
                                        database: str) -> None:
    # On SQLite every acknowledged request is durable first: slower answers, same market.
    url = await database_url_for(database, tmp_path, Templates(tmp_path))
    exchange = await start_exchange(nursery, database_url=url)
    # BTC-USD exists already, on a coarser lot and with a last trade at 20,000: the
    # simulator keeps the instrument and starts from that price. ETH-USD it creates.
    await exchange.instrument("BTC-USD", lot="0.001")
    seller = await exchange.trader("seller", BTC="1")
    buyer = await exchange.trader("buyer", USD="100000")
    await seller.client.place_order("BTC-USD", "sell", quantity="0.5", price="20000")
    await buyer.client.place_order("BTC-USD", "buy", quantity="0.5", price="20000")

    async with trio.open_nursery() as simulation:
        started = trio.current_time()
        stats = await simulation.start(partial(run_simulation, exchange.url, ADMIN_TOKEN,
                                               SYMBOLS, 40.0, seed=1))
        assert stats.orders >= 2 * 2 * 12  # two makers per symbol quoted their ladders
        await trio.sleep(5)
        mids = {symbol: await check_market(exchange.admin, symbol, stats)
                for symbol in SYMBOLS}
        assert_clean(stats)
        simulation.cancel_scope.cancel()
    elapsed = trio.current_time() - started

    assert abs(mids["BTC-USD"] / 20_000 - 1) < Decimal("0.03")
    assert abs(mids["ETH-USD"] / 3_000 - 1) < Decimal("0.03")
    eth = await exchange.admin.instrument("ETH-USD")
    assert (eth["tick_size"], eth["lot_size"]) == ("0.01", "0.0001")
    assert (eth["maker_fee_rate"], eth["taker_fee_rate"]) == ("0.001", "0.002")
    # The rate is a rate: 40 requests/s, plus each of the 8 accounts' first burst.
    assert 0.4 * 40 * elapsed < stats.requests <= 40 * elapsed + 8 * BURST
    assert stats.by_kind.keys() >= {"quote", "market", "gtc", "ioc", "stop", "bracket"}
    assert stats.cancels > 0
    assert stats.amends > 0
    # Cancelled, the simulator took its orders off the books.
    for symbol in SYMBOLS:
        book = await exchange.admin.book(symbol)
        assert (book["bids"], book["asks"]) == ([], [])
    await exchange.admin.aclose()


async def test_bots_stay_under_the_servers_rate_limit(nursery: trio.Nursery) -> None:
    exchange = await start_exchange(nursery, rate_limit=50.0, rate_burst=100)
    seconds = 5
    async with trio.open_nursery() as simulation:
        started = trio.current_time()
        stats = await simulation.start(partial(run_simulation, exchange.url, ADMIN_TOKEN,
                                               SYMBOLS, 150.0, seed=2))
        await trio.sleep(seconds)
        for symbol in SYMBOLS:
            await check_market(exchange.admin, symbol, stats)
        simulation.cancel_scope.cancel()
    elapsed = trio.current_time() - started
    assert_clean(stats)  # never a 429
    # More than one account may send in that time: the load is spread.
    assert stats.requests > 50 * elapsed + 100
    await exchange.admin.aclose()


async def test_a_wrong_admin_token_is_one_clear_error(nursery: trio.Nursery) -> None:
    exchange: Exchange = await start_exchange(nursery)
    with pytest.raises(SimulationError, match="refused the admin token") as raised:
        await run_simulation(exchange.url, "not-the-token", SYMBOLS)
    assert raised.value.exit_code == 1
    await exchange.admin.aclose()


async def test_an_unreachable_server_is_one_clear_error() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    with pytest.raises(SimulationError, match="cannot reach") as raised:
        await run_simulation(f"http://127.0.0.1:{port}", ADMIN_TOKEN, SYMBOLS)
    assert raised.value.exit_code == 2


def test_top_ups_refill_what_runs_low() -> None:
    needs = {"USD": 10_000_000.0, "BTC": 200.0}
    balances = [{"asset": "USD", "total": "9000000", "available": "2400000", "held": "6600000"},
                {"asset": "BTC", "total": "60", "available": "60", "held": "0"}]
    assert top_ups(needs, balances, 0.25) == [("USD", "10000000.00000000")]
    assert top_ups(needs, balances[1:], 0.25) == [("USD", "10000000.00000000")]  # none yet
    assert top_ups(needs, balances, 0.2) == []


async def test_the_treasurer_keeps_accounts_funded(nursery: trio.Nursery,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # Topping up below 99.99% of the starting funds: the makers' first holds (about 0.5%
    # of their funds) call for deposits at once; the deposits go through the admin API.
    monkeypatch.setattr(runner, "LOW", 0.9999)
    monkeypatch.setattr(runner, "TREASURY", 0.5)
    exchange = await start_exchange(nursery)
    async with trio.open_nursery() as simulation:
        stats = await simulation.start(partial(run_simulation, exchange.url, ADMIN_TOKEN,
                                               ["BTC-USD"], 30.0, seed=3))
        with trio.fail_after(10):
            while stats.deposits < 4:  # noqa: ASYNC110 - polling the live statistics
                await trio.sleep(0.2)
        simulation.cancel_scope.cancel()
    assert_clean(stats)
    await exchange.admin.aclose()


async def test_a_bot_sees_all_its_open_orders_page_by_page(nursery: trio.Nursery) -> None:
    exchange = await start_exchange(nursery)
    await exchange.instrument("BTC-USD")
    trader = await exchange.trader("many", USD="1000000")
    for index in range(230):
        await trader.client.place_order("BTC-USD", "buy", quantity="0.001",
                                        price=str(1000 + index))
    desk = Desk("many", trader.client, trader.account_id, SimStats(), Health(exchange.url),
                Pacer(10.0, 1))
    listed = await runner._open_orders(desk, "BTC-USD")
    assert listed is not None
    assert len({order["order_id"] for order in listed}) == 230
    await exchange.admin.aclose()


async def test_a_stricter_server_limit_slows_the_bots_down(nursery: trio.Nursery) -> None:
    # 3 requests/s per account, far below the bots' pace: a few 429s, then they adapt.
    exchange = await start_exchange(nursery, rate_limit=3.0, rate_burst=5)
    async with trio.open_nursery() as simulation:
        stats = await simulation.start(partial(run_simulation, exchange.url, ADMIN_TOKEN,
                                               ["BTC-USD"], 60.0, seed=4))
        await trio.sleep(4)
        early = stats.throttled
        await trio.sleep(4)
        late = stats.throttled - early
        simulation.cancel_scope.cancel()
    assert early > 0
    assert late < early
    assert stats.unexpected == 0, stats.rejects_unexpected
    assert stats.errors == 0
    await exchange.admin.aclose()


# Cancelling the bots mid-request leaves httpx's request-body generators unfinished; on a
# loaded machine the garbage collector finds them during this test (not a failure of it).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_round_gets_liquidity_from_house_accounts(nursery: trio.Nursery) -> None:
    exchange = await start_exchange(nursery)
    await exchange.instrument("BTC-USD")
    player = await exchange.trader("player")
    started = await exchange.admin.start_round("r", {"USD": "100000"})
    with pytest.raises(SimulationError, match="no round 99"):
        await run_simulation(exchange.url, ADMIN_TOKEN, ["BTC-USD"], 20.0, seed=1,
                             round_id=99)
    async with trio.open_nursery() as simulation:
        stats = await simulation.start(partial(run_simulation, exchange.url, ADMIN_TOKEN,
                                               ["BTC-USD"], 20.0, seed=1,
                                               round_id=started["round_id"]))
        await player.client.place_order("BTC-USD", "buy", type="market",
                                        quote_quantity="1000")
        simulation.cancel_scope.cancel()
    assert_clean(stats)
    page = await exchange.admin.admin_accounts()
    bots = [a for a in page["accounts"] if (a["name"] or "").startswith("sim-")]
    assert bots
    assert all(a["house"] for a in bots)
    board = await exchange.admin.leaderboard(started["round_id"])
    assert [e["account_id"] for e in board["accounts"]] == [player.account_id]
    assert board["accounts"][0]["trades"] >= 1
    assert board["marks"]["BTC"]["source"] in ("mid", "last")
    # A round over "all" accounts leaves the house alone.
    again = await exchange.admin.start_round("r2", {"USD": "1"})
    assert again["accounts"] == [player.account_id]
    await exchange.admin.aclose()
