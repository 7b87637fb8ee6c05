"""`run_simulation`: accounts, instruments and bots wired in one nursery.

    setup (admin API): instruments if missing -> fair prices -> funded accounts
    seed: every maker places its ladder                  -> task_status.started(stats)
    run:  per symbol a fair-price walk and a trade watcher;
          per account a bot loop (maker or taker) and a treasurer that tops it up
    end (cancelled): every account cancels its open orders (bounded, shielded)
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import trio

from exchange.client import ExchangeClient, ExchangeError
from exchange.simulate.actions import OPEN_STATUSES, Action, Amend, Cancel, Grid, Resting
from exchange.simulate.bots import MarketMaker, Shape, Taker
from exchange.simulate.desk import Desk, Health, Pacer, SimulationError
from exchange.simulate.fair import FairPrice
from exchange.simulate.stats import SimStats

Json = dict[str, Any]

# The instruments `exchange serve --demo` creates, and the starting prices used when a
# book has no trade and no quote yet: (tick, lot, price).
KNOWN = {"BTC-USD": ("0.01", "0.00001", 50_000), "ETH-USD": ("0.01", "0.0001", 3_000)}
OTHER = ("0.01", "0.001", 100)
FEES = ("0.001", "0.002")  # maker, taker

PER_ACCOUNT = 20.0  # order-entry requests/s per account: under the server's default 50/s
BURST = 15  # a maker's first ladder (2 x 6 levels) goes out at once
MAKER_SHARE = 0.55  # of each symbol's rate; takers get the rest
FUNDING = 2_000  # each account holds this many typical order sizes of each asset
LOW = 0.25  # ... and is topped up when what is available falls below this fraction
FAIR_STEP = 0.2  # seconds between steps of the fair-price walk
MAKER_SYNC = 1.0  # seconds between a maker's reads of its open orders (to see fills)
TAKER_SYNC = 5.0
TREASURY = 2.0  # seconds between balance checks


@dataclass(frozen=True, slots=True)
class Plan:
    """How many bots of each kind per symbol, and each one's request rate."""

    makers: int
    takers: int
    maker_rate: float
    taker_rate: float


def plan(rate: float, symbols: int, per_account: float = PER_ACCOUNT) -> Plan:
    """Spreads `rate` requests/s over enough accounts that none exceeds `per_account`."""
    if rate <= 0 or symbols <= 0:
        raise ValueError("rate and the number of symbols must be positive")
    each = rate / symbols
    makers = max(2, math.ceil(each * MAKER_SHARE / per_account))
    takers = max(2, math.ceil(each * (1 - MAKER_SHARE) / per_account))
    return Plan(makers, takers, each * MAKER_SHARE / makers, each * (1 - MAKER_SHARE) / takers)


@dataclass(eq=False)
class Market:
    grid: Grid
    fair: FairPrice


async def run_simulation(
    url: str, admin_token: str, symbols: Sequence[str], rate: float = 50.0, *,
    seed: int | None = None, stats: SimStats | None = None, round_id: int | None = None,
    task_status: trio.TaskStatus[SimStats] = trio.TASK_STATUS_IGNORED,
) -> SimStats:
    """Runs market makers and takers on `symbols` at about `rate` order-entry requests per
    second in total, until cancelled. Calls `task_status.started(stats)` once every maker
    has quoted; `stats` (given or new) is updated live. Cancelled, it first cancels its
    bots' open orders (shielded, at most 5 s), then lets the cancellation go on.

    Raises `SimulationError` when the exchange cannot be reached, refuses the admin token,
    or stops answering. With `round_id`, the round must exist, and the bots' accounts are
    house accounts: they provide liquidity but stay off its leaderboard (and out of rounds
    started for "all" accounts)."""
    stats = stats if stats is not None else SimStats()
    symbols = list(dict.fromkeys(symbols))  # each once, in the order given
    rng = random.Random(seed)
    health = Health(url)
    async with ExchangeClient(url, admin_token=admin_token, timeout=10.0) as admin:
        with _setup_errors(url):
            if round_id is not None:
                await admin.round(round_id)  # 404: "setting up ... failed: no round N"
            markets = [await _market(admin, symbol, rng) for symbol in symbols]
            bots = await _open_bots(admin, markets, plan(rate, len(symbols)), stats, health,
                                    rng, house=round_id is not None)
        for market in markets:  # the status line lists the symbols in the given order
            stats.last_price.setdefault(market.grid.symbol, "-")
        try:
            await _run(admin, markets, bots, stats, health, rng, task_status)
        except* SimulationError as group:  # one line for the operator, not a group
            raise group.exceptions[0] from None
        finally:
            with trio.move_on_after(5.0) as cleanup:
                cleanup.shield = True  # the bots' orders should not outlive them
                async with trio.open_nursery() as closing:
                    for bot in bots:
                        closing.start_soon(bot.desk.cancel_all, bot.market.grid.symbol)
    return stats


