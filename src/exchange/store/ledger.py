"""From engine events to a write set: the unit of work of one write transaction.

`Ledger` is the writer's picture of what is stored: the row of every open or pending order,
which balance rows exist, the instruments' fee rates and the counters. `Ledger.build` folds
the events of one or more batches into a `WriteSet` with one row per changed key, whatever the
number of events behind it: an order placed, partly filled, amended and cancelled within one
transaction is inserted once, in its final state; a balance changed by a hundred trades is
written once, with its last (absolute) value.

Order rows come from the events alone, as the README promises a consumer can: `OrderAccepted`
creates the row, `TradeExecuted` adds to its fills and fees, `OrderAmended` and
`OrderTriggered` change it, and its one terminal event (`OrderFilled`, `OrderCancelled`,
`OrderExpired`, or `OrderRejected` with its id) closes it.

`build` advances the ledger as if the write set were already committed: the writer retries a
write set until it is, and builds the next one only after it, in order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from exchange.engine.contingent import pair_of
from exchange.engine.events import (
    AccountCreated,
    AccountUpdated,
    AnyEvent,
    BalanceChanged,
    BookLevelChanged,
    FundsDeposited,
    FundsWithdrawn,
    InstrumentAdded,
    InstrumentStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    OrderTriggered,
    RoundStarted,
    TradeExecuted,
)
from exchange.engine.units import rate_to_int
from exchange.store.rows import (
    BATCHES,
    DEPOSIT,
    LAST_PRICE,
    NEW,
    NEXT_ACCOUNT_ID,
    NEXT_ORDER_ID,
    NEXT_PRIORITY,
    NEXT_TRADE_ID,
    PARTIALLY_FILLED,
    SEQUENCE,
    WITHDRAWAL,
    WRITES,
    AccountInfo,
    OrderRow,
    WriteSet,
    new_order_row,
)
from exchange.store.standings import Standing


def round_balances_json(balances: dict[str, int]) -> str:
    """A round's starting balances as stored: units as strings, which JSON keeps exact."""
    return json.dumps({asset: str(units) for asset, units in sorted(balances.items())})


class Ledger:
    """The writer's picture of the stored state; see the module docstring.

    Built from the database at start (`exchange.store.recovery`), then kept by `build`. Only
    the writer uses it, one `build` at a time."""

    def __init__(
        self,
        *,
        orders: Iterable[OrderRow] = (),
        instruments: Iterable[Sequence[object]] = (),
        balances: Iterable[tuple[int, str]] = (),
        counters: dict[str, int] | None = None,
        standings: dict[tuple[int, str], Standing] | None = None,
    ) -> None:
        self.orders: dict[int, OrderRow] = {}  # open and pending, by id
        for row in orders:
            row.stored = True
            self.orders[row.order_id] = row
        # Which balance rows exist: an existing one is updated in place, which PostgreSQL
        # does without touching its index (a HOT update), cheaper than an upsert.
        self.balance_keys: set[tuple[int, str]] = set(balances)
        self.instruments: dict[str, list[object]] = {}  # rows in INSTRUMENT_COLUMNS order
        self.rates: dict[str, tuple[int, int]] = {}  # maker and taker fee rates, 10**-8
        for inst in instruments:
            self._add_instrument(list(inst))
        self.counters: dict[str, int] = dict(counters or {})
        # Every account's standing in every symbol it traded since its round began.
        self.standings: dict[tuple[int, str], Standing] = dict(standings or {})

    def _add_instrument(self, row: list[object]) -> None:
        symbol = str(row[0])
        maker = rate_to_int(Decimal(str(row[6])))
        taker = rate_to_int(Decimal(str(row[7])))
        if maker is None or taker is None:
            raise ValueError(f"fee rates off the 10**-8 grid: {row}")
        self.instruments[symbol] = row
        self.rates[symbol] = (maker, taker)

    def build(
        self,
        batches: Sequence[Sequence[AnyEvent]],
        account_infos: Sequence[AccountInfo] = (),
    ) -> WriteSet:
        """Folds the batches' events into one write set and advances the ledger past it."""
        fold = _Fold(self, len(batches))
        balances = fold.balances
        sequences = fold.sequences
        handlers = fold.handlers
        for events in batches:
            fold.events += len(events)
            for event in events:
                kind = type(event)
                # The two most frequent events (two thirds of them) inline, the rest by type.
                if kind is BalanceChanged:
                    balances[(event.account_id, event.asset)] = (  # type: ignore[union-attr]
                        event.total, event.held, fold.ts,  # type: ignore[union-attr]
                    )
                elif kind is BookLevelChanged:
                    sequences[event.symbol] = event.sequence  # type: ignore[union-attr]
                else:
                    handler = handlers.get(kind)
                    if handler is not None:
                        handler(event)
        return fold.finish(account_infos)


