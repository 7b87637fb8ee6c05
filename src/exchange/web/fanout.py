"""The market-data fan-out task: durable events in, WebSocket messages out, never waiting.

The replies task hands every durable batch here (`publish`, a bounded channel: the fan-out
only computes, so it keeps up). `serve_fanout` keeps the market data the streams need — per
symbol the L2 book with its sequence, as of the last batch it published — and turns each
batch into messages: one book update per symbol per batch (covering the batch's sequence
range), one message per trade, private order events and fills. Each public message is
encoded once and `put` into every subscriber's `Outbox` (never awaited, with one clock
reading for all of them: the outbox's age rule); a subscriber whose outbox fails (too full,
or its oldest item too old) is dropped from every channel and its connection closes with
4008.

Subscribing runs in the subscriber's task but never awaits, and a batch is published without
awaiting either, so a snapshot is always taken between two batches: it is exactly the state
that the following updates start from (no gap, no overlap).

The private `orders` and `balances` channels start with a snapshot taken from the read
model when subscribed (the state after batch `ReadModel.batches`), and carry the events of
the later batches only (`Subscriber.since`), so the snapshot and the updates meet exactly.
A `candles.<symbol>.<interval>` channel starts with the current candle as of the last
published batch (kept here per symbol, like the book) and gets it again after each batch
that traded the symbol.

Tickers go out at most every `TICKER_INTERVAL` seconds per symbol, when something changed;
`leaderboard.<round>` (or `leaderboard.<round>.<asset>`, USD by default) at most every
`LEADERBOARD_INTERVAL` seconds, when its standings changed. The same timer task takes the
leaderboards' equity samples (for max drawdown) every `sample_interval` seconds.

Chaos mode's stalls: a stalled subscriber's channel messages (snapshots included) go to its
`held` list instead of its outbox, and into the outbox, in order, once the stall is over
(checked at every batch and ticker tick); its connection's replies are not held.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import msgspec
import trio

from exchange.engine.events import (
    BalanceChanged,
    BookLevelChanged,
    InstrumentAdded,
    TradeExecuted,
)
from exchange.pipeline.candles import INTERVALS, Candles
from exchange.pipeline.chaos import Chaos
from exchange.pipeline.metrics import Metrics
from exchange.pipeline.readmodel import Fill, InstrumentView, ReadModel, RoundView
from exchange.pipeline.sequencer import Published
from exchange.web import leaderboard, render
from exchange.web.outbox import GOING_AWAY, SLOW_CONSUMER, BookUpdate, Outbox, several, size_of

log = logging.getLogger("exchange.server")

TICKER_INTERVAL = 0.1
LEADERBOARD_INTERVAL = 1.0
SAMPLE_INTERVAL = 60.0
PUBLISH_QUEUE = 64  # durable batches waiting for the fan-out
PUBLIC_KINDS = ("book", "trades", "ticker", "candles")
PRIVATE_CHANNELS = ("orders", "fills", "balances")

_encode = msgspec.json.encode


class Dialect(Protocol):
    """Another surface's streams (`exchange.binance.streams`): channels named
    `<prefix>:<stream>`, checked and published by the surface, sent through the same
    subscribers and outboxes. `publish` runs after each batch is published here."""

    def check(self, channel: str) -> None: ...
    def publish(self, published: Published, fanout: Fanout) -> None: ...


class _Watched:
    """The accounts the read model renders order events for: those with an `orders`
    subscriber, and those a dialect watches (`Fanout.watch`)."""

    __slots__ = ("extra", "orders")

    def __init__(self, orders: dict[int, set[Subscriber]], extra: dict[int, int]) -> None:
        self.orders = orders
        self.extra = extra

    def __contains__(self, account_id: object) -> bool:
        return account_id in self.orders or account_id in self.extra

    def __iter__(self) -> Iterator[int]:
        yield from self.orders
        yield from (account_id for account_id in self.extra if account_id not in self.orders)


class ChannelError(Exception):
    """A subscription refused: `code` is the contract's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Subscriber:
    """One connection as the fan-out sees it: its outbox, account and channels."""

    __slots__ = ("account_id", "channels", "dialect", "held", "held_until", "outbox", "since")

    def __init__(self, outbox: Outbox, account_id: int | None = None,
                 dialect: str | None = None) -> None:
        self.outbox = outbox
        self.account_id = account_id
        self.dialect = dialect  # the channel prefix of another surface's connection
        self.channels: set[str] = set()
        # private channel -> the read model's batch count when it was subscribed: the
        # batches up to it were applied before the account was watched, so they carry no
        # order events for it, and its fills from them are not sent either.
        self.since: dict[str, int] = {}
        # Not None while chaos mode stalls it: its channel messages, in order, held until
        # trio.current_time() reaches `held_until`.
        self.held: list[str | BookUpdate] | None = None
        self.held_until = 0.0