@dataclass(eq=False)
class Bot:
    desk: Desk
    market: Market
    brain: MarketMaker | Taker


async def _run(admin: ExchangeClient, markets: list[Market], bots: list[Bot], stats: SimStats,
               health: Health, rng: random.Random,
               task_status: trio.TaskStatus[SimStats]) -> None:
    async with trio.open_nursery() as nursery:
        for market in markets:
            nursery.start_soon(_walk, market)
            nursery.start_soon(_watch, admin, market.grid.symbol, stats, health)
        async with trio.open_nursery() as seeding:
            for bot in bots:
                if isinstance(bot.brain, MarketMaker):
                    seeding.start_soon(_seed, bot.desk, bot.market, bot.brain)
        for bot in bots:
            nursery.start_soon(_treasurer, admin, bot.desk, rng.uniform(0, TREASURY))
            sync = MAKER_SYNC if isinstance(bot.brain, MarketMaker) else TAKER_SYNC
            nursery.start_soon(_bot_loop, bot.desk, bot.market, bot.brain, sync)
        task_status.started(stats)


# -- SETUP --


@contextmanager
def _setup_errors(url: str) -> Iterator[None]:
    """Setup failures as one line: unreachable (exit 2) or refused (exit 1)."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise SimulationError(f"cannot reach the exchange at {url}: {exc}", 2) from exc
    except ExchangeError as exc:
        if exc.status in (401, 403):
            raise SimulationError(f"the exchange refused the admin token: {exc}") from exc
        raise SimulationError(f"setting up the simulation failed: {exc}") from exc


async def _market(admin: ExchangeClient, symbol: str, rng: random.Random) -> Market:
    """The instrument (created if missing) and its starting fair price: the last trade,
    else the book's mid, else a default."""
    tick, lot, price = KNOWN.get(symbol, OTHER)
    try:
        instrument = await admin.instrument(symbol)
    except ExchangeError as exc:
        if exc.status != 404:
            raise
        base, _, quote = symbol.partition("-")
        if not base or not quote:
            raise SimulationError(f"cannot create {symbol!r}: use BASE-QUOTE, e.g. SOL-USD",
                                  2) from exc
        try:
            instrument = await admin.create_instrument(
                symbol, base, quote, tick_size=tick, lot_size=lot,
                maker_fee_rate=FEES[0], taker_fee_rate=FEES[1],
            )
        except ExchangeError as again:  # created meanwhile by someone else
            if again.code != "conflict":
                raise
            instrument = await admin.instrument(symbol)
    if instrument["status"] != "trading":
        raise SimulationError(f"{symbol} is {instrument['status']}: resume it first")
    grid = Grid.of(instrument)
    ticker = await admin.ticker(symbol)
    start: Decimal = Decimal(price)
    if ticker.get("last_price"):
        start = Decimal(ticker["last_price"])
    elif ticker.get("best_bid") and ticker.get("best_ask"):
        start = (Decimal(ticker["best_bid"]) + Decimal(ticker["best_ask"])) / 2
    ticks = max(1, grid.ticks(start))
    return Market(grid, FairPrice(ticks, random.Random(rng.random())))


async def _open_bots(admin: ExchangeClient, markets: list[Market], layout: Plan,
                     stats: SimStats, health: Health, rng: random.Random, *,
                     house: bool = False) -> list[Bot]:
    """A funded account and a bot for each maker and taker of each market."""
    shape = Shape()
    bots = []
    for market in markets:
        grid = market.grid
        for index in range(layout.makers):
            desk = await _open_desk(admin, market, f"sim-{grid.symbol}-maker-{index}",
                                    layout.maker_rate, shape, stats, health, house)
            maker = MarketMaker(grid, random.Random(rng.random()), index=index, shape=shape)
            bots.append(Bot(desk, market, maker))
        for index in range(layout.takers):
            desk = await _open_desk(admin, market, f"sim-{grid.symbol}-taker-{index}",
                                    layout.taker_rate, shape, stats, health, house)
            taker = Taker(grid, random.Random(rng.random()), shape=shape)
            bots.append(Bot(desk, market, taker))
    return bots


async def _open_desk(admin: ExchangeClient, market: Market, name: str, rate: float,
                     shape: Shape, stats: SimStats, health: Health, house: bool = False
                     ) -> Desk:
    """A new account (a house account if `house`), funded in both assets of its
    instrument."""
    created = await admin.create_account(name)
    if house:
        await admin.set_house(created["account_id"])
    grid = market.grid
    worth = shape.size * FUNDING  # in quote
    base = worth / grid.value(market.fair.ticks)
    desk = Desk(name, admin.with_key(created["api_key"]), created["account_id"], stats,
                health, Pacer(rate, BURST))
    desk.needs = {grid.quote: worth, grid.base: base}
    for asset, amount in desk.needs.items():
        await admin.deposit(desk.account_id, asset, _amount(amount))
    stats.accounts += 1
    return desk


