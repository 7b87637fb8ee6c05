"""Self-checks: every invariant of the engine's state, and a digest of the whole state.

Neither runs inside `handle`: they walk every order, so they are for tests, recovery, the
end of a benchmark run and a clean shutdown. `check_state` raises `InvariantError` naming the
broken invariant and the ids involved; `state_digest` serialises the state canonically (the
same bytes for two engines in the same state, however they got there: replaying commands
or rebuilding from stored records) and hashes it with SHA-256.

What the digest leaves out is what two such engines may legitimately differ in: per-command
scratch, expiry-heap entries of orders that have already ended (the live ones follow from
the orders), balances never used (total and held both 0), the shared-hold flag of a bracket
half whose pair has ended (it means something only within a pair), the original quantity
and price of an amended order (the current ones are kept), and how decimals were spelt
(`0.01` and `0.010000` are one tick size).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import msgspec

from exchange.engine.accounts import Balance
from exchange.engine.book import BookSide, Order
from exchange.engine.codes import GTD, TRIGGERS
from exchange.engine.contingent import rises
from exchange.engine.instruments import Instrument
from exchange.engine.settlement import required_hold
from exchange.engine.state import EngineState


class InvariantError(Exception):
    """The engine's state breaks one of its invariants (a bug, or tampered records)."""


def check_state(state: EngineState) -> None:
    """Raises `InvariantError` unless the books, orders, holds and balances agree."""
    resting = 0
    pending = 0
    for inst in state.instruments.values():
        resting += _check_side(state, inst, inst.bids)
        resting += _check_side(state, inst, inst.asks)
        pending += _check_stops(state, inst, inst.buy_stops, True)
        pending += _check_stops(state, inst, inst.sell_stops, False)
        best_bid = inst.bids.best_price()
        best_ask = inst.asks.best_price()
        if best_bid is not None and best_ask is not None and best_bid >= best_ask:
            raise InvariantError(f"book {inst.symbol} crossed: best bid {best_bid} >= "
                                 f"best ask {best_ask}")
    if resting + pending != len(state.orders):
        raise InvariantError(f"{len(state.orders)} open orders but {resting} rest on a book "
                             f"and {pending} wait as stops")
    _check_orders(state)
    _check_balances(state)


def _check_side(state: EngineState, inst: Instrument, side: BookSide) -> int:
    """A side's keys strictly ascending and matching its levels; each level a well-linked
    list of open orders of that side and price whose remainders add up to its total.
    Returns the number of orders on the side."""
    name = f"book {inst.symbol} {'bids' if side.is_bids else 'asks'}"
    keys = side.keys
    for i in range(1, len(keys)):
        if keys[i - 1] >= keys[i]:
            raise InvariantError(f"{name} not sorted: key {keys[i - 1]} before {keys[i]}")
    if len(keys) != len(side.levels) or any(
        key * side.sign not in side.levels for key in keys
    ):
        raise InvariantError(f"{name}: sorted prices {sorted(k * side.sign for k in keys)} "
                             f"are not the levels {sorted(side.levels)}")
    found = 0
    for price, level in side.levels.items():
        where = f"{name} level {price}"
        if level.price != price:
            raise InvariantError(f"{where} records price {level.price}")
        total = 0
        count = 0
        prev: Order | None = None
        order = level.head
        while order is not None:
            oid = order.order_id
            if state.orders.get(oid) is not order:
                raise InvariantError(f"{where}: order {oid} rests but is not an open order")
            if order.level is not level or order.prev is not prev:
                raise InvariantError(f"{where}: order {oid} is linked wrongly")
            if order.instrument is not inst or order.is_buy != side.is_bids:
                raise InvariantError(f"{where}: order {oid} belongs to another book or side")
            if order.price != price or order.pending:
                raise InvariantError(f"{where}: order {oid} has price {order.price}"
                                     f"{' and is pending' if order.pending else ''}")
            remaining = order.quantity - order.filled
            if remaining <= 0:
                raise InvariantError(f"{where}: order {oid} rests with {remaining} left")
            total += remaining
            count += 1
            prev = order
            order = order.next
        if level.tail is not prev:
            raise InvariantError(f"{where}: the tail is not the last order")
        if count == 0:
            raise InvariantError(f"{where} is empty but kept")
        if level.quantity != total or level.count != count:
            raise InvariantError(f"{where}: total {level.quantity} in {level.count} orders, "
                                 f"but its orders have {total} in {count}")
        found += count
    return found


