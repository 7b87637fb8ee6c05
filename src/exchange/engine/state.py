"""The engine's state and the small helpers every part of it uses."""

from __future__ import annotations

from exchange.engine.accounts import FEE_ACCOUNT_ID, Account, Balance
from exchange.engine.book import Order
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
