"""The read model: what the API reads, kept up to date from the durable event stream.

Only the replies task writes it (`apply`, in batch order, after each batch is durable), and
only Trio tasks read it, so reads never wait for the engine and never see an event that is
not yet committed. On start it is rebuilt from the store's tables (`exchange.pipeline.storage`).

Everything stays in the engine's integers (ticks, lots, asset units); `exchange.web.render`
turns them into the contract's decimal strings.

Memory holds what is hot (`Keep`): every open and pending order, the newest closed orders of
each account, the newest fills of each account and the newest public trades of each symbol.
What falls out moves a *seam* up (`AccountView.order_seam`, `fill_seam`,
`InstrumentView.trade_seam`): everything above a seam is in memory, everything at or below it
is read from the database (`exchange.pipeline.history`). A seam only rises, and whatever
leaves memory raises it first, so a page that takes the ids above the seam from here and
the rest (up to the seam it read) from the database has no gap and no duplicate, as long
as it reads memory before it awaits the database. At start the seams are the newest ids in
the database and memory holds the open orders only: start-up is proportional to open state.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from exchange.engine.codes import OrderStatus
from exchange.engine.commands import PlaceOrder
from exchange.engine.events import (
    AccountCreated,
    AccountUpdated,
    AnyEvent,
    BalanceChanged,
    BookLevelChanged,
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
from exchange.engine.units import ASSET_UNIT, exact_mul, from_steps, to_steps
from exchange.pipeline.candles import KEEP_SECONDS, Candles
from exchange.pipeline.journal import AccountInfo
from exchange.store.span import Span
from exchange.store.standings import Position, Standing, signed_lots

__all__ = ["Position"]  # the read model's positions are the store's

T = TypeVar("T")



@dataclass(frozen=True, slots=True)
class Keep:
    """How much history memory holds (None: all of it): closed orders and fills per
    account, public trades per symbol (the tape), second candles per symbol."""

    closed_orders: int | None = None
    fills: int | None = 100_000
    trades: int | None = 100_000
    second_candles: int = KEEP_SECONDS

OPEN_STATUSES = frozenset({OrderStatus.PENDING, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED})

_CLOSE_EVENTS = {
    OrderStatus.CANCELLED: "cancelled", OrderStatus.EXPIRED: "expired",
    OrderStatus.REJECTED: "rejected",
}
_CLOSING: dict[type, str] = {
    OrderFilled: OrderStatus.FILLED, OrderCancelled: OrderStatus.CANCELLED,
    OrderExpired: OrderStatus.EXPIRED, OrderRejected: OrderStatus.REJECTED,
}
_PENDING = OrderStatus.PENDING
_NEW = OrderStatus.NEW
_PARTIAL = OrderStatus.PARTIALLY_FILLED


class InstrumentView:
    """An instrument's definition, its book (price -> [quantity, order_count] per side),
    its public trades (oldest first) and its candles."""

    __slots__ = (
        "asks", "base", "base_mult", "bids", "candles", "halted", "last_price", "lot_size",
        "maker_fee_rate", "max_quantity", "min_notional", "min_quantity", "quote", "quote_mult",
        "sequence", "symbol", "taker_fee_rate", "tick_size", "trade_seam", "trades",
    )

    def __init__(self, symbol: str, base: str, quote: str, tick_size: Decimal,
                 lot_size: Decimal, min_quantity: int, maker_fee_rate: Decimal,
                 taker_fee_rate: Decimal, halted: bool = False, keep: int | None = None,
                 keep_seconds: int = KEEP_SECONDS, *, min_notional: int = 0,
                 max_quantity: int = 0) -> None:
        self.symbol = symbol
        self.base = base
        self.quote = quote
        self.tick_size = tick_size
        self.lot_size = lot_size
        self.min_quantity = min_quantity
        self.min_notional = min_notional  # quote units; 0: none
        self.max_quantity = max_quantity  # lots; 0: none
        self.maker_fee_rate = maker_fee_rate
        self.taker_fee_rate = taker_fee_rate
        self.halted = halted
        self.quote_mult = to_steps(exact_mul(tick_size, lot_size), ASSET_UNIT) or 1
        self.base_mult = to_steps(lot_size, ASSET_UNIT) or 1
        self.bids: dict[int, list[int]] = {}
        self.asks: dict[int, list[int]] = {}
        self.sequence = 0
        self.last_price: int | None = None
        # The newest public trades (oldest first); those at or below `trade_seam` are read
        # from the database.
        self.trades: deque[TradeExecuted] = deque(maxlen=keep)
        self.trade_seam = 0
        self.candles = Candles(keep_seconds)

    # -- CONVERSIONS --

    def ticks(self, price: Decimal) -> int | None:
        return to_steps(price, self.tick_size)

    def lots(self, quantity: Decimal) -> int | None:
        return to_steps(quantity, self.lot_size)

    def price(self, ticks: int) -> Decimal:
        return from_steps(ticks, self.tick_size)

    def quantity(self, lots: int) -> Decimal:
        return from_steps(lots, self.lot_size)

    # -- BOOK --

    def depth(self, limit: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return (
            [(price, level[0], level[1]) for price, level in bids],
            [(price, level[0], level[1]) for price, level in asks],
        )

    def best_bid(self) -> int | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> int | None:
        return min(self.asks) if self.asks else None

    # -- TRADES AND CANDLES --

    def record_trade(self, trade: TradeExecuted) -> None:
        trades = self.trades
        if len(trades) == trades.maxlen:
            if trades:
                self.trade_seam = trades[0].trade_id  # about to fall out
            else:  # keeping none
                self.trade_seam = trade.trade_id
        trades.append(trade)
        self.update_market(trade)

    def update_market(self, trade: TradeExecuted) -> None:
        """The last price and candles of a trade."""
        self.last_price = trade.price
        self.candles.add(trade)

    def recent_trades(self, span: Span) -> list[TradeExecuted]:
        """The trades in memory within `span`, newest or oldest first (`span.newest`)."""
        return _spanned(self.trades, span, _trade_id, _trade_ts)

    def day_stats(self, now: int) -> tuple[int | None, int | None, int | None, int]:
        """(open, high, low, volume) over the minute candles of the last 24 hours."""
        return self.candles.day_stats(now)


class OrderView:
    """An order as the API shows it; `command` is the request as placed (idempotency)."""

    __slots__ = (
        "account_id", "client_order_id", "command", "created_at", "fee", "filled", "notional",
        "order_id", "parent_order_id", "post_only", "price", "quantity", "quote_quantity",
        "self_trade_prevention", "side", "status", "stop_price", "symbol", "time_in_force",
        "type", "updated_at",
    )

    def __init__(self, order_id: int, command: PlaceOrder, *, status: str,
                 parent_order_id: int | None, ts: int) -> None:
        self.order_id = order_id
        self.command = command
        self.account_id = command.account_id
        self.client_order_id = command.client_order_id
        self.symbol = command.symbol
        self.side = str(command.side)
        self.type = str(command.type)
        self.time_in_force = str(command.time_in_force)
        self.post_only = command.post_only
        self.self_trade_prevention = str(command.self_trade_prevention)
        self.price = command.price
        self.stop_price = command.stop_price
        self.quantity = command.quantity
        self.quote_quantity = command.quote_quantity
        self.parent_order_id = parent_order_id
        self.status = status
        self.filled = 0
        self.notional = 0  # sum of fill price x quantity (ticks x lots)
        self.fee = 0  # quote units
        self.created_at = ts
        self.updated_at = ts

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    # What each of its events does to an order (the read model, and `order_of_events`).

    @classmethod
    def accepted(cls, ev: OrderAccepted) -> OrderView:
        return cls(ev.order_id, ev.order, status=_PENDING if ev.pending else _NEW,
                   parent_order_id=ev.parent_order_id or None, ts=ev.ts)

    def traded(self, ev: TradeExecuted, fee: int) -> None:
        self.filled += ev.quantity
        self.notional += ev.price * ev.quantity
        self.fee += fee
        self.updated_at = ev.ts
        if self.status == _NEW:
            self.status = _PARTIAL

    def amended(self, ev: OrderAmended) -> None:
        self.quantity = ev.quantity
        self.price = ev.price
        self.updated_at = ev.ts

    def triggered(self, ts: int) -> None:
        self.status = _PARTIAL if self.filled else _NEW
        self.updated_at = ts

    def closed(self, status: str, ts: int) -> None:
        self.status = status
        self.updated_at = ts


def order_of_events(events: Iterable[AnyEvent], order_id: int) -> OrderView | None:
    """The order `order_id` as its events in `events` leave it (from its acceptance on):
    a placement's answer when the order has left memory since."""
    order: OrderView | None = None
    for ev in events:
        kind = type(ev)
        if kind is OrderAccepted and ev.order_id == order_id:  # type: ignore[union-attr]
            order = OrderView.accepted(ev)  # type: ignore[arg-type]
        elif order is None:
            continue
        elif kind is TradeExecuted:
            assert isinstance(ev, TradeExecuted)
            if ev.maker_order_id == order_id:
                order.traded(ev, ev.maker_fee)
            elif ev.taker_order_id == order_id:
                order.traded(ev, ev.taker_fee)
        elif getattr(ev, "order_id", None) != order_id:
            continue
        elif kind is OrderAmended:
            order.amended(ev)  # type: ignore[arg-type]
        elif kind is OrderTriggered:
            order.triggered(ev.ts)  # type: ignore[union-attr]
        elif kind in _CLOSING:
            order.closed(_CLOSING[kind], ev.ts)  # type: ignore[union-attr]
    return order