def _check_stops(state: EngineState, inst: Instrument, stops: list[tuple[int, int]],
                 rising: bool) -> int:
    """`buy_stops` (`rising`) holds buy stops and sell take-profits, `sell_stops` the others."""
    name = f"{inst.symbol} {'buy' if rising else 'sell'} stops"
    for i in range(1, len(stops)):
        if stops[i - 1] >= stops[i]:
            raise InvariantError(f"{name} not sorted: {stops[i - 1]} before {stops[i]}")
    for stop_price, oid in stops:
        order = state.orders.get(oid)
        if order is None or not order.pending or order.level is not None:
            raise InvariantError(f"{name}: order {oid} is listed but not a pending stop")
        if order.command.type not in TRIGGERS:
            raise InvariantError(f"{name}: order {oid} is a {order.command.type} order")
        if order.instrument is not inst or rises(order) != rising:
            raise InvariantError(f"{name}: order {oid} belongs to another list")
        if order.stop_price != stop_price:
            raise InvariantError(f"{name}: order {oid} listed at {stop_price}, its stop "
                                 f"price is {order.stop_price}")
    return len(stops)


def _check_orders(state: EngineState) -> None:
    """Each open order indexed under its account, a hold equal to what the engine's hold
    rule asks, a symmetric bracket pair, and an expiry entry if it is good-till-date."""
    expiries = set(state.expiries)
    for oid, order in state.orders.items():
        account = state.accounts.get(order.account.account_id)
        if account is not order.account or account.orders.get(oid) is not order:
            raise InvariantError(f"order {oid} is not indexed under its account "
                                 f"{order.account.account_id}")
        inst = order.instrument
        if (order.base_balance is not account.balances.get(inst.base)
                or order.quote_balance is not account.balances.get(inst.quote)):
            raise InvariantError(f"order {oid} points at balances that are not its "
                                 f"account's")
        need = required_hold(order, order.price, order.quantity)
        if order.hold != need:
            raise InvariantError(f"order {oid} holds {order.hold}, the hold rule asks {need}")
        sibling = order.sibling
        if sibling is not None and (sibling.sibling is not order
                                    or state.orders.get(sibling.order_id) is not sibling):
            raise InvariantError(f"order {oid}: its bracket sibling {sibling.order_id} is "
                                 f"not paired back or not open")
        expire = order.expire_time
        if order.command.time_in_force == GTD and (expire, oid) not in expiries:
            raise InvariantError(f"order {oid} is good till {expire} but not in the heap")
    # Every open order is in its account's index (above), each under its own id; so the
    # indexes hold nothing else exactly when their sizes add up to the open orders (a count,
    # not a second walk over every order; the walk only names the stray entry).
    if sum(len(account.orders) for account in state.accounts.values()) != len(state.orders):
        for account in state.accounts.values():
            for oid, order in account.orders.items():
                if state.orders.get(oid) is not order:
                    raise InvariantError(f"account {account.account_id} lists order {oid}, "
                                         f"which is not open")


