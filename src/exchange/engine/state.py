"""The engine's state: instruments, accounts, open orders and the counters. Data only: the
parts that change it (`flow`, `settlement`, `contingent`, `book`) get it passed in."""

from __future__ import annotations

from exchange.engine.accounts import FEE_ACCOUNT_ID, Account
from exchange.engine.book import Order
from exchange.engine.instruments import Instrument

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
        self.next_round_id = 1

    def take_priority(self) -> int:
        priority = self.next_priority
        self.next_priority = priority + 1
        return priority
