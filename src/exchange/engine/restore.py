"""Rebuilding an engine from stored records (no I/O: the store loads the records).

`restore` puts instruments, accounts, balances and open or pending orders back exactly as they
were after the last stored command: each book level holds its orders in the same queue
positions (levels fill in time priority, so appending in `priority` order recreates them),
stops wait in their lists, good-till-date orders in the expiry heap, bracket pairs are linked
again, and the id, priority and book sequence counters resume where they were. The engine then
gives the same events for the same further commands as the one that wrote the records.

What an order holds is not stored: it follows from the order by the engine's own rule
(`settlement.required_hold`), and bracket children are paired by the engine's own rule
(`contingent.pair_of`). Each balance's stored `held` must equal the sum over its orders; a
difference means the records do not come from one consistent state, and `restore` refuses
them (the engine's self-check finds it, with every other broken invariant).

Recovery restores a million orders in seconds, so the work per order is kept to what it
needs: accounts and balances looked up once per account and symbol, each queue filled in one
pass in priority order, the indexes and the expiry heap in one pass in id order, and no
invariant computed here that `Engine.check()` verifies anyway.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from heapq import heapify
from operator import itemgetter

import msgspec
from msgspec.structs import astuple

from exchange.engine.accounts import FEE_ACCOUNT_ID, Account, Balance
from exchange.engine.book import Order
from exchange.engine.checks import InvariantError
from exchange.engine.codes import (
    TRIGGER_LIMITS,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
from exchange.engine.commands import AddInstrument, PlaceOrder
from exchange.engine.contingent import PairError, link, pair_of, rises
from exchange.engine.engine import Engine
from exchange.engine.instruments import Instrument
from exchange.engine.settlement import required_hold
from exchange.engine.state import DEFAULT_MAX_OPEN_ORDERS

# Enum members by value: a dict lookup is several times cheaper than calling the enum, and
# recovery converts four per order.
_SIDES = {member.value: member for member in Side}
_TYPES = {member.value: member for member in OrderType}
_TIFS = {member.value: member for member in TimeInForce}
_STPS = {member.value: member for member in SelfTradePrevention}
# The types an open order that is not pending can have: those that rest at a limit price.
_RESTING = (OrderType.LIMIT, *TRIGGER_LIMITS)


class RestoreError(ValueError):
    """The records do not describe a state the engine could be in."""


class InstrumentRecord(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: int
    maker_fee_rate: Decimal
    taker_fee_rate: Decimal
    halted: bool = False
    sequence: int = 0  # the book sequence of the last BookLevelChanged
    last_price: int | None = None  # ticks of the last trade
    min_notional: int = 0  # quote asset units; 0: none
    max_quantity: int = 0  # lots; 0: none


class BalanceRecord(msgspec.Struct, frozen=True):
    account_id: int
    asset: str
    total: int
    held: int


class OrderRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An open (resting) or pending (stop) order, as it is now: `price` and `quantity` after
    amends, `filled` and fees so far."""

    order_id: int
    account_id: int
    symbol: str
    side: str
    type: str
    time_in_force: str
    post_only: bool = False
    self_trade_prevention: str = "cancel_newest"
    client_order_id: str | None = None
    price: int | None = None
    stop_price: int | None = None
    quantity: int
    quote_quantity: int | None = None
    expire_time: int | None = None
    take_profit_price: int | None = None
    stop_loss_price: int | None = None
    parent_order_id: int = 0
    sibling_order_id: int = 0
    pending: bool = False
    filled: int = 0
    fee: int = 0  # quote units charged so far
    fee_num: int = 0  # sum of fill notional x rate (ticks x lots x 10**-8)
    priority: int
    ts: int = 0  # when it was placed


class RoundRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored round: the latest round of an account decides its trading window."""

    round_id: int
    account_ids: tuple[int, ...]
    start: int = 0
    end: int = 0


class Counters(msgspec.Struct, frozen=True, kw_only=True):
    next_order_id: int = 1
    next_trade_id: int = 1
    next_account_id: int = 1
    next_priority: int = 1


# An order record as a tuple of its fields, in `OrderRecord`'s order.
ORDER_FIELDS: tuple[str, ...] = OrderRecord.__struct_fields__
OrderFields = tuple[
    int, int, str, str, str, str, bool, str, str | None, int | None, int | None, int,
    int | None, int | None, int | None, int | None, int, int, bool, int, int, int, int, int,
]


def restore(
    *,
    instruments: Iterable[InstrumentRecord],
    accounts: Iterable[int],
    balances: Iterable[BalanceRecord],
    orders: Iterable[OrderRecord] = (),
    order_rows: Iterable[OrderFields] = (),
    transfer_ids: Iterable[tuple[int, str]] = (),
    counters: Counters | None = None,
    deposited: Mapping[str, int] | None = None,
    withdrawn: Mapping[str, int] | None = None,
    max_open_orders: int = DEFAULT_MAX_OPEN_ORDERS,
    house_accounts: Iterable[int] = (),
    rounds: Iterable[RoundRecord] = (),
) -> Engine:
    """An engine in the state the records describe; raises `RestoreError` if they are
    inconsistent (unknown instrument or account, a hold that does not add up, an asset
    whose balances do not add up to `deposited - withdrawn`, ...): the rebuilt engine must
    pass `Engine.check()`. Without `deposited`, each asset's supply is taken to be what the
    balances hold (nothing to check it against).

    `order_rows` are more orders as plain tuples of `OrderRecord`'s fields in their order
    (`ORDER_FIELDS`): what recovery passes, a million of them, without a struct each."""
    engine = Engine(max_open_orders=max_open_orders)
    for inst_record in instruments:
        _add_instrument(engine, inst_record)
    for account_id in accounts:
        if account_id not in engine.accounts:
            engine.accounts[account_id] = Account(account_id)
    for record in balances:
        account = _account(engine, record.account_id)
        balance = account.balance(record.asset)
        balance.total = record.total
        balance.held = record.held
    rows = [astuple(record) for record in orders]
    rows.extend(order_rows)
    rows.sort(key=_by_priority)
    built, children = _build(engine, rows)
    _place(engine, built)
    _pair_brackets(engine, children)
    _set_holds(engine)
    engine.state.transfer_ids = set(transfer_ids)
    _set_counters(engine, counters or Counters())
    for account_id in house_accounts:
        _account(engine, account_id).house = True
    _set_rounds(engine, rounds)
    if deposited is None:
        deposited = _supply(engine)
    state = engine.state
    state.deposited = {asset: amount for asset, amount in deposited.items() if amount}
    state.withdrawn = {asset: amount for asset, amount in (withdrawn or {}).items() if amount}
    try:
        engine.check()
    except InvariantError as exc:
        raise RestoreError(f"the rebuilt engine fails its self-check: {exc}") from exc
    return engine


def _supply(engine: Engine) -> dict[str, int]:
    supply: dict[str, int] = defaultdict(int)
    for account in engine.accounts.values():
        for asset, balance in account.balances.items():
            supply[asset] += balance.total
    return supply


def _set_rounds(engine: Engine, rounds: Iterable[RoundRecord]) -> None:
    """Each account's window comes from the latest round it is in; ids resume after them."""
    state = engine.state
    for record in sorted(rounds, key=_by_round_id):
        for account_id in record.account_ids:
            account = _account(engine, account_id)
            account.opens_at = record.start
            account.closes_at = record.end
        state.next_round_id = max(state.next_round_id, record.round_id + 1)


def _by_round_id(record: RoundRecord) -> int:
    return record.round_id


_by_priority = itemgetter(ORDER_FIELDS.index("priority"))