class Fill:
    __slots__ = ("fee", "liquidity", "order_id", "price", "quantity", "side", "symbol",
                 "trade_id", "ts")

    def __init__(self, trade: TradeExecuted, maker: bool) -> None:
        self.trade_id = trade.trade_id
        self.symbol = trade.symbol
        self.price = trade.price
        self.quantity = trade.quantity
        self.ts = trade.ts
        taker_buys = trade.taker_side == "buy"
        if maker:
            self.order_id = trade.maker_order_id
            self.side = "sell" if taker_buys else "buy"
            self.fee = trade.maker_fee
            self.liquidity = "maker"
        else:
            self.order_id = trade.taker_order_id
            self.side = "buy" if taker_buys else "sell"
            self.fee = trade.taker_fee
            self.liquidity = "taker"


class RoundView:
    """A round as started (`RoundStarted`); amounts in units, times in microseconds (0:
    none). `drawdowns` is what the once-a-minute samples found, per reference asset and
    account: `[peak equity, largest fall from a peak]`, two numbers whatever the length of
    the round."""

    __slots__ = ("account_ids", "balances", "drawdowns", "end", "first_trade_id", "name",
                 "round_id", "start", "ts")

    def __init__(self, round_id: int, name: str, account_ids: tuple[int, ...],
                 balances: dict[str, int], start: int, end: int, first_trade_id: int,
                 ts: int) -> None:
        self.round_id = round_id
        self.name = name
        self.account_ids = account_ids
        self.balances = balances
        self.start = start
        self.end = end
        self.first_trade_id = first_trade_id
        self.ts = ts
        self.drawdowns: dict[str, dict[int, list[Decimal]]] = {}


