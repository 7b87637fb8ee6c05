"""The matching engine: one way in (`handle`), events out.

A pure, deterministic, synchronous state machine: no I/O, no clock (commands carry `ts`), no
floats. The same commands always give the same events, so state can be rebuilt by replay.

The engine dispatches and validates; the work is done by parts it is composed of, each with
one job: the book (`book`) matches, settlement (`settlement`) owns holds and fees,
contingent orders (`contingent`) own stops and bracket pairs, and the order flow (`flow`)
joins them for one command, whose events collect in a `Context` (`context`).
"""

from __future__ import annotations

from collections.abc import Iterable
from heapq import heappop, heappush
from typing import Any

from msgspec.structs import replace

from exchange.engine import book, contingent
from exchange.engine.accounts import FEE_ACCOUNT_ID, Account
from exchange.engine.book import Order
from exchange.engine.checks import check_state, state_digest
from exchange.engine.codes import CloseReason, RejectReason
from exchange.engine.commands import (
    AddInstrument,
    AnyCommand,
    CancelAllOrders,
    CreateAccount,
    Deposit,
    ExpireOrders,
    HaltInstrument,
    PlaceOrder,
    ReplaceOrder,
    ResumeInstrument,
    SetHouse,
    StartRound,
    Withdraw,
)
from exchange.engine.context import Context
from exchange.engine.events import (
    AccountCreated,
    AccountUpdated,
    AnyEvent,
    FundsDeposited,
    FundsWithdrawn,
    InstrumentAdded,
    InstrumentStatusChanged,
    RoundStarted,
)
from exchange.engine.flow import OrderFlow
from exchange.engine.instruments import Instrument
from exchange.engine.names import (
    A_ACCOUNT_ID,
    A_ORDER_ID,
    A_PRICE,
    A_QUANTITY,
    AMEND_ORDER,
    C_ACCOUNT_ID,
    C_ORDER_ID,
    CANCEL_ORDER,
    CLOSED_BY_USER,
    FOK,
    GTC,
    GTD,
    IOC,
    LIMIT,
    MARKET,
    P_ACCOUNT_ID,
    P_EXPIRE_TIME,
    P_POST_ONLY,
    P_PRICE,
    P_QUANTITY,
    P_QUOTE_QUANTITY,
    P_SELF_TRADE_PREVENTION,
    P_SIDE,
    P_STOP_LOSS_PRICE,
    P_STOP_PRICE,
    P_SYMBOL,
    P_TAKE_PROFIT_PRICE,
    P_TIME_IN_FORCE,
    P_TS,
    P_TYPE,
    PLACE_ORDER,
    REPLACE_ORDER,
    STOP_LIMIT,
    STOP_MARKET,
    STP_CANCEL_BOTH,
    STP_CANCEL_NEWEST,
    STP_CANCEL_OLDEST,
    STP_NONE,
    TAKE_PROFIT_LIMIT,
    TAKE_PROFIT_MARKET,
    BalanceChanged,
    OrderAmended,
    OrderRejected,
    RequestRejected,
    astuple,
)
from exchange.engine.settlement import Settlement, held_balance, required_hold
from exchange.engine.state import DEFAULT_MAX_OPEN_ORDERS, EngineState