def _add_instrument(engine: Engine, record: InstrumentRecord) -> None:
    command = AddInstrument(
        symbol=record.symbol, base=record.base, quote=record.quote,
        tick_size=record.tick_size, lot_size=record.lot_size,
        min_quantity=record.min_quantity, maker_fee_rate=record.maker_fee_rate,
        taker_fee_rate=record.taker_fee_rate, min_notional=record.min_notional,
        max_quantity=record.max_quantity,
    )
    if record.symbol in engine.instruments or not Instrument.valid(command):
        raise RestoreError(f"instrument {record.symbol!r} is duplicated or invalid")
    inst = Instrument(command)
    inst.halted = record.halted
    inst.sequence = record.sequence
    inst.last_price = record.last_price
    engine.instruments[record.symbol] = inst


def _account(engine: Engine, account_id: int) -> Account:
    account = engine.accounts.get(account_id)
    if account is None:
        raise RestoreError(f"unknown account {account_id}")
    return account


def _build(engine: Engine, by_priority: list[OrderFields],
           ) -> tuple[list[Order], list[tuple[Order, int]]]:
    """The engine's orders for the records, unlinked, and the bracket children among them
    with their stored siblings. Every order of an account in one symbol shares its account
    and two balances, looked up once per pair (recovery builds a million orders, and each
    lookup is a call)."""
    parties: dict[tuple[int, str], tuple[Account, Instrument, Balance, Balance]] = {}
    built = []
    children = []
    for (
        order_id, account_id, symbol, side, type_, time_in_force, post_only,
        self_trade_prevention, client_order_id, price, stop_price, quantity, quote_quantity,
        expire_time, take_profit_price, stop_loss_price, parent_order_id, sibling_order_id,
        pending, filled, fee, fee_num, priority, ts,
    ) in by_priority:
        party = parties.get((account_id, symbol))
        if party is None:
            party = parties[(account_id, symbol)] = _party(engine, order_id, account_id, symbol)
        account, inst, base, quote = party
        try:
            command = PlaceOrder(
                ts=ts, account_id=account_id, symbol=symbol, side=_SIDES[side],
                type=_TYPES[type_], quantity=quantity, price=price, stop_price=stop_price,
                quote_quantity=quote_quantity, time_in_force=_TIFS[time_in_force],
                expire_time=expire_time, post_only=post_only,
                self_trade_prevention=_STPS[self_trade_prevention],
                client_order_id=client_order_id, take_profit_price=take_profit_price,
                stop_loss_price=stop_loss_price,
            )
        except KeyError as exc:
            raise RestoreError(f"order {order_id}: unknown value {exc}") from exc
        if not 0 <= filled < quantity:
            raise RestoreError(f"order {order_id} is not open: {filled} filled")
        fee_paid, rest = divmod(fee, inst.quote_mult)
        if rest:
            raise RestoreError(f"order {order_id}: fee off the quote increment")
        if pending:
            if stop_price is None:
                raise RestoreError(f"order {order_id} is pending without a stop price")
        elif type_ not in _RESTING or price is None:
            raise RestoreError(f"order {order_id} is open but cannot rest on a book")
        order = Order(order_id, command, account, inst, base, quote)
        order.filled = filled
        order.fee_num = fee_num
        order.fee_paid = fee_paid
        order.priority = priority
        order.parent_order_id = parent_order_id
        order.pending = pending
        built.append(order)
        if parent_order_id:
            children.append((order, sibling_order_id))
        elif sibling_order_id:
            # Only two children of one parent are ever paired (`_pair_brackets`).
            raise RestoreError(f"order {order_id}: stored sibling {sibling_order_id} is not "
                               "its open pair")
    return built, children


def _party(engine: Engine, order_id: int, account_id: int, symbol: str,
           ) -> tuple[Account, Instrument, Balance, Balance]:
    inst = engine.instruments.get(symbol)
    if inst is None:
        raise RestoreError(f"order {order_id}: unknown instrument {symbol!r}")
    if account_id == FEE_ACCOUNT_ID:
        raise RestoreError(f"order {order_id} belongs to the fee account")
    account = _account(engine, account_id)
    return account, inst, account.balance(inst.base), account.balance(inst.quote)