class AccountView:
    __slots__ = ("account_id", "api_key_hash", "api_key_id", "balances", "client_ids",
                 "closed_ids", "epoch", "fees", "fill_seam", "fills", "house", "name",
                 "open_ids", "order_ids", "order_seam", "positions", "round_id", "trades")

    def __init__(self, account_id: int, name: str | None = None,
                 keep_fills: int | None = None) -> None:
        self.account_id = account_id
        self.name = name
        self.api_key_id: str | None = None
        self.api_key_hash: str | None = None
        self.balances: dict[str, list[int]] = {}  # asset -> [total, held]
        # The ids of its orders in memory, ascending (an evicted one may linger until the
        # list is compacted: look it up in `ReadModel.orders`); the open ones; the closed
        # ones in the order they closed (the first to go when there are too many); and the
        # client_order_ids of those in memory. Orders at or below `order_seam` are read
        # from the database, fills at or below `fill_seam` too.
        self.order_ids: list[int] = []
        self.open_ids: set[int] = set()
        self.closed_ids: deque[int] = deque()
        self.client_ids: dict[str, int] = {}
        self.order_seam = 0
        self.fills: deque[Fill] = deque(maxlen=keep_fills)  # oldest first
        self.fill_seam = 0
        self.house = False
        # The PnL epoch: positions, fees paid (asset -> units) and the trade count cover the
        # trades from `epoch` (a trade id) on; a round starts a new epoch.
        self.positions: dict[str, Position] = {}
        self.fees: dict[str, int] = {}
        self.trades = 0
        self.epoch = 0
        self.round_id = 0  # the latest round it is in

    def add_fill(self, fill: Fill) -> None:
        fills = self.fills
        if len(fills) == fills.maxlen:
            self.fill_seam = fills[0].trade_id if fills else fill.trade_id
        fills.append(fill)

    def recent_fills(self, span: Span, symbol: str | None, order_id: int | None
                     ) -> list[Fill]:
        """The fills in memory within `span` (and of `symbol`, of `order_id`), newest or
        oldest first (`span.newest`)."""
        def wanted(fill: Fill) -> bool:
            return ((symbol is None or fill.symbol == symbol)
                    and (order_id is None or fill.order_id == order_id))
        return _spanned(self.fills, span, _trade_id, _trade_ts, wanted)


