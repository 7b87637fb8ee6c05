"""The matching engine: one way in (`handle`), events out.

A pure, deterministic, synchronous state machine: no I/O, no clock (commands carry `ts`), no
floats. The same commands always give the same events, so state can be rebuilt by replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from heapq import heappop, heappush
from typing import Any

from exchange.engine.accounts import FEE_ACCOUNT_ID, Account
from exchange.engine.book import Order
from exchange.engine.checks import check_state, state_digest
from exchange.engine.codes import (
    CLOSED_BY_USER,
    GTC,
    GTD,
    LIMIT,
    MARKET,
    STOP_LIMIT,
    STOP_MARKET,
    CloseReason,
    RejectReason,
)
from exchange.engine.commands import (
    AddInstrument,
    AmendOrder,
    AnyCommand,
    CancelAllOrders,
    CancelOrder,
    CreateAccount,
    Deposit,
    ExpireOrders,
    HaltInstrument,
    PlaceOrder,
    ResumeInstrument,
    Withdraw,
)
from exchange.engine.events import (
    AccountCreated,
    AnyEvent,
    BalanceChanged,
    FundsDeposited,
    FundsWithdrawn,
    InstrumentAdded,
    InstrumentStatusChanged,
    OrderAccepted,
    OrderAmended,
    OrderRejected,
    RequestRejected,
)
from exchange.engine.instruments import Instrument
from exchange.engine.state import DEFAULT_MAX_OPEN_ORDERS
from exchange.engine.triggers import Triggers
from exchange.engine.units import RATE_SCALE


class Engine(Triggers):
    """Order books, balances and the rules between them. Not thread-safe: one owner."""

    def __init__(self, *, max_open_orders: int = DEFAULT_MAX_OPEN_ORDERS) -> None:
        super().__init__(max_open_orders=max_open_orders)
        # Dispatch by exact type: `match` with class patterns costs an isinstance() per case,
        # ~200 ns each on msgspec Structs, which the hot path cannot afford.
        self._handlers: dict[type, Callable[[Any], None]] = {
            PlaceOrder: self._place,
            CancelOrder: self._cancel,
            AmendOrder: self._amend,
            CancelAllOrders: self._cancel_all,
            ExpireOrders: self._expire_command,
            Deposit: self._transfer,
            Withdraw: self._transfer,
            CreateAccount: self._create_account,
            AddInstrument: self._add_instrument,
            HaltInstrument: self._set_halted,
            ResumeInstrument: self._set_halted,
        }

    def handle(self, command: AnyCommand) -> list[AnyEvent]:
        """Applies one command and returns its events."""
        events: list[AnyEvent] = []
        self.events = events
        self.ts = ts = command.ts
        if self.expiries and self.expiries[0][0] <= ts:
            self._expire_due(ts)
        handler = self._handlers.get(type(command))
        if handler is None:
            raise TypeError(f"not an engine command: {command!r}")
        handler(command)
        if self.touched:
            for bal in self.touched:
                bal.dirty = False
                events.append(BalanceChanged(bal.account_id, bal.asset, bal.total, bal.held))
            self.touched = []
        return events

    def process(self, commands: Iterable[AnyCommand]) -> list[AnyEvent]:
        """Applies commands in order and returns all their events in one list."""
        out: list[AnyEvent] = []
        handle = self.handle
        for command in commands:
            out += handle(command)
        return out

    # -- ORDERS --

    def _place(self, cmd: PlaceOrder) -> None:
        account = self.accounts.get(cmd.account_id)
        inst = self.instruments.get(cmd.symbol)
        if account is None or inst is None or inst.halted or cmd.account_id == FEE_ACCOUNT_ID:
            self._reject(cmd, self._refusal(cmd, inst) or RejectReason.NOT_FOUND)
            return
        kind = cmd.type
        price = cmd.price
        quantity = cmd.quantity
        if not (
            kind == LIMIT
            and cmd.time_in_force == GTC
            and price is not None
            and price > 0
            and quantity is not None
            and quantity >= inst.min_quantity
            and quantity > 0
            and cmd.stop_price is None
            and cmd.quote_quantity is None
            and cmd.expire_time is None
        ):
            # Not a plain GTC limit: check every field against the type.
            reason = self._invalid(cmd, inst)
            if reason is not None:
                self._reject(cmd, reason)
                return
        if len(account.orders) >= self.max_open_orders:
            self._reject(cmd, RejectReason.TOO_MANY_OPEN_ORDERS)
            return
        is_buy = cmd.side == "buy"
        balances = account.balances
        base_bal = balances.get(inst.base) or account.balance(inst.base)
        quote_bal = balances.get(inst.quote) or account.balance(inst.quote)
        # What the order must hold, from what the account has available.
        if kind in (LIMIT, STOP_LIMIT):
            if cmd.post_only and kind == LIMIT and self.crosses(inst, is_buy, price or 0):
                self._reject(cmd, RejectReason.POST_ONLY_WOULD_TAKE)
                return
            if is_buy:
                notional = (price or 0) * (quantity or 0)
                rate = inst.hold_rate
                if rate:
                    notional -= -(notional * rate) // RATE_SCALE
                hold = notional * inst.quote_mult
                bal = quote_bal
            else:
                hold = (quantity or 0) * inst.base_mult
                bal = base_bal
        elif kind == MARKET:
            if is_buy:
                bal = quote_bal
                hold = bal.total - bal.held
                if cmd.quote_quantity is not None and cmd.quote_quantity < hold:
                    hold = cmd.quote_quantity
                elif hold <= 0 or not self.buys_a_lot(inst, hold):
                    self._reject(cmd, RejectReason.INSUFFICIENT_FUNDS)
                    return
            else:
                bal = base_bal
                if quantity is not None:
                    hold = quantity * inst.base_mult
                else:
                    hold = bal.total - bal.held
                    if hold <= 0:
                        self._reject(cmd, RejectReason.INSUFFICIENT_FUNDS)
                        return
        else:  # a stop-market buy holds nothing until it triggers
            bal = quote_bal if is_buy else base_bal
            hold = 0 if is_buy else (quantity or 0) * inst.base_mult
        if hold > bal.total - bal.held:
            self._reject(cmd, RejectReason.INSUFFICIENT_FUNDS)
            return
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        order = Order(order_id, cmd, account, inst, base_bal, quote_bal)
        priority = self.next_priority
        self.next_priority = priority + 1
        order.priority = priority
        if hold:
            order.hold = hold
            bal.held += hold
            if not bal.dirty:
                bal.dirty = True
                self.touched.append(bal)
        self.orders[order_id] = order
        account.orders[order_id] = order
        stop = kind in (STOP_MARKET, STOP_LIMIT)
        self.events.append(OrderAccepted(order_id, cmd, stop, priority, 0, cmd.ts))
        if cmd.expire_time is not None and cmd.time_in_force == GTD:
            heappush(self.expiries, (cmd.expire_time, order_id))
        if stop:
            self.add_stop(order, inst)
        else:
            order.is_market = kind == MARKET
            self.activate(order, inst)
        if (self.spawn or inst.buy_stops or inst.sell_stops) and self.needs_settle(inst):
            self.settle(inst)

    def _refusal(self, cmd: PlaceOrder, inst: Instrument | None) -> RejectReason | None:
        if cmd.account_id not in self.accounts or cmd.account_id == FEE_ACCOUNT_ID:
            return RejectReason.NOT_FOUND
        if inst is None:
            return RejectReason.UNKNOWN_SYMBOL
        if inst.halted:
            return RejectReason.INSTRUMENT_HALTED
        return None

    def _invalid(self, cmd: PlaceOrder, inst: Instrument) -> RejectReason | None:
        """Checks the fields against the order type; the edges check the same for 400s."""
        kind = cmd.type
        tif = cmd.time_in_force
        quantity = cmd.quantity
        if cmd.side != "buy" and cmd.side != "sell":
            return RejectReason.INVALID_ORDER
        if kind in (LIMIT, STOP_LIMIT):
            if cmd.price is None or cmd.price <= 0 or cmd.quote_quantity is not None:
                return RejectReason.INVALID_ORDER
        elif kind in (MARKET, STOP_MARKET):
            if cmd.price is not None or cmd.post_only or tif not in ("gtc", "ioc"):
                return RejectReason.INVALID_ORDER
            if kind == MARKET and (quantity is None) == (cmd.quote_quantity is None):
                return RejectReason.INVALID_ORDER
            if cmd.quote_quantity is not None and (kind != MARKET or cmd.quote_quantity <= 0):
                return RejectReason.INVALID_ORDER
        else:
            return RejectReason.INVALID_ORDER
        if kind in (STOP_MARKET, STOP_LIMIT):
            if cmd.stop_price is None or cmd.stop_price <= 0 or quantity is None:
                return RejectReason.INVALID_ORDER
        elif cmd.stop_price is not None:
            return RejectReason.INVALID_ORDER
        if quantity is not None:
            if quantity <= 0:
                return RejectReason.INVALID_ORDER
            if quantity < inst.min_quantity:
                return RejectReason.QUANTITY_BELOW_MINIMUM
        if tif == GTD:
            if cmd.expire_time is None or cmd.expire_time <= cmd.ts:
                return RejectReason.INVALID_ORDER
        elif cmd.expire_time is not None or tif not in ("gtc", "ioc", "fok"):
            return RejectReason.INVALID_ORDER
        if cmd.post_only and tif != GTC and tif != GTD:
            return RejectReason.INVALID_ORDER
        if cmd.self_trade_prevention not in (
            "cancel_newest", "cancel_oldest", "cancel_both", "none"
        ):
            return RejectReason.INVALID_ORDER
        for bracket in (cmd.take_profit_price, cmd.stop_loss_price):
            if bracket is not None and bracket <= 0:
                return RejectReason.INVALID_ORDER
        return None

    def _reject(self, cmd: PlaceOrder, reason: RejectReason) -> None:
        self.events.append(OrderRejected(cmd.account_id, reason, cmd.client_order_id, 0, cmd.ts))

    def _own_open(self, account_id: int, order_id: int) -> Order | RejectReason:
        order = self.orders.get(order_id)
        if order is None:
            if 0 < order_id < self.next_order_id:
                return RejectReason.ORDER_NOT_OPEN
            return RejectReason.NOT_FOUND
        if order.account.account_id != account_id:
            return RejectReason.FORBIDDEN
        return order

    def _cancel(self, cmd: CancelOrder) -> None:
        order = self._own_open(cmd.account_id, cmd.order_id)
        if isinstance(order, RejectReason):
            self.events.append(RequestRejected(cmd.account_id, order, cmd.order_id, cmd.ts))
            return
        self.unlink(order)
        self.close(order, CLOSED_BY_USER)
        if self.spawn:
            self.settle(order.instrument)

    def _cancel_all(self, cmd: CancelAllOrders) -> None:
        account = self.accounts.get(cmd.account_id)
        if account is None:
            self.events.append(
                RequestRejected(cmd.account_id, RejectReason.NOT_FOUND, 0, cmd.ts)
            )
            return
        chosen = [
            order for order in account.orders.values()
            if cmd.symbol is None or order.instrument.symbol == cmd.symbol
        ]
        for order in chosen:
            if order.order_id in self.orders:  # a sibling may have gone with its pair
                self.unlink(order)
                self.close(order, CloseReason.USER)
        if self.spawn:
            self.settle(self.spawn[0].instrument)

    def _amend(self, cmd: AmendOrder) -> None:
        found = self._own_open(cmd.account_id, cmd.order_id)
        if isinstance(found, RejectReason):
            self.events.append(RequestRejected(cmd.account_id, found, cmd.order_id, cmd.ts))
            return
        order = found
        inst = order.instrument
        reason = self._amend_refusal(cmd, order, inst)
        if reason is not None:
            self.events.append(RequestRejected(cmd.account_id, reason, cmd.order_id, cmd.ts))
            return
        quantity = order.quantity if cmd.quantity is None else cmd.quantity
        price = order.price if cmd.price is None else cmd.price
        loses_priority = price != order.price or quantity > order.quantity
        resting = order.level is not None
        if resting and loses_priority:
            self.unlink(order)
        elif resting:
            level = order.level
            assert level is not None
            level.quantity -= order.quantity - quantity
        order.quantity = quantity
        order.price = price
        self._rehold(order, inst)
        if loses_priority:
            order.priority = self.take_priority()
        self.events.append(
            OrderAmended(order.order_id, cmd.account_id, price, quantity, order.priority, cmd.ts)
        )
        if resting:
            if loses_priority:
                self.activate(order, inst)
            else:
                level = order.level
                assert level is not None
                self.level_changed(inst, level, order.is_buy)
        if self.needs_settle(inst):
            self.settle(inst)

    def _amend_refusal(
        self, cmd: AmendOrder, order: Order, inst: Instrument
    ) -> RejectReason | None:
        if inst.halted:
            return RejectReason.INSTRUMENT_HALTED
        if cmd.quantity is None and cmd.price is None:
            return RejectReason.INVALID_ORDER
        if order.parent_order_id or order.sibling is not None:
            return RejectReason.INVALID_ORDER  # bracket children move only together
        if cmd.price is not None and (cmd.price <= 0 or order.price is None):
            return RejectReason.INVALID_ORDER
        quantity = order.quantity if cmd.quantity is None else cmd.quantity
        price = order.price if cmd.price is None else cmd.price
        if quantity <= order.filled:
            return RejectReason.INVALID_ORDER
        if quantity < inst.min_quantity:
            return RejectReason.QUANTITY_BELOW_MINIMUM
        if (
            order.command.post_only
            and not order.pending
            and price != order.price
            and self.crosses(inst, order.is_buy, price or 0)
        ):
            return RejectReason.POST_ONLY_WOULD_TAKE
        need = self.required_hold(order, price, quantity)
        bal = order.quote_balance if order.is_buy else order.base_balance
        if need - order.hold > bal.total - bal.held:
            return RejectReason.INSUFFICIENT_FUNDS
        return None

    def _rehold(self, order: Order, inst: Instrument) -> None:
        """Sets an order's hold to what its (amended) remainder needs."""
        need = self.required_hold(order, order.price, order.quantity)
        if need != order.hold:
            bal = order.quote_balance if order.is_buy else order.base_balance
            bal.held += need - order.hold
            order.hold = need
            self.touch(bal)

    def _expire_command(self, cmd: ExpireOrders) -> None:
        """Nothing left to do: `handle` expires due orders before every command."""

    def _expire_due(self, ts: int) -> None:
        expiries = self.expiries
        touched_instruments = []
        while expiries and expiries[0][0] <= ts:
            _, order_id = heappop(expiries)
            order = self.orders.get(order_id)
            if order is not None:
                self.unlink(order)
                self.close(order, CloseReason.GTD)
                touched_instruments.append(order.instrument)
        for inst in touched_instruments:
            if self.needs_settle(inst):
                self.settle(inst)

    # -- ACCOUNTS AND REFERENCE DATA --

    def _create_account(self, cmd: CreateAccount) -> None:
        account_id = self.next_account_id
        self.next_account_id = account_id + 1
        self.accounts[account_id] = Account(account_id)
        self.events.append(AccountCreated(account_id, cmd.ts))

    def _transfer(self, cmd: Deposit | Withdraw) -> None:
        account = self.accounts.get(cmd.account_id)
        key = (cmd.account_id, cmd.transfer_id) if cmd.transfer_id else None
        reason = None
        if account is None or cmd.account_id == FEE_ACCOUNT_ID:
            reason = RejectReason.NOT_FOUND
        elif key is not None and key in self.transfer_ids:
            reason = RejectReason.DUPLICATE_TRANSFER
        elif cmd.amount <= 0 or not cmd.asset:
            reason = RejectReason.INVALID_ORDER
        if reason is not None or account is None:
            self.events.append(
                RequestRejected(cmd.account_id, reason or RejectReason.NOT_FOUND, 0, cmd.ts)
            )
            return
        bal = account.balance(cmd.asset)
        if isinstance(cmd, Withdraw):
            if cmd.amount > bal.total - bal.held:
                self.events.append(
                    RequestRejected(cmd.account_id, RejectReason.INSUFFICIENT_FUNDS, 0, cmd.ts)
                )
                return
            bal.total -= cmd.amount
            self.withdrawn[cmd.asset] = self.withdrawn.get(cmd.asset, 0) + cmd.amount
            self.events.append(
                FundsWithdrawn(cmd.account_id, cmd.asset, cmd.amount, cmd.transfer_id, cmd.ts)
            )
        else:
            bal.total += cmd.amount
            self.deposited[cmd.asset] = self.deposited.get(cmd.asset, 0) + cmd.amount
            self.events.append(
                FundsDeposited(cmd.account_id, cmd.asset, cmd.amount, cmd.transfer_id, cmd.ts)
            )
        if key is not None:
            self.transfer_ids.add(key)
        self.touch(bal)

    def _add_instrument(self, cmd: AddInstrument) -> None:
        if cmd.symbol in self.instruments:
            reason = RejectReason.CONFLICT
        elif not cmd.symbol or not Instrument.valid(cmd):
            reason = RejectReason.INVALID_ORDER
        else:
            self.instruments[cmd.symbol] = Instrument(cmd)
            self.events.append(
                InstrumentAdded(
                    symbol=cmd.symbol, base=cmd.base, quote=cmd.quote, tick_size=cmd.tick_size,
                    lot_size=cmd.lot_size, min_quantity=cmd.min_quantity,
                    maker_fee_rate=cmd.maker_fee_rate, taker_fee_rate=cmd.taker_fee_rate,
                    ts=cmd.ts,
                )
            )
            return
        self.events.append(RequestRejected(FEE_ACCOUNT_ID, reason, 0, cmd.ts))

    def _set_halted(self, cmd: HaltInstrument | ResumeInstrument) -> None:
        inst = self.instruments.get(cmd.symbol)
        if inst is None:
            self.events.append(RequestRejected(FEE_ACCOUNT_ID, RejectReason.NOT_FOUND, 0, cmd.ts))
            return
        inst.halted = isinstance(cmd, HaltInstrument)
        self.events.append(InstrumentStatusChanged(cmd.symbol, inst.halted, cmd.ts))
        if not inst.halted and self.needs_settle(inst):
            self.settle(inst)  # stops that came due while halted (bracket stop-losses)

    # -- SELF-CHECKS (never from `handle`: each walks the whole state) --

    def check(self) -> None:
        """Raises `InvariantError` unless every invariant holds: books sorted and uncrossed,
        level totals equal to their orders, holds equal to what open orders need, every
        asset conserved (`exchange.engine.checks`)."""
        check_state(self)

    def state_hash(self) -> str:
        """SHA-256 hex digest of the whole state: equal for two engines in the same state,
        whether fed the same commands or rebuilt from stored records."""
        return state_digest(self)

    # -- INSPECTION (tests, snapshots, read models) --

    def depth(self, symbol: str, limit: int | None = None) -> tuple[
        list[tuple[int, int, int]], list[tuple[int, int, int]]
    ]:
        """`(bids, asks)` as `(price, quantity, order_count)` from the best level out."""
        inst = self.instruments[symbol]
        return inst.bids.depth(limit), inst.asks.depth(limit)

    def balance(self, account_id: int, asset: str) -> tuple[int, int]:
        """`(total, held)` of an account's asset."""
        bal = self.accounts[account_id].balances.get(asset)
        return (0, 0) if bal is None else (bal.total, bal.held)
