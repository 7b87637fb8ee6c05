"""Invariants of the matching engine, checked after every command of random scenarios.

Each test runs a scenario from `strategies.command_sequences()` through a fresh engine and
checks one property after each command (not only at the end), from the engine's state, from
the events, or both. A failure prints the command list, which replays as it is.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, seed, settings

from exchange.engine import Engine
from exchange.engine.book import Order
from exchange.engine.codes import (
    TAKE_PROFITS,
    TRIGGER_LIMITS,
    TRIGGER_MARKETS,
    TRIGGERS,
    OrderType,
    Side,
)
from exchange.engine.commands import AnyCommand, PlaceOrder
from exchange.engine.events import (
    AnyEvent,
    BalanceChanged,
    BookLevelChanged,
    FundsDeposited,
    FundsWithdrawn,
    InstrumentStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    TradeExecuted,
)

from .strategies import INCREMENT_UNITS, INSTRUMENTS, LOT_UNITS, command_sequences, new_engine

Check = Callable[[Engine, AnyCommand, list[AnyEvent]], None]
TERMINAL = (OrderFilled, OrderCancelled, OrderExpired)
RATE_SCALE = 10**8
MAKER_RATE = {inst.symbol: int(inst.maker_fee_rate * RATE_SCALE) for inst in INSTRUMENTS}
TAKER_RATE = {inst.symbol: int(inst.taker_fee_rate * RATE_SCALE) for inst in INSTRUMENTS}
HOLD_RATE = {symbol: max(MAKER_RATE[symbol], TAKER_RATE[symbol]) for symbol in MAKER_RATE}
BASE = {inst.symbol: inst.base for inst in INSTRUMENTS}
QUOTE = {inst.symbol: inst.quote for inst in INSTRUMENTS}


def run(commands: list[AnyCommand], check: Check) -> Engine:
    """Feeds `commands` one by one to a fresh engine, calling `check` after each (and the
    engine's own self-check, `Engine.check()`, before it)."""
    engine = new_engine()
    for command in commands:
        events = engine.handle(command)
        engine.check()
        check(engine, command, events)
    return engine


def is_terminal(event: AnyEvent) -> bool:
    return isinstance(event, TERMINAL) or (isinstance(event, OrderRejected) and event.order_id)


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def resting_orders(engine: Engine, symbol: str) -> list[Order]:
    inst = engine.instruments[symbol]
    out = []
    for side in (inst.bids, inst.asks):
        for level in side.levels.values():
            out += level.orders()
    return out


# -- THE BOOK --


@given(command_sequences())
def test_book_never_crossed_at_rest(commands: list[AnyCommand]) -> None:
    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        for symbol in engine.instruments:
            bids, asks = engine.depth(symbol, 1)
            if bids and asks:
                assert bids[0][0] < asks[0][0], (symbol, bids, asks)

    run(commands, check)


@given(command_sequences())
def test_levels_match_their_linked_orders(commands: list[AnyCommand]) -> None:
    """Each level's quantity and count are the sums over its linked list; every open order is
    either on exactly one level at its own price and side, or a pending stop off the book."""

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        on_book: set[int] = set()
        for symbol in engine.instruments:
            inst = engine.instruments[symbol]
            for side, is_buy in ((inst.bids, True), (inst.asks, False)):
                assert sorted(side.levels) == sorted(key * side.sign for key in side.keys)
                for price, level in side.levels.items():
                    orders = level.orders()
                    assert level.price == price
                    assert level.count == len(orders), (symbol, price)
                    assert level.quantity == sum(o.quantity - o.filled for o in orders)
                    assert level.tail is (orders[-1] if orders else None)
                    priorities = [o.priority for o in orders]
                    assert priorities == sorted(set(priorities)), (symbol, price, priorities)
                    for order in orders:
                        assert order.level is level
                        assert order.price == price
                        assert order.is_buy == is_buy
                        assert order.instrument is inst
                        assert engine.orders.get(order.order_id) is order, order
                        assert order.order_id not in on_book
                        on_book.add(order.order_id)
        for order_id, order in engine.orders.items():
            assert order.order_id == order_id
            assert order.account.orders.get(order_id) is order
            if order.pending:
                assert order.level is None
                assert order.command.type in TRIGGERS
            else:
                assert order_id in on_book, f"open order {order} neither resting nor pending"
        for account in engine.accounts.values():
            for order_id, order in account.orders.items():
                assert engine.orders.get(order_id) is order

    run(commands, check)


@given(command_sequences())
def test_book_events_rebuild_depth(commands: list[AnyCommand]) -> None:
    """Applying the `BookLevelChanged` events (absolute levels) to an empty book gives
    `engine.depth()` after every command, and each symbol's sequence rises by one per event."""
    books: dict[tuple[str, Side], dict[int, tuple[int, int]]] = defaultdict(dict)
    sequences: dict[str, int] = defaultdict(int)

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        for event in events:
            if isinstance(event, BookLevelChanged):
                assert event.sequence == sequences[event.symbol] + 1, event
                sequences[event.symbol] = event.sequence
                assert event.quantity >= 0, event
                assert event.order_count >= 0, event
                assert (event.quantity == 0) == (event.order_count == 0), event
                levels = books[event.symbol, event.side]
                if event.order_count:
                    levels[event.price] = (event.quantity, event.order_count)
                else:
                    levels.pop(event.price, None)
        for symbol in engine.instruments:
            bids, asks = engine.depth(symbol)
            rebuilt_bids = sorted(books[symbol, Side.BUY].items(), reverse=True)
            rebuilt_asks = sorted(books[symbol, Side.SELL].items())
            assert [(p, q, c) for p, (q, c) in rebuilt_bids] == bids, symbol
            assert [(p, q, c) for p, (q, c) in rebuilt_asks] == asks, symbol
            assert engine.instruments[symbol].sequence == sequences[symbol]

    run(commands, check)


# -- BALANCES --


@given(command_sequences())
def test_no_negative_amounts(commands: list[AnyCommand]) -> None:
    """Balances: 0 <= held <= total. Open orders: 0 <= filled < quantity, hold >= 0.
    Levels: positive quantity and count (empty levels are dropped)."""

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        for account in engine.accounts.values():
            for bal in account.balances.values():
                assert 0 <= bal.held <= bal.total, bal
        for order in engine.orders.values():
            assert 0 <= order.filled < order.quantity, order
            assert order.hold >= 0, (order, order.hold)
        for symbol in engine.instruments:
            for side in engine.depth(symbol):
                for price, quantity, count in side:
                    assert min(price, quantity, count) > 0, (symbol, side)
        for event in events:
            if isinstance(event, BalanceChanged):
                assert 0 <= event.held <= event.total, event
            elif isinstance(event, TradeExecuted):
                assert min(event.quantity, event.price) > 0, event
                assert min(event.maker_fee, event.taker_fee) >= 0, event

    run(commands, check)


@given(command_sequences())
def test_every_asset_is_conserved(commands: list[AnyCommand]) -> None:
    """The sum of totals over all accounts, the fee account 0 included, is what was deposited
    minus what was withdrawn."""
    net: Counter[str] = Counter()

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        for event in events:
            if isinstance(event, FundsDeposited):
                net[event.asset] += event.amount
            elif isinstance(event, FundsWithdrawn):
                net[event.asset] -= event.amount
        totals: Counter[str] = Counter()
        for account in engine.accounts.values():
            for bal in account.balances.values():
                totals[bal.asset] += bal.total
        for asset in set(net) | set(totals):
            assert totals[asset] == net[asset], (asset, totals[asset], net[asset])

    run(commands, check)


@given(command_sequences())
def test_held_is_the_sum_of_open_order_holds(commands: list[AnyCommand]) -> None:
    """For each (account, asset), `held` is the sum of `Order.hold` over that account's open
    orders: buys hold quote, sells hold base."""

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        holds: Counter[tuple[int, str]] = Counter()
        for order in engine.orders.values():
            symbol = order.instrument.symbol
            asset = QUOTE[symbol] if order.is_buy else BASE[symbol]
            holds[order.account.account_id, asset] += order.hold
        for account in engine.accounts.values():
            for asset, bal in account.balances.items():
                key = (account.account_id, asset)
                assert bal.held == holds[key], (key, bal.held, holds[key])
                del holds[key]
        assert not +holds, f"holds on balances that do not exist: {holds}"

    run(commands, check)


@given(command_sequences())
def test_balance_events_report_the_state(commands: list[AnyCommand]) -> None:
    """`BalanceChanged` events come last, once per (account, asset), with the absolute values
    the engine has after the command; every balance that changed has one."""
    before: dict[tuple[int, str], tuple[int, int]] = {}

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        now = {
            (account.account_id, asset): (bal.total, bal.held)
            for account in engine.accounts.values()
            for asset, bal in account.balances.items()
        }
        first = next(
            (i for i, e in enumerate(events) if isinstance(e, BalanceChanged)), len(events)
        )
        tail = events[first:]
        assert all(isinstance(e, BalanceChanged) for e in tail), "BalanceChanged not last"
        reported = {}
        for event in tail:
            assert isinstance(event, BalanceChanged)
            key = (event.account_id, event.asset)
            assert key not in reported, f"two BalanceChanged for {key}"
            reported[key] = (event.total, event.held)
            assert now.get(key) == reported[key], key
        for key, value in now.items():
            if before.get(key, (0, 0)) != value:
                assert key in reported, f"{key} changed {before.get(key)} -> {value} silently"
        before.clear()
        before.update(now)

    run(commands, check)


# -- TRADES AND ORDERS --


class Orders:
    """What the events say about each order: its request, price, quantity, filled quantity,
    priority, fee numerator (sum of notional x rate over its fills) and whether it ended."""

    def __init__(self) -> None:
        self.command: dict[int, PlaceOrder] = {}
        self.parent: dict[int, int] = {}
        self.price: dict[int, int | None] = {}
        self.quantity: dict[int, int] = {}
        self.filled: Counter[int] = Counter()
        self.priority: dict[int, int] = {}
        self.fee_num: Counter[int] = Counter()
        self.ended: set[int] = set()
        self.top_priority = 0  # the highest priority given so far

    def see(self, event: AnyEvent) -> None:
        if isinstance(event, OrderAccepted):
            order_id = event.order_id
            self.command[order_id] = event.order
            self.parent[order_id] = event.parent_order_id
            self.price[order_id] = event.order.price
            self.quantity[order_id] = event.order.quantity or 0
            self.new_priority(order_id, event.priority)
        elif isinstance(event, OrderTriggered):
            self.new_priority(event.order_id, event.priority)
        elif isinstance(event, OrderAmended):
            order_id = event.order_id
            moved = event.price != self.price[order_id]
            raised = event.quantity > self.quantity[order_id]
            if moved or raised:
                self.new_priority(order_id, event.priority)
            else:
                assert event.priority == self.priority[order_id], f"kept priority: {event}"
            self.price[order_id] = event.price
            self.quantity[order_id] = event.quantity
        elif isinstance(event, TradeExecuted):
            notional = event.price * event.quantity
            for order_id, rate in (
                (event.maker_order_id, MAKER_RATE[event.symbol]),
                (event.taker_order_id, TAKER_RATE[event.symbol]),
            ):
                self.filled[order_id] += event.quantity
                self.fee_num[order_id] += notional * rate
        elif is_terminal(event):
            self.ended.add(event.order_id)  # type: ignore[union-attr]

    def new_priority(self, order_id: int, priority: int) -> None:
        assert priority > self.top_priority, f"order {order_id}: stale priority {priority}"
        self.top_priority = priority
        self.priority[order_id] = priority


@given(command_sequences())
def test_fills_follow_time_priority(commands: list[AnyCommand]) -> None:
    """Within one command, the trades at one price against one side of one book take makers
    in time priority (priority from OrderAccepted, OrderTriggered and OrderAmended). New
    priorities only rise; an amend takes a new one exactly when it moves the price or raises
    the quantity; the engine's orders carry the priority their events announced."""
    known = Orders()

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        last: dict[tuple[str, Side, int], tuple[int, int]] = {}
        for event in events:
            if isinstance(event, TradeExecuted):
                key = (event.symbol, event.taker_side, event.price)
                now = (known.priority[event.maker_order_id], event.maker_order_id)
                if key in last:
                    priority, maker = last[key]
                    assert now[0] > priority or (now[0] == priority and now[1] == maker), (
                        f"maker {event.maker_order_id} (priority {now[0]}) filled after "
                        f"{maker} (priority {priority}) at {key}"
                    )
                last[key] = now
            known.see(event)
        for order_id, order in engine.orders.items():
            assert order.priority == known.priority[order_id], order

    run(commands, check)


@given(command_sequences())
def test_open_orders_hold_what_the_rules_say(commands: list[AnyCommand]) -> None:
    """Each open order's hold, from the README's rules and the events alone: a sell its
    remaining base (a stop-loss nothing while its take-profit holds for both); a buy limit or
    stop-limit `price x remaining` plus the rise of its rounded-up fee at the higher rate; a
    stop-market or take-profit market buy nothing. Fills release any excess at once."""
    known = Orders()

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        for event in events:
            known.see(event)
        for order_id, order in engine.orders.items():
            symbol = order.instrument.symbol
            request = known.command[order_id]
            remaining = known.quantity[order_id] - known.filled[order_id]
            assert (order.quantity, order.filled) == (known.quantity[order_id],
                                                      known.filled[order_id]), order
            if request.side == Side.SELL:
                shared = request.type == OrderType.STOP_MARKET and order.sibling is not None
                want = 0 if shared else remaining * LOT_UNITS[symbol]
            elif request.type in TRIGGER_MARKETS:
                want = 0
            else:
                price = known.price[order_id]
                assert price is not None
                notional = price * remaining
                fee_num = known.fee_num[order_id]
                rise = ceil_div(fee_num + notional * HOLD_RATE[symbol], RATE_SCALE) - ceil_div(
                    fee_num, RATE_SCALE
                )
                want = (notional + rise) * INCREMENT_UNITS[symbol]
            assert order.hold == want, (order, request, order.hold, want)
            if order.sibling is not None:
                assert order.sibling.sibling is order
                assert order.sibling.order_id in engine.orders
                assert known.parent[order_id] == known.parent[order.sibling.order_id] != 0

    run(commands, check)


@given(command_sequences())
def test_time_in_force_is_honoured(commands: list[AnyCommand]) -> None:
    """An order placed (not pending) ends in its own command when it is a market, IOC or FOK
    order; a FOK order either fills in full or expires (`fok`) without a trade; a post-only
    order never takes; a market order by `quote_quantity` spends (a buy, fees included) or
    raises (a sell, gross) at most that; no order is open past its `expire_time`."""
    known = Orders()

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        placed = {}
        taken: Counter[int] = Counter()
        quote: Counter[int] = Counter()  # a taker's quote spent (buy) or raised (sell)
        outcome: dict[int, AnyEvent] = {}
        for event in events:
            known.see(event)
            if isinstance(event, OrderAccepted) and not event.pending:
                if not event.parent_order_id:
                    placed[event.order_id] = event.order
            elif isinstance(event, TradeExecuted):
                taken[event.taker_order_id] += event.quantity
                notional = event.price * event.quantity * INCREMENT_UNITS[event.symbol]
                buy_fee = event.taker_fee if event.taker_side == Side.BUY else 0
                quote[event.taker_order_id] += notional + buy_fee
            elif is_terminal(event):
                outcome[event.order_id] = event  # type: ignore[union-attr]
        for order_id, request in placed.items():
            tif = request.time_in_force
            if request.type == OrderType.MARKET or tif in ("ioc", "fok"):
                assert order_id in outcome, f"{request} still open"
            if tif == "fok":
                end = outcome[order_id]
                if isinstance(end, OrderFilled):
                    assert taken[order_id] == request.quantity, (request, taken[order_id])
                else:
                    assert isinstance(end, OrderExpired), end
                    assert end.reason == "fok", end
                    assert not taken[order_id], (request, taken[order_id])
            if request.post_only:
                assert not taken[order_id], request
            if request.quote_quantity is not None:
                assert quote[order_id] <= request.quote_quantity, (request, quote[order_id])
        for order in engine.orders.values():
            if order.expire_time is not None:
                assert order.expire_time > command.ts, order

    run(commands, check)


@given(command_sequences())
def test_stops_trigger_when_due_and_only_then(commands: list[AnyCommand]) -> None:
    """A buy stop (or sell take-profit) triggers when the last trade price is at or above
    its stop price, a sell stop (or buy take-profit) at or below, and not before; after a
    command no stop that is due waits (but on a halted instrument, where stops wait for the
    resume). Stops found due together all trigger in turn, even when an earlier one moves
    the price back, so a trigger is checked against every last price of its command."""
    known = Orders()
    last: dict[str, int] = {}

    def due(order_id: int, prices: list[int]) -> bool:
        request = known.command[order_id]
        stop = request.stop_price
        assert stop is not None, request
        if (request.side == Side.BUY) != (request.type in TAKE_PROFITS):
            return any(price >= stop for price in prices)
        return any(price <= stop for price in prices)

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        seen = {symbol: [price] for symbol, price in last.items()}  # this command's prices
        for event in events:
            known.see(event)
            if isinstance(event, TradeExecuted):
                last[event.symbol] = event.price
                seen.setdefault(event.symbol, []).append(event.price)
            elif isinstance(event, OrderTriggered):
                symbol = known.command[event.order_id].symbol
                assert due(event.order_id, seen.get(symbol, [])), (
                    event, known.command[event.order_id], seen.get(symbol)
                )
        for order_id, order in engine.orders.items():
            if order.pending and not order.instrument.halted:
                price = last.get(order.instrument.symbol)
                assert price is None or not due(order_id, [price]), (
                    order, known.command[order_id], price
                )

    run(commands, check)


@given(command_sequences())
def test_trades_at_maker_price_within_taker_limit(commands: list[AnyCommand]) -> None:
    """A trade is at the maker's current price, between two different orders, and within the
    taker's limit price when it has one. Nothing is placed, triggered or traded on a halted
    instrument (bracket children may be placed: they rest)."""
    known = Orders()
    halted: set[str] = set()

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        for event in events:
            known.see(event)
            if isinstance(event, InstrumentStatusChanged):
                (halted.add if event.halted else halted.discard)(event.symbol)
            elif isinstance(event, OrderAccepted) and not event.parent_order_id:
                assert event.order.symbol not in halted, f"placed while halted: {event}"
            elif isinstance(event, OrderTriggered):
                symbol = known.command[event.order_id].symbol
                assert symbol not in halted, f"triggered while halted: {event}"
            if not isinstance(event, TradeExecuted):
                continue
            assert event.symbol not in halted, f"traded while halted: {event}"
            maker, taker = event.maker_order_id, event.taker_order_id
            assert maker != taker, event
            assert not {maker, taker} & known.ended, event
            assert known.command[maker].symbol == event.symbol == known.command[taker].symbol
            assert known.command[maker].side != event.taker_side, event
            assert known.command[taker].side == event.taker_side, event
            assert known.price[maker] == event.price, (event, known.price[maker])
            limit = known.price[taker]
            if known.command[taker].type in (OrderType.LIMIT, *TRIGGER_LIMITS):
                assert limit is not None
                if event.taker_side == Side.BUY:
                    assert event.price <= limit, (event, limit)
                else:
                    assert event.price >= limit, (event, limit)

    run(commands, check)


@given(command_sequences())
def test_brackets_follow_their_parent(commands: list[AnyCommand]) -> None:
    """A bracket parent that ends with a filled quantity F gets, in that command, a take-profit
    limit and/or a stop-loss stop-market on the other side for F (or an `OrderRejected` with
    order id 0 and no client order id says why not); one that ends unfilled gets none. While
    both halves are open they have the same remaining quantity; when one fills completely or
    the stop-loss triggers, the other is cancelled `oco`, and only then."""
    known = Orders()
    pair: dict[int, int] = {}  # a bracket child -> the other half, while both are open

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        finished: list[int] = []
        children: dict[int, list[PlaceOrder]] = defaultdict(list)
        oco_due: set[int] = set()
        refusals = 0
        for event in events:
            known.see(event)
            if isinstance(event, OrderAccepted) and event.parent_order_id:
                parent = event.parent_order_id
                assert parent in finished, f"child {event.order_id} of unfinished {parent}"
                children[parent].append(event.order)
                if len(children[parent]) == 2:
                    pair[event.order_id] = event.order_id - 1
                    pair[event.order_id - 1] = event.order_id
            elif isinstance(event, OrderRejected) and not event.order_id:
                if event.client_order_id is None:
                    refusals += 1
            elif isinstance(event, OrderTriggered) and event.order_id in pair:
                sibling = pair.pop(event.order_id)
                del pair[sibling]
                oco_due.add(sibling)
            elif is_terminal(event):
                order_id = event.order_id  # type: ignore[union-attr]
                if isinstance(event, OrderCancelled) and event.reason == "oco":
                    assert order_id in oco_due, f"{event} without its sibling completing"
                    oco_due.remove(order_id)
                if order_id in pair:
                    sibling = pair.pop(order_id)
                    del pair[sibling]
                    if isinstance(event, OrderFilled):
                        oco_due.add(sibling)
                request = known.command[order_id]
                bracket = request.take_profit_price, request.stop_loss_price
                if bracket != (None, None) and known.filled[order_id]:
                    finished.append(order_id)
        assert not oco_due, f"siblings not cancelled (oco): {oco_due}"
        for parent in finished:
            request = known.command[parent]
            made = children[parent]
            if not made:
                assert refusals, f"parent {parent} finished without children or refusal"
                refusals -= 1
                continue
            other_side = Side.SELL if request.side == Side.BUY else Side.BUY
            want = []
            if request.take_profit_price is not None:
                want.append((OrderType.LIMIT, request.take_profit_price, None))
            if request.stop_loss_price is not None:
                want.append((OrderType.STOP_MARKET, None, request.stop_loss_price))
            assert [(c.type, c.price, c.stop_price) for c in made] == want, (request, made)
            for child in made:
                assert child.side == other_side, (request, child)
                assert child.quantity == known.filled[parent], (request, child)
                assert child.symbol == request.symbol, (request, child)
                assert child.account_id == request.account_id, (request, child)
        for order_id, sibling in pair.items():
            assert order_id in engine.orders, order_id
            remaining = known.quantity[order_id] - known.filled[order_id]
            assert remaining == known.quantity[sibling] - known.filled[sibling], (
                f"bracket halves {order_id} and {sibling} differ in remaining quantity"
            )

    run(commands, check)


@given(command_sequences())
def test_fees_follow_the_rounding_rule(commands: list[AnyCommand]) -> None:
    """Each fill charges the rise of the order's rounded-up exact fee,
    `ceil(sum(notional * rate))` in quote increments, at the maker or taker rate."""
    fee_num: Counter[int] = Counter()

    def fee(order_id: int, symbol: str, notional: int, rate: int) -> int:
        old = fee_num[order_id]
        fee_num[order_id] = new = old + notional * rate
        rise = ceil_div(new, RATE_SCALE) - ceil_div(old, RATE_SCALE)
        return rise * INCREMENT_UNITS[symbol]

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        for event in events:
            if isinstance(event, TradeExecuted):
                symbol = event.symbol
                notional = event.price * event.quantity
                expect_maker = fee(event.maker_order_id, symbol, notional, MAKER_RATE[symbol])
                expect_taker = fee(event.taker_order_id, symbol, notional, TAKER_RATE[symbol])
                assert (event.maker_fee, event.taker_fee) == (expect_maker, expect_taker), event
        for order_id, order in engine.orders.items():
            assert order.fee_num == fee_num[order_id], order
            assert order.fee_paid == ceil_div(fee_num[order_id], RATE_SCALE), order

    run(commands, check)


@given(command_sequences())
def test_one_terminal_event_per_order(commands: list[AnyCommand]) -> None:
    """Accepted orders get ids 1, 2, 3...; each gets at most one terminal event, none while it
    is open, and exactly one once it is no longer open. Order events name live orders."""
    accepted: list[int] = []
    ended: Counter[int] = Counter()

    def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
        for event in events:
            if isinstance(event, OrderAccepted):
                assert event.order_id == len(accepted) + 1, event
                accepted.append(event.order_id)
            elif is_terminal(event):
                order_id = event.order_id  # type: ignore[union-attr]
                assert 0 < order_id <= len(accepted), event
                ended[order_id] += 1
                assert ended[order_id] == 1, f"second terminal event for {order_id}: {event}"
            elif isinstance(event, TradeExecuted):
                for order_id in (event.maker_order_id, event.taker_order_id):
                    assert 0 < order_id <= len(accepted), event
                    assert not ended[order_id], event
            elif isinstance(event, OrderAmended | OrderTriggered):
                assert 0 < event.order_id <= len(accepted), event
                assert not ended[event.order_id], event
        assert engine.next_order_id == len(accepted) + 1
        open_ids = set(engine.orders)
        ended_ids = {order_id for order_id, n in ended.items() if n}
        both = open_ids & ended_ids
        assert not both, f"open orders with a terminal event: {both}"
        missing = set(accepted) - open_ids - ended_ids
        assert not missing, f"closed orders without a terminal event: {missing}"

    run(commands, check)


# -- DETERMINISM --


def state_of(engine: Engine) -> Any:
    """Everything observable about the engine, as plain values (the "state hash")."""
    orders = [
        (o.order_id, o.account.account_id, o.instrument.symbol, o.is_buy, o.price, o.stop_price,
         o.quantity, o.filled, o.hold, o.fee_num, o.fee_paid, o.priority, o.pending,
         o.parent_order_id, None if o.sibling is None else o.sibling.order_id)
        for o in engine.orders.values()
    ]
    balances = sorted(
        (account.account_id, asset, bal.total, bal.held)
        for account in engine.accounts.values()
        for asset, bal in account.balances.items()
    )
    books = {
        symbol: (
            engine.depth(symbol),
            [o.order_id for o in resting_orders(engine, symbol)],
            engine.instruments[symbol].sequence,
            engine.instruments[symbol].last_price,
            list(engine.instruments[symbol].buy_stops),
            list(engine.instruments[symbol].sell_stops),
        )
        for symbol in engine.instruments
    }
    return orders, balances, books, engine.next_order_id, engine.next_trade_id


@given(command_sequences())
def test_replay_gives_identical_events(commands: list[AnyCommand]) -> None:
    """The same commands into a fresh engine give equal events, command by command, and the
    same state (and state hash) after each."""
    first = new_engine()
    recorded = [
        (first.handle(command), state_of(first), first.state_hash()) for command in commands
    ]
    second = new_engine()
    for command, (events, state, digest) in zip(commands, recorded, strict=True):
        assert second.handle(command) == events, command
        assert state_of(second) == state, command
        assert second.state_hash() == digest, command


def test_strategies_reach_the_interesting_paths() -> None:
    """Guards the generator: a fixed-seed batch of scenarios meets trades, fees, stops,
    brackets, amends, STP, GTD expiries and halts (else the properties above test little)."""
    seen: Counter[str] = Counter()
    types: dict[int, str] = {}

    @seed(20240601)
    @settings(max_examples=200, database=None, suppress_health_check=list(HealthCheck))
    @given(command_sequences())
    def collect(commands: list[AnyCommand]) -> None:
        def check(engine: Engine, command: AnyCommand, events: list[AnyEvent]) -> None:
            for event in events:
                name = type(event).__name__
                if isinstance(event, OrderExpired | OrderCancelled):
                    name += f":{event.reason}"
                elif isinstance(event, TradeExecuted) and event.maker_fee + event.taker_fee:
                    seen["fee"] += 1
                elif isinstance(event, OrderAccepted) and event.parent_order_id:
                    name += ":child"
                elif isinstance(event, OrderTriggered):
                    seen[f"OrderTriggered:{types[event.order_id]}"] += 1
                if isinstance(event, OrderAccepted):
                    types[event.order_id] = str(event.order.type)
                seen[name] += 1

        run(commands, check)

    collect()
    for name in (
        "TradeExecuted", "fee", "OrderTriggered", "OrderAccepted:child", "OrderAmended",
        "OrderExpired:stp", "OrderExpired:gtd", "OrderExpired:fok", "OrderCancelled:user",
        "OrderCancelled:oco", "OrderFilled", "FundsWithdrawn", "InstrumentStatusChanged",
        "OrderTriggered:stop_market", "OrderTriggered:stop_limit",
        "OrderTriggered:take_profit_market", "OrderTriggered:take_profit_limit",
    ):
        assert seen[name] > 0, (name, seen)