class ReadModel:
    def __init__(self, keep: Keep = Keep()) -> None:
        self.keep = keep
        self.instruments: dict[str, InstrumentView] = {}
        self.accounts: dict[int, AccountView] = {}
        self.orders: dict[int, OrderView] = {}
        self.keys: dict[str, AccountView] = {}  # api_key_id -> account
        self.rounds: dict[int, RoundView] = {}
        self.ready = False
        self.batches = 0  # batches applied so far
        # Private order events, for the accounts in `watched` only (the fan-out's accounts
        # with an `orders` subscriber):
        # each is rendered by `render_order` right after its event is applied, so it shows
        # the order as of that event. An order's last fill is rendered again when the order
        # completes, so the fill that completes it says `filled`.
        self.watched: Container[int] = frozenset()
        self.render_order: Callable[[OrderView], dict[str, Any]] | None = None
        self.notices: list[tuple[int, str, dict[str, Any]]] = []
        self._last_fill: dict[int, int] = {}  # order_id -> index of its fill in `notices`
        self._crowded: set[int] = set()  # accounts with more closed orders than they keep

    def take_notices(self) -> list[tuple[int, str, dict[str, Any]]]:
        notices = self.notices
        if notices:
            self.notices = []
            self._last_fill.clear()
        return notices

    def _notice(self, name: str, order: OrderView) -> None:
        render_order = self.render_order
        if render_order is None:
            return
        if name == "fill":
            self._last_fill[order.order_id] = len(self.notices)
        else:
            self._last_fill.pop(order.order_id, None)
        self.notices.append((order.account_id, name, render_order(order)))

    # -- APPLYING EVENTS (the replies task only) --

    def apply(self, events: Iterable[AnyEvent]) -> None:
        """Applies one batch's events, each by the method its type names (`_APPLY`).
        RequestRejected, FundsDeposited and FundsWithdrawn have none: balances say it all."""
        self.batches += 1
        table = _APPLY
        for ev in events:
            method = table.get(type(ev))
            if method is not None:
                method(self, ev)

    def _book_level(self, ev: BookLevelChanged) -> None:
        inst = self.instruments[ev.symbol]
        side = inst.bids if ev.side == "buy" else inst.asks
        if ev.quantity:
            side[ev.price] = [ev.quantity, ev.order_count]
        else:
            side.pop(ev.price, None)
        inst.sequence = ev.sequence

    def _balance(self, ev: BalanceChanged) -> None:
        self._account(ev.account_id).balances[ev.asset] = [ev.total, ev.held]

    def _accepted(self, ev: OrderAccepted) -> None:
        order = OrderView.accepted(ev)
        self.add_order(order)
        if order.account_id in self.watched:
            self._notice("new", order)

    def _trade(self, ev: TradeExecuted) -> None:
        orders, watched = self.orders, self.watched
        for order_id, fee in ((ev.maker_order_id, ev.maker_fee),
                              (ev.taker_order_id, ev.taker_fee)):
            order = orders[order_id]
            order.traded(ev, fee)
            if order.account_id in watched:
                self._notice("fill", order)
        self.record_trade(ev)

    def _filled(self, ev: OrderFilled) -> None:
        self._close(ev.order_id, OrderStatus.FILLED, ev.ts)

    def _cancelled(self, ev: OrderCancelled) -> None:
        self._close(ev.order_id, OrderStatus.CANCELLED, ev.ts)

    def _expired(self, ev: OrderExpired) -> None:
        self._close(ev.order_id, OrderStatus.EXPIRED, ev.ts)

    def _rejected(self, ev: OrderRejected) -> None:
        if ev.order_id:
            self._close(ev.order_id, OrderStatus.REJECTED, ev.ts)

    def _amended(self, ev: OrderAmended) -> None:
        order = self.orders[ev.order_id]
        order.amended(ev)
        if order.account_id in self.watched:
            self._notice("amended", order)

    def _triggered(self, ev: OrderTriggered) -> None:
        order = self.orders[ev.order_id]
        order.triggered(ev.ts)
        if order.account_id in self.watched:
            self._notice("triggered", order)

    def _account_created(self, ev: AccountCreated) -> None:
        self._account(ev.account_id)

    def _round_started(self, ev: RoundStarted) -> None:
        self.start_round(RoundView(
            ev.round_id, ev.name, ev.account_ids, ev.balances, ev.start, ev.end,
            ev.first_trade_id, ev.ts,
        ))

    def _account_updated(self, ev: AccountUpdated) -> None:
        self._account(ev.account_id).house = ev.house

    def _instrument_added(self, ev: InstrumentAdded) -> None:
        self.instruments[ev.symbol] = InstrumentView(
            ev.symbol, ev.base, ev.quote, ev.tick_size, ev.lot_size, ev.min_quantity,
            ev.maker_fee_rate, ev.taker_fee_rate, keep=self.keep.trades,
            keep_seconds=self.keep.second_candles, min_notional=ev.min_notional,
            max_quantity=ev.max_quantity,
        )

    def _instrument_status(self, ev: InstrumentStatusChanged) -> None:
        self.instruments[ev.symbol].halted = ev.halted

    def apply_accounts(self, records: Iterable[AccountInfo]) -> None:
        for record in records:
            account = self._account(record.account_id)
            account.name = record.name
            if account.api_key_id is not None:
                self.keys.pop(account.api_key_id, None)
            account.api_key_id = record.api_key_id
            account.api_key_hash = record.api_key_hash
            if record.api_key_id is not None:
                self.keys[record.api_key_id] = account

    def start_round(self, view: RoundView) -> None:
        """A new PnL epoch for the round's accounts (from an event, or a stored row at start,
        before the stored trades are replayed)."""
        self.rounds[view.round_id] = view
        for account_id in view.account_ids:
            account = self._account(account_id)
            account.round_id = view.round_id
            account.epoch = view.first_trade_id
            account.positions = {}
            account.fees = {}
            account.trades = 0

    def add_order(self, order: OrderView) -> None:
        """Adds an order (from an event, or an open one's stored row at start: ids rise)."""
        self.orders[order.order_id] = order
        account = self._account(order.account_id)
        account.order_ids.append(order.order_id)
        if order.is_open:
            account.open_ids.add(order.order_id)
        else:
            self._closed(account, order.order_id)
        if order.client_order_id is not None and order.parent_order_id is None:
            account.client_ids.setdefault(order.client_order_id, order.order_id)

    def _closed(self, account: AccountView, order_id: int) -> None:
        """Keeps `order_id` among the account's recently closed orders (`trim` lets the
        oldest go)."""
        account.closed_ids.append(order_id)
        keep = self.keep.closed_orders
        if keep is not None and len(account.closed_ids) > keep:
            self._crowded.add(account.account_id)

    def trim(self) -> None:
        """Lets the closed orders beyond `Keep.closed_orders` go, those closed longest ago
        first, raising each account's seam. The replies task calls it after a batch's
        requests are answered, so that every order a batch touched is in memory for them."""
        keep = self.keep.closed_orders
        if keep is None or not self._crowded:
            return
        orders = self.orders
        for account_id in self._crowded:
            account = self.accounts[account_id]
            closed = account.closed_ids
            seam = account.order_seam
            while len(closed) > keep:
                gone = closed.popleft()
                order = orders.pop(gone)
                seam = max(seam, gone)
                coid = order.client_order_id
                if coid is not None and account.client_ids.get(coid) == gone:
                    del account.client_ids[coid]
            account.order_seam = seam
            ids = account.order_ids
            if len(ids) > 2 * (len(account.open_ids) + len(closed)) + 16:
                account.order_ids = [i for i in ids if i in orders]
        self._crowded.clear()

    def set_seams(self, order_id: int, trade_id: int) -> None:
        """At start: the newest order and trade ids in the database, which memory does not
        hold (beyond the open orders); they are read from the database from now on."""
        for account in self.accounts.values():
            account.order_seam = order_id
            account.fill_seam = trade_id
        for inst in self.instruments.values():
            inst.trade_seam = trade_id

    def recent_orders(self, account: AccountView, span: Span, symbol: str | None,
                      status: str) -> list[OrderView]:
        """The account's orders in memory within `span` (by order id and `created_at`), of
        `symbol` and `status` (`open`, `closed` or `all`), newest or oldest first."""
        orders = self.orders
        if status == "open":
            candidates: list[OrderView] = [orders[i] for i in sorted(account.open_ids)]
        else:
            ids = account.order_ids
            lo = 0 if span.above is None else bisect.bisect_right(ids, span.above)
            hi = len(ids) if span.below is None else bisect.bisect_left(ids, span.below)
            candidates = [order for order in map(orders.get, ids[lo:hi]) if order is not None]

        def wanted(order: OrderView) -> bool:
            if symbol is not None and order.symbol != symbol:
                return False
            return status == "all" or (status == "closed") != order.is_open
        return _spanned(candidates, span, _order_id, _created_at, wanted)

    def record_trade(self, trade: TradeExecuted) -> None:
        """Market data, fills and positions of a trade (orders are updated separately)."""
        inst = self.instruments[trade.symbol]
        inst.record_trade(trade)
        for account_id, maker in ((trade.maker_account_id, True),
                                  (trade.taker_account_id, False)):
            account = self._account(account_id)
            account.add_fill(Fill(trade, maker))
            self.count_trade(account, trade, maker)

    def load_standing(self, account_id: int, symbol: str, standing: Standing) -> None:
        """A stored standing at start (after the rounds): the account's position in
        `symbol`, and its fees and trades there counted in."""
        account = self._account(account_id)
        account.positions[symbol] = standing.position
        account.trades += standing.trades
        if standing.fees:
            quote = self.instruments[symbol].quote
            account.fees[quote] = account.fees.get(quote, 0) + standing.fees

    def count_trade(self, account: AccountView, trade: TradeExecuted, maker: bool) -> None:
        """The account's position, fees and trade count of the round it is in."""
        if trade.trade_id < account.epoch:
            return  # before its round: only the history keeps it
        account.trades += 1
        fee = trade.maker_fee if maker else trade.taker_fee
        if fee:
            quote = self.instruments[trade.symbol].quote
            account.fees[quote] = account.fees.get(quote, 0) + fee
        position = account.positions.get(trade.symbol)
        if position is None:
            position = account.positions[trade.symbol] = Position()
        position.trade(signed_lots(trade, maker), trade.price)

    def _close(self, order_id: int, status: OrderStatus, ts: int) -> None:
        order = self.orders[order_id]
        order.closed(status, ts)
        account = self.accounts[order.account_id]
        account.open_ids.discard(order_id)
        if order.account_id in self.watched:
            if status == OrderStatus.FILLED:
                index = self._last_fill.pop(order_id, None)
                if index is not None and self.render_order is not None:
                    self.notices[index] = (order.account_id, "fill", self.render_order(order))
            else:
                self._notice(_CLOSE_EVENTS[status], order)
        self._closed(account, order_id)

    def _account(self, account_id: int) -> AccountView:
        account = self.accounts.get(account_id)
        if account is None:
            account = self.accounts[account_id] = AccountView(account_id,
                                                              keep_fills=self.keep.fills)
        return account

    def account(self, account_id: int, name: str | None = None) -> AccountView:
        """The account's view, made (named `name`) if there is none yet."""
        account = self._account(account_id)
        if name is not None:
            account.name = name
        return account

    # -- QUERIES --

    def account_for_key(self, key_id: str) -> AccountView | None:
        return self.keys.get(key_id)