class Engine:
    """Order books, balances and the rules between them. Not thread-safe: one owner."""

    def __init__(self, *, max_open_orders: int = DEFAULT_MAX_OPEN_ORDERS) -> None:
        self.state = state = EngineState(max_open_orders=max_open_orders)
        self.settlement = settlement = Settlement(state.accounts)
        self.flow = OrderFlow(state, settlement)
        # One context serves every command (`handle` resets it): making one a command, with
        # its three lists, was 3% of the compiled engine's instructions.
        self._ctx = Context(0)

    # The state, read (and, for the counters, set) through the engine as before.

    @property
    def max_open_orders(self) -> int:
        return self.state.max_open_orders

    @property
    def instruments(self) -> dict[str, Instrument]:
        return self.state.instruments

    @property
    def accounts(self) -> dict[int, Account]:
        return self.state.accounts

    @property
    def orders(self) -> dict[int, Order]:
        return self.state.orders

    @property
    def transfer_ids(self) -> set[tuple[int, str]]:
        return self.state.transfer_ids

    @property
    def deposited(self) -> dict[str, int]:
        return self.state.deposited

    @property
    def withdrawn(self) -> dict[str, int]:
        return self.state.withdrawn

    @property
    def expiries(self) -> list[tuple[int, int]]:
        return self.state.expiries

    @property
    def next_order_id(self) -> int:
        return self.state.next_order_id

    @next_order_id.setter
    def next_order_id(self, value: int) -> None:
        self.state.next_order_id = value

    @property
    def next_trade_id(self) -> int:
        return self.state.next_trade_id

    @next_trade_id.setter
    def next_trade_id(self, value: int) -> None:
        self.state.next_trade_id = value

    @property
    def next_account_id(self) -> int:
        return self.state.next_account_id

    @next_account_id.setter
    def next_account_id(self, value: int) -> None:
        self.state.next_account_id = value

    @property
    def next_priority(self) -> int:
        return self.state.next_priority

    @next_priority.setter
    def next_priority(self, value: int) -> None:
        self.state.next_priority = value

    @property
    def next_round_id(self) -> int:
        return self.state.next_round_id

    @next_round_id.setter
    def next_round_id(self, value: int) -> None:
        self.state.next_round_id = value

    def handle(self, command: AnyCommand) -> list[AnyEvent]:
        """Applies one command and returns its events."""
        # The order commands' fields read in one call each (see `names.astuple`); `ts`
        # comes first in every command.
        kind = type(command)
        if kind is PLACE_ORDER or kind is CANCEL_ORDER or kind is AMEND_ORDER:
            fields = astuple(command)
            ts: Any = fields[P_TS]
        else:
            fields = ()
            ts = command.ts
        ctx = self._ctx
        ctx.ts = ts
        events: list[AnyEvent] = []
        ctx.events = events
        if ctx.spawn:
            ctx.spawn = []
        expiries = self.state.expiries
        if expiries and expiries[0][0] <= ts:
            self._expire_due(ctx)
        # Dispatch by exact type, the frequent commands first: each test is one pointer
        # compare, and mypyc turns each call into a direct C call (a dict of bound methods
        # went through a generic call and argument parsing; a `match` on class patterns
        # costs an isinstance() per case).
        if type(command) is PLACE_ORDER:  # (`kind is` would not narrow `command`)
            self._place(ctx, command, fields)
        elif kind is CANCEL_ORDER:
            self._cancel(ctx, fields)
        elif kind is AMEND_ORDER:
            self._amend(ctx, fields)
        elif type(command) is REPLACE_ORDER:
            self._replace(ctx, command)
        elif type(command) is CancelAllOrders:
            self._cancel_all(ctx, command)
        elif type(command) is ExpireOrders:
            pass  # nothing left to do: due orders were expired above
        elif type(command) is Deposit or type(command) is Withdraw:
            self._transfer(ctx, command)
        elif type(command) is CreateAccount:
            self._create_account(ctx, command)
        elif type(command) is SetHouse:
            self._set_house(ctx, command)
        elif type(command) is StartRound:
            self._start_round(ctx, command)
        elif type(command) is AddInstrument:
            self._add_instrument(ctx, command)
        elif type(command) is HaltInstrument or type(command) is ResumeInstrument:
            self._set_halted(ctx, command)
        else:
            raise TypeError(f"not an engine command: {command!r}")
        touched = ctx.touched
        if touched:
            for bal in touched:
                bal.dirty = False
                events.append(BalanceChanged(bal.account_id, bal.asset, bal.total, bal.held))
            touched.clear()
        return events

    def process(self, commands: Iterable[AnyCommand]) -> list[AnyEvent]:
        """Applies commands in order and returns all their events in one list."""
        out: list[AnyEvent] = []
        handle = self.handle
        for command in commands:
            out += handle(command)
        return out

    # -- ORDERS --

    def _place(self, ctx: Context, cmd: PlaceOrder, fields: tuple[Any, ...],
               trial: Order | None = None) -> None:
        """Places `cmd` (`fields`: `astuple(cmd)`), or refuses it with its `OrderRejected`.
        `trial` given: only checks, counting the open order `trial` as gone (see
        `_replace_refusal`)."""
        # The codes read as `str`s (see `names`), compared natively when compiled.
        state = self.state
        account_id: int = fields[P_ACCOUNT_ID]
        account = state.accounts.get(account_id)
        inst = state.instruments.get(fields[P_SYMBOL])
        if account is None or inst is None or inst.halted or account_id == FEE_ACCOUNT_ID:
            self._reject(ctx, cmd, self._refusal(cmd, inst) or RejectReason.NOT_FOUND)
            return
        kind: str = fields[P_TYPE]
        price: int | None = fields[P_PRICE]
        quantity: int | None = fields[P_QUANTITY]
        tif: str = fields[P_TIME_IN_FORCE]
        stop_price: int | None = fields[P_STOP_PRICE]
        quote_quantity: int | None = fields[P_QUOTE_QUANTITY]
        expire_time: int | None = fields[P_EXPIRE_TIME]
        if not (
            kind == LIMIT
            and tif == GTC
            and price is not None
            and price > 0
            and quantity is not None
            and quantity >= inst.min_quantity
            and quantity > 0
            and stop_price is None
            and quote_quantity is None
            and expire_time is None
        ):
            # Not a plain GTC limit: check every field against the type.
            reason = self._invalid(fields, inst)
            if reason is not None:
                self._reject(ctx, cmd, reason)
                return
        if inst.filtered:
            reason = inst.refusal(price, stop_price, quantity, quote_quantity)
            if reason is not None:
                self._reject(ctx, cmd, reason)
                return
        if len(account.orders) - (trial is not None) >= state.max_open_orders:
            self._reject(ctx, cmd, RejectReason.TOO_MANY_OPEN_ORDERS)
            return
        if (account.opens_at or account.closes_at) and not self._in_round(account, ctx.ts):
            self._reject(ctx, cmd, RejectReason.ROUND_CLOSED)
            return
        side: str = fields[P_SIDE]
        is_buy = side == "buy"
        base_bal, quote_bal = account.pair(inst.symbol, inst.base, inst.quote)
        if kind == LIMIT and fields[P_POST_ONLY] and book.crosses(inst, is_buy, price or 0):
            self._reject(ctx, cmd, RejectReason.POST_ONLY_WOULD_TAKE)
            return
        hold = self.settlement.new_order_hold(kind, is_buy, price, quantity, quote_quantity,
                                              inst, quote_bal if is_buy else base_bal)
        if hold < 0:
            self._reject(ctx, cmd, RejectReason.INSUFFICIENT_FUNDS)
            return
        if trial is not None:
            return
        flow = self.flow
        order = flow.register(ctx, cmd, account, inst, base_bal, quote_bal, hold, 0, fields)
        if expire_time is not None and tif == GTD:
            heappush(state.expiries, (expire_time, order.order_id))
        if kind in (STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT):
            flow.add_stop(ctx, order, inst)
        else:
            order.is_market = kind == MARKET
            flow.activate(ctx, order, inst)
        if (ctx.spawn or inst.buy_stops or inst.sell_stops) and flow.needs_settle(ctx, inst):
            flow.settle(ctx, inst)

    @staticmethod
    def _in_round(account: Account, ts: int) -> bool:
        return ts >= account.opens_at and (not account.closes_at or ts < account.closes_at)

    def _refusal(self, cmd: PlaceOrder, inst: Instrument | None) -> RejectReason | None:
        if cmd.account_id not in self.state.accounts or cmd.account_id == FEE_ACCOUNT_ID:
            return RejectReason.NOT_FOUND
        if inst is None:
            return RejectReason.UNKNOWN_SYMBOL
        if inst.halted:
            return RejectReason.INSTRUMENT_HALTED
        return None

    @staticmethod
    def _invalid(fields: tuple[Any, ...], inst: Instrument) -> RejectReason | None:
        """Checks a placement's fields (`astuple` of its command) against its order type;
        the edges check the same for 400s. Read from the tuple: each attribute read of a
        msgspec Struct from compiled code is a generic lookup."""
        kind: str = fields[P_TYPE]
        tif: str = fields[P_TIME_IN_FORCE]
        side: object = fields[P_SIDE]
        price: int | None = fields[P_PRICE]
        quantity: int | None = fields[P_QUANTITY]
        quote_quantity: int | None = fields[P_QUOTE_QUANTITY]
        stop_price: int | None = fields[P_STOP_PRICE]
        expire_time: int | None = fields[P_EXPIRE_TIME]
        post_only: object = fields[P_POST_ONLY]
        if side != "buy" and side != "sell":
            return RejectReason.INVALID_ORDER
        trigger = kind in (STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT)
        if kind in (LIMIT, STOP_LIMIT, TAKE_PROFIT_LIMIT):
            if price is None or price <= 0 or quote_quantity is not None:
                return RejectReason.INVALID_ORDER
        elif kind in (MARKET, STOP_MARKET, TAKE_PROFIT_MARKET):
            if price is not None or post_only or (tif != GTC and tif != IOC):
                return RejectReason.INVALID_ORDER
            if kind == MARKET and (quantity is None) == (quote_quantity is None):
                return RejectReason.INVALID_ORDER
            if quote_quantity is not None and (kind != MARKET or quote_quantity <= 0):
                return RejectReason.INVALID_ORDER
        else:
            return RejectReason.INVALID_ORDER
        if trigger:
            if stop_price is None or stop_price <= 0 or quantity is None:
                return RejectReason.INVALID_ORDER
        elif stop_price is not None:
            return RejectReason.INVALID_ORDER
        if quantity is not None:
            if quantity <= 0:
                return RejectReason.INVALID_ORDER
            if quantity < inst.min_quantity:
                return RejectReason.QUANTITY_BELOW_MINIMUM
        if tif == GTD:
            ts: int = fields[P_TS]
            if expire_time is None or expire_time <= ts:
                return RejectReason.INVALID_ORDER
        elif expire_time is not None or (tif != GTC and tif != IOC and tif != FOK):
            return RejectReason.INVALID_ORDER
        if post_only and tif != GTC and tif != GTD:
            return RejectReason.INVALID_ORDER
        stp: object = fields[P_SELF_TRADE_PREVENTION]
        if (stp != STP_CANCEL_NEWEST and stp != STP_CANCEL_OLDEST and stp != STP_CANCEL_BOTH
                and stp != STP_NONE):
            return RejectReason.INVALID_ORDER
        take_profit: int | None = fields[P_TAKE_PROFIT_PRICE]
        stop_loss: int | None = fields[P_STOP_LOSS_PRICE]
        if (take_profit is not None and take_profit <= 0) or (
            stop_loss is not None and stop_loss <= 0
        ):
            return RejectReason.INVALID_ORDER
        return None

    def _reject(self, ctx: Context, cmd: PlaceOrder, reason: RejectReason) -> None:
        ctx.events.append(OrderRejected(cmd.account_id, reason, cmd.client_order_id, 0, cmd.ts))

    def _own_open(self, account_id: int, order_id: int) -> Order | RejectReason:
        order = self.state.orders.get(order_id)
        if order is None:
            if 0 < order_id < self.state.next_order_id:
                return RejectReason.ORDER_NOT_OPEN
            return RejectReason.NOT_FOUND
        if order.account.account_id != account_id:
            return RejectReason.FORBIDDEN
        return order

    def _cancel(self, ctx: Context, fields: tuple[Any, ...]) -> None:
        """A `CancelOrder`, by its fields (`astuple`)."""
        account_id: int = fields[C_ACCOUNT_ID]
        order_id: int = fields[C_ORDER_ID]
        order = self._own_open(account_id, order_id)
        if isinstance(order, RejectReason):
            ctx.events.append(RequestRejected(account_id, order, order_id, ctx.ts))
            return
        self._cancel_open(ctx, order)

    def _cancel_open(self, ctx: Context, order: Order) -> None:
        flow = self.flow
        flow.unlink(ctx, order)
        flow.close(ctx, order, CLOSED_BY_USER)
        if ctx.spawn:
            flow.settle(ctx, order.instrument)

    def _replace(self, ctx: Context, cmd: ReplaceOrder) -> None:
        """Cancel and place in one step; see `ReplaceOrder`."""
        place = replace(cmd.order, account_id=cmd.account_id, ts=cmd.ts)
        found = self._own_open(cmd.account_id, cmd.order_id)
        if isinstance(found, RejectReason):
            ctx.events.append(RequestRejected(cmd.account_id, found, cmd.order_id, cmd.ts))
            if cmd.allow_failure:
                self._place(ctx, place, astuple(place))
            return
        if not cmd.allow_failure:
            refusal = self._replace_refusal(place, found)
            if refusal is not None:
                ctx.events.append(refusal)
                return
        self._cancel_open(ctx, found)
        self._place(ctx, place, astuple(place))

    def _replace_refusal(self, cmd: PlaceOrder, target: Order) -> AnyEvent | None:
        """The refusal `_place` would give `cmd` once `target` is cancelled, found without
        cancelling it: `_place`'s own checks (a trial) against the state as the cancel
        would leave it, set up here and put back after. What the cancel changes that the
        checks read: the account's open orders (one fewer), what is held (the target's hold
        released; a bracket take-profit's shared hold taken over by its stop-loss) and the
        best price of the target's side (its level gone if it was alone there). A bracket
        parent with fills makes its children as it is cancelled, which may trade: that
        cannot be foreseen, so it is refused whole."""
        if target.filled and contingent.is_bracket_parent(target):
            return OrderRejected(cmd.account_id, RejectReason.INVALID_ORDER,
                                 cmd.client_order_id, 0, cmd.ts)
        released = target.hold
        held = held_balance(target)
        held.held -= released
        sibling = target.sibling
        taken_over = 0
        if sibling is not None and target.holds_for_sibling:
            taken_over = (sibling.quantity - sibling.filled) * sibling.instrument.base_mult
            sibling.base_balance.held += taken_over
        level = target.level
        inst = target.instrument
        side = inst.bids if target.is_buy else inst.asks
        keys = side.keys
        best: int | None = None  # the best key, taken off while the trial runs
        if level is not None and level.count == 1 and keys[-1] == level.price * side.sign:
            best = keys.pop()
        trial = Context(cmd.ts)
        try:
            self._place(trial, cmd, astuple(cmd), target)
        finally:
            if best is not None:
                keys.append(best)
            if sibling is not None:
                sibling.base_balance.held -= taken_over
            held.held += released
        return trial.events[0] if trial.events else None

    def _cancel_all(self, ctx: Context, cmd: CancelAllOrders) -> None:
        account = self.state.accounts.get(cmd.account_id)
        if account is None:
            ctx.events.append(
                RequestRejected(cmd.account_id, RejectReason.NOT_FOUND, 0, cmd.ts)
            )
            return
        chosen = [
            order for order in account.orders.values()
            if cmd.symbol is None or order.instrument.symbol == cmd.symbol
        ]
        flow = self.flow
        orders = self.state.orders
        for order in chosen:
            if order.order_id in orders:  # a sibling may have gone with its pair
                flow.unlink(ctx, order)
                flow.close(ctx, order, CloseReason.USER)
        if ctx.spawn:
            flow.settle(ctx, ctx.spawn[0].instrument)

    def _amend(self, ctx: Context, fields: tuple[Any, ...]) -> None:
        """An `AmendOrder`, by its fields (`astuple`)."""
        account_id: int = fields[A_ACCOUNT_ID]
        order_id: int = fields[A_ORDER_ID]
        new_quantity: int | None = fields[A_QUANTITY]
        new_price: int | None = fields[A_PRICE]
        found = self._own_open(account_id, order_id)
        if isinstance(found, RejectReason):
            ctx.events.append(RequestRejected(account_id, found, order_id, ctx.ts))
            return
        order = found
        inst = order.instrument
        reason = self._amend_refusal(new_quantity, new_price, order, inst)
        if reason is not None:
            ctx.events.append(RequestRejected(account_id, reason, order_id, ctx.ts))
            return
        quantity = order.quantity if new_quantity is None else new_quantity
        price = order.price if new_price is None else new_price
        loses_priority = price != order.price or quantity > order.quantity
        resting = order.level is not None
        flow = self.flow
        if resting and loses_priority:
            flow.unlink(ctx, order)
        elif resting:
            level = order.level
            assert level is not None
            level.quantity -= order.quantity - quantity
        order.quantity = quantity
        order.price = price
        self.settlement.rehold(ctx, order)
        if loses_priority:
            order.priority = self.state.take_priority()
        ctx.events.append(
            OrderAmended(order.order_id, account_id, price, quantity, order.priority, ctx.ts)
        )
        if resting:
            if loses_priority:
                flow.activate(ctx, order, inst)
            else:
                level = order.level
                assert level is not None
                book.level_changed(ctx, inst, level, order.is_buy)
        if flow.needs_settle(ctx, inst):
            flow.settle(ctx, inst)

    @staticmethod
    def _amend_refusal(
        new_quantity: int | None, new_price: int | None, order: Order, inst: Instrument
    ) -> RejectReason | None:
        if inst.halted:
            return RejectReason.INSTRUMENT_HALTED
        if new_quantity is None and new_price is None:
            return RejectReason.INVALID_ORDER
        if order.parent_order_id or order.sibling is not None:
            return RejectReason.INVALID_ORDER  # bracket children move only together
        if new_price is not None and (new_price <= 0 or order.price is None):
            return RejectReason.INVALID_ORDER
        quantity = order.quantity if new_quantity is None else new_quantity
        price = order.price if new_price is None else new_price
        if quantity <= order.filled:
            return RejectReason.INVALID_ORDER
        if quantity < inst.min_quantity:
            return RejectReason.QUANTITY_BELOW_MINIMUM
        if inst.filtered:
            reason = inst.refusal(price, order.command.stop_price, quantity, None)
            if reason is not None:
                return reason
        if (
            order.command.post_only
            and not order.pending
            and price != order.price
            and book.crosses(inst, order.is_buy, price or 0)
        ):
            return RejectReason.POST_ONLY_WOULD_TAKE
        need = required_hold(order, price, quantity)
        bal = order.quote_balance if order.is_buy else order.base_balance
        if need - order.hold > bal.total - bal.held:
            return RejectReason.INSUFFICIENT_FUNDS
        return None

    def _expire_due(self, ctx: Context) -> None:
        ts = ctx.ts
        expiries = self.state.expiries
        orders = self.state.orders
        flow = self.flow
        touched_instruments = []
        while expiries and expiries[0][0] <= ts:
            _, order_id = heappop(expiries)
            order = orders.get(order_id)
            if order is not None:
                flow.unlink(ctx, order)
                flow.close(ctx, order, CloseReason.GTD)
                touched_instruments.append(order.instrument)
        for inst in touched_instruments:
            if flow.needs_settle(ctx, inst):
                flow.settle(ctx, inst)

    # -- ACCOUNTS AND REFERENCE DATA --

    def _create_account(self, ctx: Context, cmd: CreateAccount) -> None:
        state = self.state
        account_id = state.next_account_id
        state.next_account_id = account_id + 1
        state.accounts[account_id] = Account(account_id)
        ctx.events.append(AccountCreated(account_id, cmd.ts))

    def _set_house(self, ctx: Context, cmd: SetHouse) -> None:
        account = self.state.accounts.get(cmd.account_id)
        if account is None or cmd.account_id == FEE_ACCOUNT_ID:
            ctx.events.append(
                RequestRejected(cmd.account_id, RejectReason.NOT_FOUND, 0, cmd.ts)
            )
            return
        account.house = cmd.house
        ctx.events.append(AccountUpdated(cmd.account_id, cmd.house, cmd.ts))

    def _start_round(self, ctx: Context, cmd: StartRound) -> None:
        """Resets the round's accounts; see `StartRound`. Refused whole or done whole."""
        reason = self._round_refusal(cmd)
        if reason is not None:
            ctx.events.append(RequestRejected(FEE_ACCOUNT_ID, reason, 0, cmd.ts))
            return
        state = self.state
        ids = cmd.account_ids or tuple(
            account_id for account_id, account in state.accounts.items()
            if account_id != FEE_ACCOUNT_ID and not account.house
        )
        ts = cmd.ts
        events = ctx.events
        flow = self.flow
        orders = state.orders
        for account_id in ids:
            account = state.accounts[account_id]
            # A partly filled bracket parent leaves children when it is cancelled: they are
            # made (and cancelled) in the next pass, so none survives the reset.
            while account.orders:
                for order in list(account.orders.values()):
                    if order.order_id in orders:  # a sibling may have gone with its pair
                        flow.unlink(ctx, order)
                        flow.close(ctx, order, CloseReason.USER)
                while ctx.spawn:
                    flow.settle(ctx, ctx.spawn[0].instrument)
            # Every hold went with its order: what is left is the whole total, so a
            # withdrawal of it cannot fail. Sorted, so replay gives the same events.
            for asset in sorted(set(account.balances) | set(cmd.balances)):
                target = cmd.balances.get(asset, 0)
                bal = account.balances.get(asset)
                if bal is None:
                    if not target:
                        continue
                    bal = account.balance(asset)
                change = target - bal.total
                if change > 0:
                    events.append(FundsDeposited(account_id, asset, change, None, ts))
                    state.deposited[asset] = state.deposited.get(asset, 0) + change
                elif change < 0:
                    events.append(FundsWithdrawn(account_id, asset, -change, None, ts))
                    state.withdrawn[asset] = state.withdrawn.get(asset, 0) - change
                else:
                    continue
                bal.total = target
                ctx.touch(bal)
            account.opens_at = cmd.start
            account.closes_at = cmd.end
        round_id = state.next_round_id
        state.next_round_id = round_id + 1
        events.append(RoundStarted(
            round_id=round_id, name=cmd.name, account_ids=ids, balances=dict(cmd.balances),
            start=cmd.start, end=cmd.end, first_trade_id=state.next_trade_id, ts=ts,
        ))

    def _round_refusal(self, cmd: StartRound) -> RejectReason | None:
        state = self.state
        for account_id in cmd.account_ids:
            if account_id == FEE_ACCOUNT_ID or account_id not in state.accounts:
                return RejectReason.NOT_FOUND
        if len(set(cmd.account_ids)) != len(cmd.account_ids) or not cmd.name:
            return RejectReason.INVALID_ORDER
        if not cmd.account_ids and not any(
            not account.house for account_id, account in state.accounts.items()
            if account_id != FEE_ACCOUNT_ID
        ):
            return RejectReason.INVALID_ORDER
        known = set()
        for inst in state.instruments.values():
            known.add(inst.base)
            known.add(inst.quote)
        for asset, amount in cmd.balances.items():
            if asset not in known or amount < 0:
                return RejectReason.INVALID_ORDER
        if cmd.start < 0 or cmd.end < 0 or (cmd.end and cmd.end <= max(cmd.start, cmd.ts)):
            return RejectReason.INVALID_ORDER
        return None

    def _transfer(self, ctx: Context, cmd: Deposit | Withdraw) -> None:
        state = self.state
        account = state.accounts.get(cmd.account_id)
        key = (cmd.account_id, cmd.transfer_id) if cmd.transfer_id else None
        reason = None
        if account is None or cmd.account_id == FEE_ACCOUNT_ID:
            reason = RejectReason.NOT_FOUND
        elif key is not None and key in state.transfer_ids:
            reason = RejectReason.DUPLICATE_TRANSFER
        elif cmd.amount <= 0 or not cmd.asset:
            reason = RejectReason.INVALID_ORDER
        if reason is not None or account is None:
            ctx.events.append(
                RequestRejected(cmd.account_id, reason or RejectReason.NOT_FOUND, 0, cmd.ts)
            )
            return
        bal = account.balance(cmd.asset)
        if isinstance(cmd, Withdraw):
            if cmd.amount > bal.total - bal.held:
                ctx.events.append(
                    RequestRejected(cmd.account_id, RejectReason.INSUFFICIENT_FUNDS, 0, cmd.ts)
                )
                return
            bal.total -= cmd.amount
            state.withdrawn[cmd.asset] = state.withdrawn.get(cmd.asset, 0) + cmd.amount
            ctx.events.append(
                FundsWithdrawn(cmd.account_id, cmd.asset, cmd.amount, cmd.transfer_id, cmd.ts)
            )
        else:
            bal.total += cmd.amount
            state.deposited[cmd.asset] = state.deposited.get(cmd.asset, 0) + cmd.amount
            ctx.events.append(
                FundsDeposited(cmd.account_id, cmd.asset, cmd.amount, cmd.transfer_id, cmd.ts)
            )
        if key is not None:
            state.transfer_ids.add(key)
        ctx.touch(bal)

    def _add_instrument(self, ctx: Context, cmd: AddInstrument) -> None:
        instruments = self.state.instruments
        if cmd.symbol in instruments:
            reason = RejectReason.CONFLICT
        elif not cmd.symbol or not Instrument.valid(cmd):
            reason = RejectReason.INVALID_ORDER
        else:
            instruments[cmd.symbol] = Instrument(cmd)
            ctx.events.append(
                InstrumentAdded(
                    symbol=cmd.symbol, base=cmd.base, quote=cmd.quote, tick_size=cmd.tick_size,
                    lot_size=cmd.lot_size, min_quantity=cmd.min_quantity,
                    maker_fee_rate=cmd.maker_fee_rate, taker_fee_rate=cmd.taker_fee_rate,
                    ts=cmd.ts, min_notional=cmd.min_notional, max_quantity=cmd.max_quantity,
                )
            )
            return
        ctx.events.append(RequestRejected(FEE_ACCOUNT_ID, reason, 0, cmd.ts))

    def _set_halted(self, ctx: Context, cmd: HaltInstrument | ResumeInstrument) -> None:
        inst = self.state.instruments.get(cmd.symbol)
        if inst is None:
            ctx.events.append(RequestRejected(FEE_ACCOUNT_ID, RejectReason.NOT_FOUND, 0, cmd.ts))
            return
        inst.halted = isinstance(cmd, HaltInstrument)
        ctx.events.append(InstrumentStatusChanged(cmd.symbol, inst.halted, cmd.ts))
        if not inst.halted and self.flow.needs_settle(ctx, inst):
            self.flow.settle(ctx, inst)  # stops that came due while halted (bracket stop-losses)

    # -- SELF-CHECKS (never from `handle`: each walks the whole state) --

    def check(self) -> None:
        """Raises `InvariantError` unless every invariant holds: books sorted and uncrossed,
        level totals equal to their orders, holds equal to what open orders need, every
        asset conserved (`exchange.engine.checks`)."""
        check_state(self.state)

    def state_hash(self) -> str:
        """SHA-256 hex digest of the whole state: equal for two engines in the same state,
        whether fed the same commands or rebuilt from stored records."""
        return state_digest(self.state)

    # -- INSPECTION (tests, snapshots, read models) --

    def depth(self, symbol: str, limit: int | None = None) -> tuple[
        list[tuple[int, int, int]], list[tuple[int, int, int]]
    ]:
        """`(bids, asks)` as `(price, quantity, order_count)` from the best level out."""
        inst = self.state.instruments[symbol]
        return inst.bids.depth(limit), inst.asks.depth(limit)

    def balance(self, account_id: int, asset: str) -> tuple[int, int]:
        """`(total, held)` of an account's asset."""
        bal = self.state.accounts[account_id].balances.get(asset)
        return (0, 0) if bal is None else (bal.total, bal.held)