def _leave(hub: dict[Any, set[Subscriber]], key: Any, subscriber: Subscriber) -> None:
    members = hub.get(key)
    if members is not None:
        members.discard(subscriber)
        if not members:
            del hub[key]


def _since(members: set[Subscriber] | None, channel: str, serial: int
           ) -> set[Subscriber] | None:
    """The private subscribers that subscribed before batch `serial` was applied."""
    if not members:
        return None
    return {member for member in members if member.since.get(channel, 0) < serial}


def _send(subscriber: Subscriber, item: str) -> None:
    """A message for one subscriber: into its outbox, or held while it is stalled."""
    if subscriber.held is not None:
        subscriber.held.append(item)
    else:
        subscriber.outbox.put(item)


def _discard(subscriber: Subscriber, channel: str) -> None:
    """Drops queued (and held) book updates of `channel`: a new snapshot follows, or none."""
    subscriber.outbox.discard(channel)
    held = subscriber.held
    if held:
        held[:] = [item for item in held
                   if not (type(item) is BookUpdate and item.channel == channel)]


class MarketBook:
    """A symbol's L2 book (ticks -> lots) as of the last batch the fan-out published."""

    __slots__ = ("asks", "bids", "candles", "inst", "sequence", "snapshot")

    def __init__(self, inst: InstrumentView, *, empty: bool = False) -> None:
        self.inst = inst
        self.bids: dict[int, int] = {} if empty else {p: lv[0] for p, lv in inst.bids.items()}
        self.asks: dict[int, int] = {} if empty else {p: lv[0] for p, lv in inst.asks.items()}
        self.sequence = 0 if empty else inst.sequence
        self.snapshot: tuple[int, str] | None = None  # (sequence, text) of the last one made
        # The current candles (a copy: the read model's may be ahead).
        self.candles = Candles(1, history=False) if empty else inst.candles.tail()

    def snapshot_text(self, channel: str) -> str:
        cached = self.snapshot
        if cached is not None and cached[0] == self.sequence:
            return cached[1]
        inst = self.inst
        tick, lot, dec = inst.tick_size, inst.lot_size, render.dec
        text = _encode({
            "type": "snapshot",
            "channel": channel,
            "sequence": self.sequence,
            "bids": [[dec(tick * p), dec(lot * self.bids[p])]
                     for p in sorted(self.bids, reverse=True)],
            "asks": [[dec(tick * p), dec(lot * self.asks[p])] for p in sorted(self.asks)],
        }).decode()
        self.snapshot = (self.sequence, text)
        return text

    def best_bid(self) -> int | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> int | None:
        return min(self.asks) if self.asks else None

    def candle_text(self, channel: str, interval: str) -> str:
        candle = self.candles.current(interval)
        return _encode({
            "type": "candle", "channel": channel,
            "candle": None if candle is None else render.candle(self.inst, candle),
        }).decode()