def _place(engine: Engine, by_priority: list[Order]) -> None:
    """Links orders into levels and stop lists in one pass in priority order (each level's
    queue), then indexes them and fills the expiry heap in one pass in id order."""
    stops: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
    for order in by_priority:
        inst = order.instrument
        if order.pending:
            lists = stops.get(inst.symbol)
            if lists is None:
                lists = stops[inst.symbol] = ([], [])
            (lists[0] if rises(order) else lists[1]).append(
                (order.stop_price or 0, order.order_id))
        else:
            (inst.bids if order.is_buy else inst.asks).level_for(order.price or 0).append(order)
    for symbol, (buys, sells) in stops.items():
        inst = engine.instruments[symbol]
        inst.buy_stops = sorted(buys)
        inst.sell_stops = sorted(sells)
    # Dicts iterate in insertion order, which was placement (id) order: cancel-all relies on it.
    orders = engine.orders
    expiries: list[tuple[int, int]] = []
    for order in sorted(by_priority, key=_by_id):
        oid = order.order_id
        if oid in orders:
            raise RestoreError(f"order {oid} is duplicated")
        orders[oid] = order
        order.account.orders[oid] = order
        command = order.command
        if command.time_in_force == TimeInForce.GTD and command.expire_time is not None:
            expiries.append((command.expire_time, oid))
    heapify(expiries)
    engine.state.expiries = expiries


def _by_id(order: Order) -> int:
    order_id: int = order.order_id
    return order_id


def _pair_brackets(engine: Engine, children: list[tuple[Order, int]]) -> None:
    """Both children of a parent are open only while they are a pair (the engine unpairs
    them when either ends or the stop-loss triggers); each child's stored sibling must be
    the pair it is in."""
    by_parent: dict[int, list[Order]] = defaultdict(list)
    for order, _ in sorted(children, key=_child_id):
        by_parent[order.parent_order_id].append(order)
    for parent_id, open_children in by_parent.items():
        try:
            pair = pair_of(open_children, _by_id)
        except PairError as exc:
            raise RestoreError(f"order {parent_id} has {exc}") from exc
        if pair is not None:
            take_profit, stop_loss = pair
            if take_profit.pending or not stop_loss.pending:
                raise RestoreError(f"bracket {take_profit.order_id}/{stop_loss.order_id}: "
                                   "expected an open take-profit and a pending stop-loss")
            link(take_profit, stop_loss)
    for order, stored_sibling in children:
        sibling = order.sibling
        if (0 if sibling is None else sibling.order_id) != stored_sibling:
            raise RestoreError(f"order {order.order_id}: stored sibling "
                               f"{stored_sibling} is not its open pair")


def _child_id(child: tuple[Order, int]) -> int:
    order_id: int = child[0].order_id
    return order_id


def _set_holds(engine: Engine) -> None:
    """Each order's hold, by the engine's rule, once its bracket pair is linked (a sell
    take-profit holds for both halves). Whether they add up to each balance's stored `held`
    is the self-check's to say (`Engine.check()` compares every balance with its orders)."""
    for order in engine.orders.values():
        order.hold = required_hold(order, order.price, order.quantity)


def _set_counters(engine: Engine, counters: Counters) -> None:
    highest_order = max(engine.orders, default=0)
    if counters.next_order_id <= highest_order:
        raise RestoreError(f"next order id {counters.next_order_id} <= open order {highest_order}")
    highest_priority = max((order.priority for order in engine.orders.values()), default=0)
    if counters.next_priority <= highest_priority:
        raise RestoreError(f"next priority {counters.next_priority} <= {highest_priority}")
    highest_account = max(engine.accounts)
    if counters.next_account_id <= highest_account:
        raise RestoreError(f"next account id {counters.next_account_id} <= {highest_account}")
    state = engine.state
    state.next_order_id = counters.next_order_id
    state.next_trade_id = counters.next_trade_id
    state.next_account_id = counters.next_account_id
    state.next_priority = counters.next_priority