def _check_balances(state: EngineState) -> None:
    """Held equals the sum of the open orders' holds; 0 <= held <= total; every asset
    conserved: the totals over all accounts (the fee account's too) equal the deposits
    minus the withdrawals."""
    holds: dict[Balance, int] = {}  # by identity: the sum of the balance's orders' holds
    for order in state.orders.values():
        bal = order.quote_balance if order.is_buy else order.base_balance
        holds[bal] = holds.get(bal, 0) + order.hold
    supply: dict[str, int] = {}
    for account in state.accounts.values():
        for asset, bal in account.balances.items():
            where = f"account {account.account_id} {asset}"
            if bal.account_id != account.account_id or bal.asset != asset:
                raise InvariantError(f"{where}: the balance is filed under the wrong key")
            if not 0 <= bal.held <= bal.total:
                raise InvariantError(f"{where}: held {bal.held} of total {bal.total}")
            held = holds.get(bal, 0)
            if bal.held != held:
                raise InvariantError(f"{where}: held {bal.held} but its open orders hold "
                                     f"{held}")
            supply[asset] = supply.get(asset, 0) + bal.total
    for asset in sorted(set(supply) | set(state.deposited) | set(state.withdrawn)):
        expected = state.deposited.get(asset, 0) - state.withdrawn.get(asset, 0)
        if supply.get(asset, 0) != expected:
            raise InvariantError(f"asset {asset} not conserved: accounts total "
                                 f"{supply.get(asset, 0)}, deposits minus withdrawals "
                                 f"{expected}")


# -- THE STATE DIGEST --


def state_digest(state: EngineState) -> str:
    """SHA-256 (hex) of the canonical serialisation of the whole state."""
    digest = hashlib.sha256()
    encode = msgspec.json.Encoder().encode
    for item in _canonical(state):
        digest.update(encode(item))
        digest.update(b"\n")
    return digest.hexdigest()


def _canonical(state: EngineState) -> Iterator[Any]:
    """The state as a stream of plain values (lists of ints, strings, bools and None), each
    section in a fixed order."""
    yield ["counters", state.next_order_id, state.next_trade_id, state.next_account_id,
           state.next_priority]
    yield ["supply", sorted(state.deposited.items()), sorted(state.withdrawn.items())]
    yield ["accounts", sorted(state.accounts)]
    yield ["transfer_ids", sorted(state.transfer_ids)]
    # Rounds and house flags only once there are any: a state from before them hashes as it
    # did, so a hash stored at a clean shutdown still matches after an upgrade.
    flagged = [
        [account_id, account.house, account.opens_at, account.closes_at]
        for account_id, account in sorted(state.accounts.items())
        if account.house or account.opens_at or account.closes_at
    ]
    if state.next_round_id > 1 or flagged:
        yield ["rounds", state.next_round_id, flagged]
    for account_id in sorted(state.accounts):
        account = state.accounts[account_id]
        for asset in sorted(account.balances):
            bal = account.balances[asset]
            if bal.total or bal.held:
                yield _balance(bal)
    for symbol in sorted(state.instruments):
        inst = state.instruments[symbol]
        record: list[Any] = [
            "instrument", symbol, inst.base, inst.quote, str(inst.tick_size.normalize()),
            str(inst.lot_size.normalize()), inst.min_quantity, inst.maker_rate,
            inst.taker_rate, inst.halted, inst.sequence, inst.last_price,
        ]
        # Filters only where there are any: a state from before them hashes as it did.
        if inst.filtered:
            record += [inst.min_notional, inst.max_quantity]
        yield record
        for side in (inst.bids, inst.asks):
            for key in reversed(side.keys):
                level = side.levels[key * side.sign]
                yield ["level", symbol, side.is_bids, level.price, level.quantity, level.count,
                       [order.order_id for order in level.orders()]]
        yield ["stops", symbol, inst.buy_stops, inst.sell_stops]
    for oid in sorted(state.orders):
        yield _order(state.orders[oid])


def _balance(bal: Balance) -> list[Any]:
    return ["balance", bal.account_id, bal.asset, bal.total, bal.held]


def _order(order: Order) -> list[Any]:
    cmd = order.command
    sibling = order.sibling
    return [
        "order", order.order_id, order.account.account_id, order.instrument.symbol,
        order.is_buy, str(cmd.type), str(cmd.time_in_force), cmd.post_only,
        str(cmd.self_trade_prevention), cmd.client_order_id, order.price, cmd.stop_price,
        order.quantity, cmd.quote_quantity, cmd.expire_time, cmd.take_profit_price,
        cmd.stop_loss_price, order.filled, order.hold, order.fee_num, order.fee_paid,
        order.priority, order.parent_order_id, 0 if sibling is None else sibling.order_id,
        sibling is not None and order.holds_for_sibling, order.pending, cmd.ts,
    ]