class Fanout:
    def __init__(self, readmodel: ReadModel, metrics: Metrics, *,
                 queue_size: int = PUBLISH_QUEUE, chaos: Chaos | None = None,
                 sample_interval: float = SAMPLE_INTERVAL) -> None:
        self._readmodel = readmodel
        self._sample_interval = sample_interval
        self._leaderboards_sent: dict[str, str] = {}  # channel -> the last text sent
        self._metrics = metrics
        self._chaos = chaos
        self._send, self._receive = trio.open_memory_channel[Published](queue_size)
        self.books: dict[str, MarketBook] = {
            symbol: MarketBook(inst) for symbol, inst in readmodel.instruments.items()
        }
        self.channels: dict[str, set[Subscriber]] = {}
        # account_id -> subscribers of its "orders" / "fills" / "balances". The read model
        # renders order events only for the accounts in `orders`.
        self.orders: dict[int, set[Subscriber]] = {}
        self.fills: dict[int, set[Subscriber]] = {}
        self.balances: dict[int, set[Subscriber]] = {}
        self._privates = {"orders": self.orders, "fills": self.fills,
                          "balances": self.balances}
        self.candle_channels = 0  # subscriptions to candles.* channels
        self.watchers: dict[int, int] = {}  # account -> a dialect's subscribers watching it
        readmodel.watched = _Watched(self.orders, self.watchers)
        self.subscribers: set[Subscriber] = set()
        self._stalled: set[Subscriber] = set()
        self._tickers_due: set[str] = set()
        self._dead: list[Subscriber] = []
        instruments = readmodel.instruments
        readmodel.render_order = lambda order: render.order(instruments[order.symbol], order)
        self.dialects: dict[str, Dialect] = {}  # channel prefix -> the surface's streams
        # prefix -> its subscribed channels -> their members (the sets of `channels`), so
        # a dialect finds its own without walking every channel at every batch.
        self.dialect_channels: dict[str, dict[str, set[Subscriber]]] = {}
        # What a dialect sends on a timer (its tickers): called every TICKER_INTERVAL.
        self.timers: list[Callable[[], None]] = []

    # -- FROM THE REPLIES TASK --

    async def publish(self, published: Published) -> None:
        await self._send.send(published)

    def close(self) -> None:
        """No more batches: `serve_fanout` returns once the queued ones are out."""
        self._send.close()

    # -- SUBSCRIPTIONS (a connection's task; never awaits) --

    def attach(self, subscriber: Subscriber) -> None:
        self.subscribers.add(subscriber)
        self._metrics.ws_connections.set(len(self.subscribers))

    def detach(self, subscriber: Subscriber) -> None:
        for channel in list(subscriber.channels):
            self.unsubscribe(subscriber, channel)
        self.subscribers.discard(subscriber)
        self._stalled.discard(subscriber)
        subscriber.held = None
        self._metrics.ws_connections.set(len(self.subscribers))

    def check(self, subscriber: Subscriber, channel: str) -> None:
        """Raises `ChannelError` unless `subscriber` may subscribe to `channel`."""
        if not isinstance(channel, str) or len(channel) > 64:
            raise ChannelError("invalid_request", "a channel is a string like book.BTC-USD")
        prefix, colon, _ = channel.partition(":")
        if colon and prefix in self.dialects and subscriber.dialect == prefix:
            self.dialects[prefix].check(channel)
            return
        if subscriber.dialect is not None:
            raise ChannelError("invalid_request", f"unknown stream {channel!r}")
        if channel in PRIVATE_CHANNELS:
            if subscriber.account_id is None:
                raise ChannelError("unauthorized", f"{channel} needs authentication first")
            return
        kind, dot, symbol = channel.partition(".")
        if kind == "leaderboard":
            self._leaderboard_of(channel)
            return
        if not dot or kind not in PUBLIC_KINDS:
            raise ChannelError("invalid_request", f"unknown channel {channel!r}")
        if kind == "candles":
            symbol, dot, interval = symbol.rpartition(".")
            if not dot or interval not in INTERVALS:
                raise ChannelError("invalid_request", "a candles channel is candles.<symbol>."
                                   "<interval>, the interval one of " + ", ".join(INTERVALS))
        if symbol not in self.books:
            raise ChannelError("unknown_symbol", f"unknown symbol {symbol!r}")

    def subscribe(self, subscriber: Subscriber, channel: str) -> None:
        """Adds `channel` (already `check`ed). A book channel starts with its snapshot; a
        book channel subscribed again gets a fresh snapshot (a client recovering from a
        gap)."""
        if channel in PRIVATE_CHANNELS:
            account_id = subscriber.account_id
            assert account_id is not None
            self._privates[channel].setdefault(account_id, set()).add(subscriber)
            if channel not in subscriber.channels:  # subscribed again: already in step
                subscriber.since[channel] = self._readmodel.batches
                snapshot = self._private_snapshot(channel, account_id)
                if snapshot is not None:
                    _send(subscriber, snapshot)
            subscriber.channels.add(channel)
            return
        kind, _, symbol = channel.partition(".")
        if ":" in kind:  # a dialect's stream: no snapshot
            pass
        elif kind == "book":
            _discard(subscriber, channel)
            _send(subscriber, self.books[symbol].snapshot_text(channel))
        elif kind == "ticker":
            _send(subscriber, self._ticker_text(symbol, channel))
        elif kind == "candles":
            symbol, _, interval = symbol.rpartition(".")
            _send(subscriber, self.books[symbol].candle_text(channel, interval))
            if channel not in subscriber.channels:
                self.candle_channels += 1
        elif kind == "leaderboard":
            _send(subscriber, self._leaderboard_text(channel))
        members = self.channels.setdefault(channel, set())
        members.add(subscriber)
        subscriber.channels.add(channel)
        if ":" in kind:
            self.dialect_channels.setdefault(kind.partition(":")[0], {})[channel] = members

    def _private_snapshot(self, channel: str, account_id: int) -> str | None:
        """The first message of a private channel: the read model's state of the account
        (as of the batch it has applied last, see `Subscriber.since`)."""
        readmodel = self._readmodel
        account = readmodel.accounts.get(account_id)
        if channel == "balances":
            return _encode({"type": "balances_snapshot", "channel": channel,
                            "balances": [] if account is None else render.balances(account)
                            }).decode()
        if channel == "orders":
            orders = readmodel.orders
            instruments = readmodel.instruments
            return _encode({"type": "orders_snapshot", "channel": channel, "orders": [
                render.order(instruments[orders[order_id].symbol], orders[order_id])
                for order_id in sorted(account.open_ids)
            ] if account is not None else []}).decode()
        return None

    def unsubscribe(self, subscriber: Subscriber, channel: str) -> None:
        if channel in PRIVATE_CHANNELS:
            subscriber.channels.discard(channel)
            if subscriber.account_id is not None:
                _leave(self._privates[channel], subscriber.account_id, subscriber)
            return
        if channel in subscriber.channels and channel.startswith("candles."):
            self.candle_channels -= 1
        subscriber.channels.discard(channel)
        _leave(self.channels, channel, subscriber)
        _discard(subscriber, channel)
        if channel not in self.channels:
            self._leaderboards_sent.pop(channel, None)
            prefix, colon, _ = channel.partition(":")
            own = self.dialect_channels.get(prefix) if colon else None
            if own is not None:
                own.pop(channel, None)
                if not own:
                    del self.dialect_channels[prefix]

    def close_all(self, code: int = GOING_AWAY, reason: str = "server shutting down") -> None:
        for subscriber in list(self.subscribers):
            subscriber.outbox.close(code, reason)

    # -- THE TASK --

    async def serve_fanout(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                           ) -> None:
        """Publishes batches until `close()`; then tells every connection to close."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._serve_tickers)
            nursery.start_soon(self._serve_leaderboards)
            task_status.started()
            async with self._receive:
                async for published in self._receive:
                    self._publish(published)
            nursery.cancel_scope.cancel()
        self.close_all()

    def _publish(self, published: Published) -> None:
        if self._stalled:
            self._release()
        chaos = self._chaos
        if chaos is not None and chaos.spec.stall:
            self._stall(chaos)
        changes: dict[str, tuple[int, dict[str, str], dict[str, str]]] = {}
        trades: dict[str, list[str]] = {}
        fills: dict[int, list[str]] = {}
        balances: dict[int, list[str]] = {}
        traded: set[str] = set()
        books = self.books
        channels = self.channels
        watching = self.balances
        for event in published.events:
            kind = type(event)
            if kind is BookLevelChanged:
                assert isinstance(event, BookLevelChanged)
                book = books[event.symbol]
                side = book.bids if event.side == "buy" else book.asks
                if event.quantity:
                    side[event.price] = event.quantity
                else:
                    side.pop(event.price, None)
                book.sequence = event.sequence
                if ("book." + event.symbol) in channels:
                    change = changes.get(event.symbol)
                    if change is None:
                        change = changes[event.symbol] = (event.sequence, {}, {})
                    inst = book.inst
                    levels = change[1] if event.side == "buy" else change[2]
                    levels[render.dec(inst.tick_size * event.price)] = (
                        render.dec(inst.lot_size * event.quantity) if event.quantity else "0"
                    )
                self._tickers_due.add(event.symbol)
            elif kind is TradeExecuted:
                assert isinstance(event, TradeExecuted)
                self._trade(event, trades, fills)
                traded.add(event.symbol)
            elif kind is BalanceChanged:
                assert isinstance(event, BalanceChanged)
                if event.account_id in watching:
                    message: dict[str, Any] = render.balance(event.asset, event.total,
                                                             event.held)
                    message["type"] = "balance"
                    message["channel"] = "balances"
                    balances.setdefault(event.account_id, []).append(_encode(message).decode())
            elif kind is InstrumentAdded:
                assert isinstance(event, InstrumentAdded)
                added = self._readmodel.instruments.get(event.symbol)
                if added is not None:  # a new book is empty; the read model may be ahead
                    books[event.symbol] = MarketBook(added, empty=True)
        for symbol, (first, bids, asks) in changes.items():
            update = BookUpdate("book." + symbol, first, books[symbol].sequence, bids, asks)
            self._broadcast(channels.get(update.channel), update)
        for symbol, texts in trades.items():
            self._broadcast(channels.get("trades." + symbol), several(texts))
        self._tickers_due.update(traded)
        if self.candle_channels:
            for symbol in traded:
                book = books[symbol]
                for name in INTERVALS:
                    channel = f"candles.{symbol}.{name}"
                    members = channels.get(channel)
                    if members:
                        self._broadcast(members, book.candle_text(channel, name))
        serial = published.serial
        for account_id, texts in fills.items():
            self._broadcast(_since(self.fills.get(account_id), "fills", serial),
                            several(texts))
        for account_id, texts in balances.items():
            self._broadcast(_since(watching.get(account_id), "balances", serial),
                            several(texts))
        notices: dict[int, list[str]] = {}
        for account_id, name, order in published.notices:
            if account_id in self.orders:
                notices.setdefault(account_id, []).append(_encode({
                    "type": "order", "channel": "orders", "event": name, "order": order,
                }).decode())
        for account_id, texts in notices.items():
            self._broadcast(_since(self.orders.get(account_id), "orders", serial),
                            several(texts))
        for dialect in dict.fromkeys(self.dialects.values()):  # one may own two prefixes
            dialect.publish(published, self)
        self._bury()

    def _stall(self, chaos: Chaos) -> None:
        """Chaos mode: holds some subscribers' channel messages, from this batch on, for a
        while (nothing is dropped or reordered)."""
        now = trio.current_time()
        for subscriber in self.subscribers:
            if subscriber.channels:
                seconds = chaos.stall()
                if seconds:
                    if subscriber.held is None:
                        subscriber.held = []
                        self._stalled.add(subscriber)
                    subscriber.held_until = max(subscriber.held_until, now + seconds)

    def _release(self) -> None:
        """Puts the held messages of every stall that is over into the outboxes, in order."""
        now = trio.current_time()
        for subscriber in list(self._stalled):
            if subscriber.held_until <= now:
                self._stalled.discard(subscriber)
                held, subscriber.held = subscriber.held or [], None
                for item in held:
                    if not subscriber.outbox.put(item):
                        self._dead.append(subscriber)
                        break
        self._bury()

    def _trade(self, trade: TradeExecuted, trades: dict[str, list[str]],
               fills: dict[int, list[str]]) -> None:
        """Renders the trade's public and private messages into this batch's lists."""
        channel = "trades." + trade.symbol
        book = self.books[trade.symbol]
        inst = book.inst
        book.candles.add(trade)
        if channel in self.channels:
            message = render.trade(inst, trade)
            message["type"] = "trade"
            message["channel"] = channel
            trades.setdefault(trade.symbol, []).append(_encode(message).decode())
        if self.fills:
            for account_id, maker in ((trade.maker_account_id, True),
                                      (trade.taker_account_id, False)):
                if account_id in self.fills:
                    message = render.fill(inst, Fill(trade, maker))
                    message["type"] = "fill"
                    message["channel"] = "fills"
                    fills.setdefault(account_id, []).append(_encode(message).decode())

    def watch(self, account_id: int, more: int = 1) -> None:
        """A dialect's subscriber starts (`more` 1) or stops (-1) watching the account's
        order events."""
        count = self.watchers.get(account_id, 0) + more
        if count > 0:
            self.watchers[account_id] = count
        else:
            self.watchers.pop(account_id, None)

    def broadcast(self, members: set[Subscriber] | None, item: str) -> None:
        """One message to `members` (a dialect's)."""
        self._broadcast(members, item)

    def _broadcast(self, members: set[Subscriber] | None, item: str | BookUpdate) -> None:
        if not members:
            return
        dead = self._dead
        count = 0
        size = size_of(item)
        now = time.monotonic()  # one clock reading for every outbox's age
        for subscriber in members:
            held = subscriber.held
            if held is not None:  # a chaos stall
                held.append(item)
                count += 1
            elif subscriber.outbox.put(item, size, now):
                count += 1
            else:
                dead.append(subscriber)
        self._metrics.ws_messages.inc(count)

    def _bury(self) -> None:
        """Drops the subscribers whose outbox failed (their writer closes with 4008; the
        connection counts and logs it, whatever made the outbox fail)."""
        if not self._dead:
            return
        for subscriber in self._dead:
            if subscriber in self.subscribers and subscriber.outbox.close_code == SLOW_CONSUMER:
                self.detach(subscriber)
        self._dead.clear()

    # -- TICKERS --

    async def _serve_tickers(self) -> None:
        while True:
            await trio.sleep(TICKER_INTERVAL)
            if self._stalled:
                self._release()
            due, self._tickers_due = self._tickers_due, set()
            for symbol in due:
                channel = "ticker." + symbol
                members = self.channels.get(channel)
                if members:
                    self._broadcast(members, self._ticker_text(symbol, channel))
            for timer in self.timers:
                timer()
            self._bury()

    # -- LEADERBOARDS --

    def _leaderboard_of(self, channel: str) -> tuple[RoundView, str]:
        """The round and reference asset a `leaderboard.<round>[.<asset>]` channel names."""
        _, _, rest = channel.partition(".")
        number, _, asset = rest.partition(".")
        view = None
        if number.isascii() and number.isdigit() and len(number) <= 18:
            view = self._readmodel.rounds.get(int(number))
        if view is None:
            raise ChannelError("not_found", f"no round {number[:20]!r}")
        asset = asset or "USD"
        if not (asset.isascii() and asset.isalnum() and len(asset) <= 16):
            raise ChannelError("invalid_request", "the asset must be letters and digits")
        return view, asset

    def _leaderboard_text(self, channel: str) -> str:
        view, asset = self._leaderboard_of(channel)
        message: dict[str, Any] = {"type": "leaderboard", "channel": channel}
        message.update(leaderboard.snapshot(self._readmodel, view, asset))
        text = _encode(message).decode()
        self._leaderboards_sent[channel] = text
        return text

    async def _serve_leaderboards(self) -> None:
        last_sample = time.monotonic()
        while True:
            await trio.sleep(LEADERBOARD_INTERVAL)
            if time.monotonic() - last_sample >= self._sample_interval:
                last_sample = time.monotonic()
                leaderboard.sample(self._readmodel, time.time_ns() // 1000)
            for channel, members in list(self.channels.items()):
                if not members or not channel.startswith("leaderboard."):
                    continue
                sent = self._leaderboards_sent.get(channel)
                text = self._leaderboard_text(channel)
                if text != sent:
                    self._broadcast(members, text)
            self._bury()

    def _ticker_text(self, symbol: str, channel: str) -> str:
        book = self.books[symbol]
        message = render.ticker(book.inst, time.time_ns() // 1000, book.best_bid(),
                                book.best_ask(), book.sequence)
        message["type"] = "ticker"
        message["channel"] = channel
        return _encode(message).decode()
