"""The engine's state and the small helpers every part of it uses."""

from __future__ import annotations

from exchange.engine.accounts import FEE_ACCOUNT_ID, Account, Balance
from exchange.engine.book import Order
from exchange.engine.codes import OrderType
from exchange.engine.events import AnyEvent
from exchange.engine.instruments import Instrument
from exchange.engine.units import fee_ceil

DEFAULT_MAX_OPEN_ORDERS = 10_000


class EngineState:
    """Everything the engine knows. Only the engine's own thread may touch it."""

    def __init__(self, *, max_open_orders: int = DEFAULT_MAX_OPEN_ORDERS) -> None:
        self.max_open_orders = max_open_orders
        self.instruments: dict[str, Instrument] = {}
        self.accounts: dict[int, Account] = {FEE_ACCOUNT_ID: Account(FEE_ACCOUNT_ID)}
        self.orders: dict[int, Order] = {}  # open and pending orders
        self.transfer_ids: set[tuple[int, str]] = set()
        # Units of each asset ever deposited and withdrawn: what the accounts' totals must
        # add up to (`check`), since trades and fees only move units between accounts.
        self.deposited: dict[str, int] = {}
        self.withdrawn: dict[str, int] = {}
        self.expiries: list[tuple[int, int]] = []  # heap of (expire_time, order_id)
        self.next_order_id = 1
        self.next_trade_id = 1
        self.next_account_id = 1
        self.next_priority = 1
        # Per-command scratch: the events being produced, the balances changed so far, and
        # bracket parents that finished and wait for their children to be created.
        self.ts = 0
        self.events: list[AnyEvent] = []
        self.touched: list[Balance] = []
        self.spawn: list[Order] = []

    def touch(self, balance: Balance) -> None:
        if not balance.dirty:
            balance.dirty = True
            self.touched.append(balance)

    def take_priority(self) -> int:
        priority = self.next_priority
        self.next_priority = priority + 1
        return priority

    def required_hold(self, order: Order, price: int | None, quantity: int) -> int:
        """What an open (resting or pending) order must hold at `price` for a total of
        `quantity`: the one rule behind placement, amends and recovery. A stop-market buy
        holds nothing until it triggers; a bracket stop-loss sell shares its take-profit's
        hold; a buy holds `buy_hold`, a sell its remaining base."""
        remaining = quantity - order.filled
        inst = order.instrument
        if order.is_buy:
            if order.command.type == OrderType.STOP_MARKET:
                return 0
            return self.buy_hold(inst, price or 0, remaining, order.fee_num, order.fee_paid)
        if order.sibling is not None and not order.holds_for_sibling:
            return 0
        return remaining * inst.base_mult

    @staticmethod
    def buy_hold(inst: Instrument, price: int, remaining: int, fee_num: int, fee_paid: int) -> int:
        """Quote units a buy must hold to pay for `remaining` lots at `price` with the highest
        fee. Fees are charged cumulatively per order (each fill pays the rise of
        `ceil(sum(notional * rate))`), so this bound never falls short of what later fills
        take, whatever prices and rates they get."""
        notional = price * remaining
        rate = inst.hold_rate
        if rate:
            return (notional + fee_ceil(fee_num + notional * rate) - fee_paid) * inst.quote_mult
        return notional * inst.quote_mult
