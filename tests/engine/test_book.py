"""The book alone: levels, matching in price-time priority, self-trade prevention, and the
book events, with a recording `FillSink` in place of settlement (no balance anywhere)."""

from __future__ import annotations

from exchange.engine import book
from exchange.engine.accounts import Account
from exchange.engine.book import Order
from exchange.engine.codes import CloseReason, SelfTradePrevention
from exchange.engine.context import Context
from exchange.engine.events import BookLevelChanged
from exchange.engine.instruments import Instrument

from .parts import instrument, order


class Recorder:
    def __init__(self, market_want: int = 0) -> None:
        self.fills: list[tuple[int, int, int, int]] = []
        self.taken_: list[tuple[int, CloseReason | None]] = []
        self.market_want = market_want

    def want(self, taker: Order, price: int) -> int:
        return self.market_want - taker.filled

    def trade(self, ctx: Context, inst: Instrument, maker: Order, taker: Order, price: int,
              qty: int) -> None:
        self.fills.append((maker.order_id, taker.order_id, price, qty))

    def taken(self, ctx: Context, maker: Order, reason: CloseReason | None) -> None:
        self.taken_.append((maker.order_id, reason))


def resting(inst: Instrument, ctx: Context, *orders: Order) -> None:
    for made in orders:
        book.rest(ctx, inst, made)


def test_match_fills_best_price_first_then_time_and_reports_each_fill() -> None:
    inst = instrument()
    alice, bob = Account(1), Account(2)
    ctx = Context(5)
    a1 = order(1, alice, inst, "sell", 3, 101)
    a2 = order(2, alice, inst, "sell", 2, 100)
    a3 = order(3, alice, inst, "sell", 4, 100)
    resting(inst, ctx, a1, a2, a3)
    ctx = Context(6)
    taker = order(4, bob, inst, "buy", 7, 101)
    sink = Recorder()
    assert book.match(ctx, inst, taker, sink) is None
    assert sink.fills == [(2, 4, 100, 2), (3, 4, 100, 4), (1, 4, 101, 1)]
    assert sink.taken_ == [(2, None), (3, None)]
    assert taker.filled == 7
    assert a1.filled == 1
    assert inst.asks.depth() == [(101, 2, 1)]
    changes = [ev for ev in ctx.events if isinstance(ev, BookLevelChanged)]
    assert [(ev.price, ev.quantity, ev.order_count) for ev in changes] == [(100, 0, 0),
                                                                          (101, 2, 1)]
    assert [ev.sequence for ev in changes] == [4, 5]  # after the three resting events


def test_match_stops_at_the_limit_price() -> None:
    inst = instrument()
    ctx = Context(1)
    resting(inst, ctx, order(1, Account(1), inst, "buy", 5, 99))
    taker = order(2, Account(2), inst, "sell", 5, 100)
    sink = Recorder()
    book.match(ctx, inst, taker, sink)
    assert sink.fills == []
    assert taker.filled == 0
    assert inst.bids.depth() == [(99, 5, 1)]


def test_a_market_taker_takes_what_the_sink_allows() -> None:
    inst = instrument()
    ctx = Context(1)
    resting(inst, ctx, order(1, Account(1), inst, "sell", 10, 100))
    taker = order(2, Account(2), inst, "buy", 10)
    taker.is_market = True
    sink = Recorder(market_want=3)
    book.match(ctx, inst, taker, sink)
    assert sink.fills == [(1, 2, 100, 3)]
    assert inst.asks.depth() == [(100, 7, 1)]


def test_self_trade_prevention_cancel_oldest_takes_the_maker_off_and_goes_on() -> None:
    inst = instrument()
    alice, bob = Account(1), Account(2)
    ctx = Context(1)
    resting(inst, ctx, order(1, alice, inst, "sell", 2, 100), order(2, bob, inst, "sell", 2, 100))
    taker = order(3, alice, inst, "buy", 2, 100,
                  self_trade_prevention=SelfTradePrevention.CANCEL_OLDEST)
    sink = Recorder()
    assert book.match(ctx, inst, taker, sink) is None
    assert sink.taken_ == [(1, CloseReason.STP), (2, None)]
    assert sink.fills == [(2, 3, 100, 2)]
    assert inst.asks.depth() == []


def test_self_trade_prevention_cancel_newest_ends_the_taker() -> None:
    inst = instrument()
    alice = Account(1)
    ctx = Context(1)
    resting(inst, ctx, order(1, alice, inst, "sell", 2, 100))
    taker = order(2, alice, inst, "buy", 2, 100)
    sink = Recorder()
    assert book.match(ctx, inst, taker, sink) is CloseReason.STP
    assert sink.fills == []
    assert inst.asks.depth() == [(100, 2, 1)]


def test_take_removes_a_resting_order_and_drops_an_empty_level() -> None:
    inst = instrument()
    ctx = Context(1)
    first = order(1, Account(1), inst, "buy", 2, 100)
    second = order(2, Account(1), inst, "buy", 3, 100)
    resting(inst, ctx, first, second)
    book.take(ctx, first)
    assert inst.bids.depth() == [(100, 3, 1)]
    assert first.level is None
    book.take(ctx, second)
    assert inst.bids.depth() == []
    assert inst.bids.keys == []


def test_crosses_and_fok_fillable_read_the_book_only() -> None:
    inst = instrument()
    alice, bob = Account(1), Account(2)
    ctx = Context(1)
    resting(inst, ctx, order(1, alice, inst, "sell", 2, 100), order(2, bob, inst, "sell", 2, 101))
    assert book.crosses(inst, True, 100)
    assert not book.crosses(inst, True, 99)
    assert not book.crosses(inst, False, 100)
    assert book.fok_fillable(inst, order(3, bob, inst, "buy", 4, 101,
                                         self_trade_prevention=SelfTradePrevention.NONE))
    assert not book.fok_fillable(inst, order(4, bob, inst, "buy", 4, 100))
    # Bob's own order at 101 would end a cancel_newest taker before it fills.
    assert not book.fok_fillable(inst, order(5, bob, inst, "buy", 4, 101))