class _Fold:
    """One `build`: what the events changed so far, then the write set."""

    def __init__(self, ledger: Ledger, batches: int) -> None:
        self.ledger = ledger
        counters = ledger.counters
        self.out = WriteSet(seq=counters.get(WRITES, 0) + 1,
                            batches=counters.get(BATCHES, 0) + batches)
        self.events = 0
        self.ts = 0  # of the latest event that has one (BalanceChanged has none)
        self.new: dict[int, OrderRow] = {}
        self.touched: dict[int, OrderRow] = {}  # stored rows that changed
        self.balances: dict[tuple[int, str], tuple[int, int, int]] = {}
        self.sequences: dict[str, int] = {}
        self.last_prices: dict[str, int] = {}
        self.accounts: dict[int, list[object]] = {}
        self.instruments: dict[str, list[object]] = {}
        self.next_order_id = counters.get(NEXT_ORDER_ID, 1)
        self.next_trade_id = counters.get(NEXT_TRADE_ID, 1)
        self.next_account_id = counters.get(NEXT_ACCOUNT_ID, 1)
        self.next_priority = counters.get(NEXT_PRIORITY, 1)
        self.last_child: OrderRow | None = None
        self.standings: set[tuple[int, str]] = set()  # changed
        self.cleared: set[int] = set()
        self.handlers: dict[type, Callable[[Any], None]] = {
            OrderAccepted: self.accepted,
            TradeExecuted: self.traded,
            OrderFilled: self.filled,
            OrderCancelled: self.cancelled,
            OrderExpired: self.expired,
            OrderAmended: self.amended,
            OrderTriggered: self.triggered,
            OrderRejected: self.rejected,
            FundsDeposited: self.transferred,
            FundsWithdrawn: self.transferred,
            AccountCreated: self.account_created,
            AccountUpdated: self.account_updated,
            RoundStarted: self.round_started,
            InstrumentAdded: self.instrument_added,
            InstrumentStatusChanged: self.instrument_status,
            # RequestRejected, and OrderRejected without an order, change nothing.
        }

    # -- ORDERS --

    def accepted(self, ev: OrderAccepted) -> None:
        self.ts = ev.ts
        row = new_order_row(ev)
        self.ledger.orders[ev.order_id] = self.new[ev.order_id] = row
        self.next_order_id = max(self.next_order_id, ev.order_id + 1)
        self.next_priority = max(self.next_priority, ev.priority + 1)
        parent = ev.parent_order_id
        if parent:
            # A bracket's two children are accepted one right after the other; the engine's
            # pairing rule (`contingent.pair_of`) says whether they are a pair.
            first = self.last_child
            open_children = [row]
            if (first is not None and first.parent_order_id == parent
                    and first.order_id in self.ledger.orders):
                open_children.append(first)
            pair = pair_of(open_children, _row_id)
            if pair is not None and first is not None:
                take_profit, stop_loss = pair
                take_profit.sibling_order_id = stop_loss.order_id
                stop_loss.sibling_order_id = take_profit.order_id
                self._touch(first)
            self.last_child = row

    def traded(self, ev: TradeExecuted) -> None:
        self.ts = ts = ev.ts
        orders = self.ledger.orders
        notional = ev.price * ev.quantity
        maker_rate, taker_rate = self.ledger.rates[ev.symbol]
        for row, fee, rate in (
            (orders[ev.maker_order_id], ev.maker_fee, maker_rate),
            (orders[ev.taker_order_id], ev.taker_fee, taker_rate),
        ):
            row.filled_quantity += ev.quantity
            row.notional += notional
            row.fee += fee
            row.fee_num += notional * rate
            if row.status == NEW:
                row.status = PARTIALLY_FILLED
            row.updated_at = ts
            self._touch(row)
        self.out.trades.append((
            ev.trade_id, ev.symbol, ev.price, ev.quantity, ev.taker_side, ev.maker_order_id,
            ev.taker_order_id, ev.maker_account_id, ev.taker_account_id, ev.maker_fee,
            ev.taker_fee, ts,
        ))
        self.next_trade_id = max(self.next_trade_id, ev.trade_id + 1)
        self.last_prices[ev.symbol] = ev.price
        standings = self.ledger.standings
        for account_id, maker in ((ev.maker_account_id, True), (ev.taker_account_id, False)):
            key = (account_id, ev.symbol)
            standing = standings.get(key)
            if standing is None:
                standing = standings[key] = Standing()
            standing.record(ev, maker)
            self.standings.add(key)

    def amended(self, ev: OrderAmended) -> None:
        self.ts = ev.ts
        row = self.ledger.orders[ev.order_id]
        row.quantity = ev.quantity
        row.price = ev.price
        row.priority = ev.priority
        row.updated_at = ev.ts
        self.next_priority = max(self.next_priority, ev.priority + 1)
        self._touch(row)

    def triggered(self, ev: OrderTriggered) -> None:
        self.ts = ev.ts
        row = self.ledger.orders[ev.order_id]
        row.status = NEW
        row.priority = ev.priority
        row.updated_at = ev.ts
        self.next_priority = max(self.next_priority, ev.priority + 1)
        self._unpair(row)
        self._touch(row)

    def filled(self, ev: OrderFilled) -> None:
        self._close(ev.order_id, "filled", None, ev.ts)

    def cancelled(self, ev: OrderCancelled) -> None:
        self._close(ev.order_id, "cancelled", ev.reason, ev.ts)

    def expired(self, ev: OrderExpired) -> None:
        self._close(ev.order_id, "expired", ev.reason, ev.ts)

    def rejected(self, ev: OrderRejected) -> None:
        self.ts = ev.ts
        if ev.order_id:  # a stop or bracket child refused when it became active
            self._close(ev.order_id, "rejected", ev.reason, ev.ts)

    def _close(self, order_id: int, status: str, reason: str | None, ts: int) -> None:
        self.ts = ts
        row = self.ledger.orders.pop(order_id)
        row.status = status
        row.close_reason = reason
        row.updated_at = ts
        self._unpair(row)
        self._touch(row)

    def _unpair(self, row: OrderRow) -> None:
        """Ends a bracket pair, as the engine does when either half ends or the stop-loss
        triggers."""
        sibling_id = row.sibling_order_id
        if sibling_id is None:
            return
        row.sibling_order_id = None
        sibling = self.ledger.orders.get(sibling_id)
        if sibling is not None:
            sibling.sibling_order_id = None
            self._touch(sibling)

    def _touch(self, row: OrderRow) -> None:
        if row.stored:
            self.touched[row.order_id] = row

    # -- MONEY AND REFERENCE DATA --

    def transferred(self, ev: FundsDeposited | FundsWithdrawn) -> None:
        self.ts = ev.ts
        kind = DEPOSIT if type(ev) is FundsDeposited else WITHDRAWAL
        self.out.transfers.append(
            (ev.account_id, ev.asset, kind, ev.amount, ev.transfer_id, ev.ts)
        )

    def account_created(self, ev: AccountCreated) -> None:
        self.ts = ev.ts
        self.accounts[ev.account_id] = [ev.account_id, None, None, None, ev.ts]
        self.next_account_id = max(self.next_account_id, ev.account_id + 1)

    def account_updated(self, ev: AccountUpdated) -> None:
        self.ts = ev.ts
        self.out.house.append((ev.account_id, ev.house))

    def round_started(self, ev: RoundStarted) -> None:
        self.ts = ev.ts
        # Its accounts start over: standings count from the round's first trade on.
        members = set(ev.account_ids)
        standings = self.ledger.standings
        for key in [key for key in standings if key[0] in members]:
            del standings[key]
        self.standings = {key for key in self.standings if key[0] not in members}
        self.cleared |= members
        self.out.rounds.append((
            ev.round_id, ev.name, round_balances_json(ev.balances),
            json.dumps(list(ev.account_ids)), ev.start, ev.end, ev.first_trade_id, ev.ts,
        ))

    def instrument_added(self, ev: InstrumentAdded) -> None:
        self.ts = ev.ts
        row: list[object] = [
            ev.symbol, ev.base, ev.quote, ev.tick_size, ev.lot_size, ev.min_quantity,
            ev.maker_fee_rate, ev.taker_fee_rate, False, ev.ts, ev.ts, ev.min_notional,
            ev.max_quantity,
        ]
        self.ledger._add_instrument(row)
        self.instruments[ev.symbol] = row

    def instrument_status(self, ev: InstrumentStatusChanged) -> None:
        self.ts = ev.ts
        row = self.ledger.instruments[ev.symbol]
        row[8] = ev.halted
        row[10] = ev.ts
        self.instruments[ev.symbol] = row

    # -- THE WRITE SET --

    def finish(self, account_infos: Sequence[AccountInfo]) -> WriteSet:
        out = self.out
        out.events = self.events
        new = self.new
        for row in new.values():
            row.stored = True
        out.new_orders = [row.as_tuple() for row in new.values()]
        out.changed_orders = [
            row.update_tuple() for order_id, row in self.touched.items() if order_id not in new
        ]
        stored = self.ledger.balance_keys
        for key, (total, held, at) in self.balances.items():
            balance = (key[0], key[1], total, held, at or self.ts)
            if key in stored:
                out.balances.append(balance)
            else:
                out.new_balances.append(balance)
                stored.add(key)
        for info in account_infos:
            created = self.accounts.get(info.account_id)
            if created is None:
                out.account_infos.append(
                    (info.account_id, info.name, info.api_key_id, info.api_key_hash, self.ts)
                )
            else:
                created[1:4] = [info.name, info.api_key_id, info.api_key_hash]
        out.accounts = [tuple(account) for account in self.accounts.values()]
        out.cleared_standings = sorted(self.cleared)
        standings = self.ledger.standings
        out.standings = [standings[key].as_tuple(key[0], key[1], self.ts)
                         for key in sorted(self.standings)]
        out.instruments = [tuple(inst) for inst in self.instruments.values()]
        out.counters = self._counters()
        return out

    def _counters(self) -> list[tuple[str, int]]:
        """The counters that changed, and the ledger's copy brought up to date."""
        changed = {
            NEXT_ORDER_ID: self.next_order_id,
            NEXT_TRADE_ID: self.next_trade_id,
            NEXT_ACCOUNT_ID: self.next_account_id,
            NEXT_PRIORITY: self.next_priority,
            WRITES: self.out.seq,
            BATCHES: self.out.batches,
        }
        for symbol, sequence in self.sequences.items():
            changed[SEQUENCE + symbol] = sequence
        for symbol, price in self.last_prices.items():
            changed[LAST_PRICE + symbol] = price
        counters = self.ledger.counters
        out = [(name, value) for name, value in changed.items() if counters.get(name) != value]
        counters.update(changed)
        return out


def _row_id(row: OrderRow) -> int:
    return row.order_id