def _trade_id(item: TradeExecuted | Fill) -> int:
    return item.trade_id


def _trade_ts(item: TradeExecuted | Fill) -> int:
    return item.ts


def _order_id(order: OrderView) -> int:
    return order.order_id


def _created_at(order: OrderView) -> int:
    return order.created_at


def _spanned(items: Sequence[T], span: Span, key: Callable[[T], int],
             time: Callable[[T], int], wanted: Callable[[T], bool] | None = None) -> list[T]:
    """Up to `span.limit` of `items` (ascending by `key`) with keys in the span's range and
    times in its `[start, end)`, newest first or oldest first (`span.newest`)."""
    above, below, start, end = span.above, span.below, span.start, span.end
    out: list[T] = []
    if span.limit <= 0:
        return out
    ordered: Iterable[T] = reversed(items) if span.newest else items
    for item in ordered:
        item_key = key(item)
        if below is not None and item_key >= below:
            if span.newest:
                continue
            break
        if above is not None and item_key <= above:
            if span.newest:
                break
            continue
        moment = time(item)
        if (start is not None and moment < start) or (end is not None and moment >= end):
            continue
        if wanted is not None and not wanted(item):
            continue
        out.append(item)
        if len(out) >= span.limit:
            break
    return out


# The read model's method for each event type it keeps something of (`ReadModel.apply`).
_APPLY: dict[type, Callable[[ReadModel, Any], None]] = {
    BookLevelChanged: ReadModel._book_level,
    BalanceChanged: ReadModel._balance,
    OrderAccepted: ReadModel._accepted,
    TradeExecuted: ReadModel._trade,
    OrderFilled: ReadModel._filled,
    OrderCancelled: ReadModel._cancelled,
    OrderExpired: ReadModel._expired,
    OrderRejected: ReadModel._rejected,
    OrderAmended: ReadModel._amended,
    OrderTriggered: ReadModel._triggered,
    AccountCreated: ReadModel._account_created,
    RoundStarted: ReadModel._round_started,
    AccountUpdated: ReadModel._account_updated,
    InstrumentAdded: ReadModel._instrument_added,
    InstrumentStatusChanged: ReadModel._instrument_status,
}