def _amount(value: float) -> str:
    """A deposit amount with at most 8 decimals (the exchange takes up to 12)."""
    return f"{Decimal(value).quantize(Decimal('0.00000001')):f}"


# -- TASKS --


async def _walk(market: Market) -> None:
    while True:
        await trio.sleep(FAIR_STEP)
        market.fair.step(FAIR_STEP)


async def _watch(admin: ExchangeClient, symbol: str, stats: SimStats, health: Health) -> None:
    """Counts the symbol's new trades and keeps its last price, once a second."""
    newest: int | None = None
    while True:
        try:
            trades = await admin.trades(symbol, limit=1000)
        except (ExchangeError, httpx.HTTPError) as exc:
            stats.errors += 1
            health.failed(exc)
        else:
            if trades:
                stats.last_price[symbol] = trades[0]["price"]
                if newest is not None:
                    fresh = sum(1 for trade in trades if trade["trade_id"] > newest)
                    stats.trades += fresh
                    stats.trades_by_symbol[symbol] += fresh
                newest = trades[0]["trade_id"]
            elif newest is None:
                newest = 0
        await trio.sleep(1.0)


async def _seed(desk: Desk, market: Market, maker: MarketMaker) -> None:
    """Quotes until the maker's ladder is complete (the price may move meanwhile: a few
    more requests then)."""
    for _ in range(3 * maker.shape.levels):
        bids, asks = maker.targets(market.fair.ticks)
        if len(maker.orders) >= len(bids) + len(asks):
            return
        action = maker.next_action(market.fair.ticks)
        _apply(maker, action, await desk.send(action, market.grid), trio.current_time())


async def _bot_loop(desk: Desk, market: Market, bot: MarketMaker | Taker,
                    sync_every: float) -> None:
    """Reads the bot's open orders now and then (to learn about fills), and otherwise
    sends whatever it decides, as fast as its desk's pace allows."""
    grid = market.grid
    next_sync = trio.current_time() + sync_every
    while True:
        now = trio.current_time()
        if now >= next_sync:
            listed = await _open_orders(desk, grid.symbol)
            if listed is not None:
                bot.sync(Resting.of(order, grid, now) for order in listed)
            next_sync = now + sync_every
        if isinstance(bot, MarketMaker):
            action = bot.next_action(market.fair.ticks)
        else:
            action = bot.next_action(market.fair.ticks, now)
        _apply(bot, action, await desk.send(action, grid), now)


async def _open_orders(desk: Desk, symbol: str, pages: int = 10) -> list[Json] | None:
    """The desk's open orders on `symbol` (newest first, up to `pages` pages of 100), or
    None when a read failed."""
    listed: list[Json] = []
    before = None
    for _ in range(pages):
        page = await desk.read("orders", symbol=symbol, status="open", limit=100,
                               before=before)
        if page is None:
            return None
        listed += page
        if len(page) < 100:
            break
        before = page[-1]["order_id"]
    return listed


def _apply(bot: MarketMaker | Taker, action: Action, result: Json | None, now: float) -> None:
    """Updates the bot's view with the exchange's answer (None: refused or failed)."""
    if result is None:
        if isinstance(action, Cancel | Amend):
            bot.forget(action.order_id)  # finished already, or unknown: the next sync tells
        return
    bot.forget(result["order_id"])
    if result["status"] in OPEN_STATUSES:
        bot.placed(Resting.of(result, bot.grid, now))


async def _treasurer(admin: ExchangeClient, desk: Desk, offset: float) -> None:
    """Keeps the desk solvent: deposits again what it started with when an asset's
    available balance falls below `LOW` of that."""
    await trio.sleep(offset)
    while True:
        account = await desk.read("account")
        if account is not None:
            for asset, amount in top_ups(desk.needs, account["balances"], LOW):
                try:
                    await admin.deposit(desk.account_id, asset, amount)
                    desk.stats.deposits += 1
                except (ExchangeError, httpx.HTTPError) as exc:
                    desk.stats.errors += 1
                    desk.health.failed(exc)
        await trio.sleep(TREASURY)


def top_ups(needs: dict[str, float], balances: list[Json], low: float) -> list[tuple[str, str]]:
    """The deposits (asset, amount) that bring an account back to solvency: the starting
    amount again for each asset whose available balance is below `low` of it."""
    available = {balance["asset"]: Decimal(balance["available"]) for balance in balances}
    return [(asset, _amount(amount)) for asset, amount in needs.items()
            if available.get(asset, Decimal(0)) < Decimal(amount * low)]
