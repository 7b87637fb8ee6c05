"""The rows the writer writes: column orders, an order's row, and a write set.

Rows travel as plain tuples in the `*_COLUMNS` orders below, which is what asyncpg's COPY and
SQLAlchemy's executemany both take without further work. `exchange.store.ledger` makes them
from engine events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from exchange.engine.events import OrderAccepted

# Column orders of the tuples below; `tests/store/test_schema.py` checks them against the
# tables.
ORDER_COLUMNS = (
    "order_id", "account_id", "symbol", "side", "type", "time_in_force", "post_only",
    "self_trade_prevention", "client_order_id", "price", "stop_price", "quantity",
    "quote_quantity", "expire_time", "take_profit_price", "stop_loss_price", "parent_order_id",
    "sibling_order_id", "status", "close_reason", "filled_quantity", "notional", "fee",
    "fee_num", "priority", "created_at", "updated_at", "placed_price", "placed_quantity",
)
ORDER_UPDATE_COLUMNS = (
    "order_id", "price", "quantity", "sibling_order_id", "status", "close_reason",
    "filled_quantity", "notional", "fee", "fee_num", "priority", "updated_at",
)
TRADE_COLUMNS = (
    "trade_id", "symbol", "price", "quantity", "taker_side", "maker_order_id",
    "taker_order_id", "maker_account_id", "taker_account_id", "maker_fee", "taker_fee", "ts",
)
TRANSFER_COLUMNS = ("account_id", "asset", "kind", "amount", "transfer_id", "ts")
BALANCE_COLUMNS = ("account_id", "asset", "total", "held", "updated_at")
ACCOUNT_COLUMNS = ("account_id", "name", "api_key_id", "api_key_hash", "created_at")
ROUND_COLUMNS = (
    "round_id", "name", "starting_balances", "account_ids", "start_ts", "end_ts",
    "first_trade_id", "created_at",
)
STANDING_COLUMNS = (
    "account_id", "symbol", "quantity", "cost_num", "cost_den", "realized_num",
    "realized_den", "fees", "trades", "updated_at",
)
INSTRUMENT_COLUMNS = (
    "symbol", "base", "quote", "tick_size", "lot_size", "min_quantity", "maker_fee_rate",
    "taker_fee_rate", "halted", "created_at", "updated_at", "min_notional", "max_quantity",
)

PENDING = "pending"
DEPOSIT = "deposit"  # transfers.kind
WITHDRAWAL = "withdrawal"
NEW = "new"
PARTIALLY_FILLED = "partially_filled"

# Counter names (see `exchange.store.schema.counters`).
NEXT_ORDER_ID = "next_order_id"
NEXT_TRADE_ID = "next_trade_id"
NEXT_ACCOUNT_ID = "next_account_id"
NEXT_PRIORITY = "next_priority"
WRITES = "writes"
BATCHES = "batches"
SEQUENCE = "sequence:"  # + symbol
LAST_PRICE = "last_price:"  # + symbol
# A clean shutdown's `Engine.state_hash()` (its first 60 bits, to fit the column) and the
# `writes` count it belongs to: any later write leaves the two counts unequal.
STATE_HASH = "state_hash"
STATE_HASH_WRITES = "state_hash_writes"


def stored_state_hash(digest: str) -> int:
    """The part of a state hash kept in the counters table."""
    return int(digest[:15], 16)


class OrderRow:
    """An order's row as stored (or about to be). Attribute names are the column names;
    `stored` tells whether the row exists in the database (an update) or not (an insert)."""

    __slots__ = (*ORDER_COLUMNS, "stored")

    order_id: int
    account_id: int
    symbol: str
    side: str
    type: str
    time_in_force: str
    post_only: bool
    self_trade_prevention: str
    client_order_id: str | None
    price: int | None
    stop_price: int | None
    quantity: int | None
    quote_quantity: int | None
    expire_time: int | None
    take_profit_price: int | None
    stop_loss_price: int | None
    parent_order_id: int | None
    sibling_order_id: int | None
    status: str
    close_reason: str | None
    filled_quantity: int
    notional: int
    fee: int
    fee_num: int
    priority: int
    created_at: int
    updated_at: int
    placed_price: int | None  # as placed, for idempotent repeats after amends
    placed_quantity: int | None
    stored: bool

    def __init__(self, **columns: Any) -> None:
        self.stored = False
        for name in ORDER_COLUMNS:
            setattr(self, name, columns.get(name))

    @classmethod
    def from_tuple(cls, values: Sequence[Any]) -> OrderRow:
        """A row from its values in `ORDER_COLUMNS` order (fast: recovery makes many)."""
        row = cls.__new__(cls)
        row.stored = False
        (
            row.order_id, row.account_id, row.symbol, row.side, row.type,
            row.time_in_force, row.post_only, row.self_trade_prevention,
            row.client_order_id, row.price, row.stop_price, row.quantity,
            row.quote_quantity, row.expire_time, row.take_profit_price, row.stop_loss_price,
            row.parent_order_id, row.sibling_order_id, row.status, row.close_reason,
            row.filled_quantity, row.notional, row.fee, row.fee_num, row.priority,
            row.created_at, row.updated_at, row.placed_price, row.placed_quantity,
        ) = values
        return row

    def as_tuple(self) -> tuple[object, ...]:
        return (
            self.order_id, self.account_id, self.symbol, self.side, self.type,
            self.time_in_force, self.post_only, self.self_trade_prevention,
            self.client_order_id, self.price, self.stop_price, self.quantity,
            self.quote_quantity, self.expire_time, self.take_profit_price, self.stop_loss_price,
            self.parent_order_id, self.sibling_order_id, self.status, self.close_reason,
            self.filled_quantity, self.notional, self.fee, self.fee_num, self.priority,
            self.created_at, self.updated_at, self.placed_price, self.placed_quantity,
        )

    def update_tuple(self) -> tuple[object, ...]:
        return (
            self.order_id, self.price, self.quantity, self.sibling_order_id, self.status,
            self.close_reason, self.filled_quantity, self.notional, self.fee, self.fee_num,
            self.priority, self.updated_at,
        )


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """What the engine does not know about an account: its name and API key (id and hash of
    the secret). A batch may carry these to be written in the same transaction."""

    account_id: int
    name: str | None = None
    api_key_id: str | None = None
    api_key_hash: str | None = None


@dataclass(slots=True)
class WriteSet:
    """The rows of one write transaction (tuples in the `*_COLUMNS` orders)."""

    seq: int  # the `writes` counter after this write: tells a retry whether it committed
    batches: int
    events: int = 0
    new_orders: list[tuple[object, ...]] = field(default_factory=list)
    changed_orders: list[tuple[object, ...]] = field(default_factory=list)
    trades: list[tuple[object, ...]] = field(default_factory=list)
    transfers: list[tuple[object, ...]] = field(default_factory=list)
    new_balances: list[tuple[object, ...]] = field(default_factory=list)
    balances: list[tuple[object, ...]] = field(default_factory=list)  # rows that exist
    accounts: list[tuple[object, ...]] = field(default_factory=list)
    account_infos: list[tuple[object, ...]] = field(default_factory=list)
    instruments: list[tuple[object, ...]] = field(default_factory=list)
    rounds: list[tuple[object, ...]] = field(default_factory=list)
    house: list[tuple[int, bool]] = field(default_factory=list)  # (account_id, house)
    # Accounts whose standings a round cleared (deleted first), then the standings changed.
    cleared_standings: list[int] = field(default_factory=list)
    standings: list[tuple[object, ...]] = field(default_factory=list)
    counters: list[tuple[str, int]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return (
            len(self.new_orders) + len(self.changed_orders) + len(self.trades)
            + len(self.transfers) + len(self.new_balances) + len(self.balances)
            + len(self.accounts)
            + len(self.account_infos) + len(self.instruments) + len(self.counters)
            + len(self.rounds) + len(self.house) + len(self.cleared_standings)
            + len(self.standings)
        )


def new_order_row(ev: OrderAccepted) -> OrderRow:
    """The row of a just accepted order."""
    cmd = ev.order
    row = OrderRow.__new__(OrderRow)
    row.stored = False
    row.order_id = ev.order_id
    row.account_id = cmd.account_id
    row.symbol = cmd.symbol
    row.side = cmd.side
    row.type = cmd.type
    row.time_in_force = cmd.time_in_force
    row.post_only = cmd.post_only
    row.self_trade_prevention = cmd.self_trade_prevention
    row.client_order_id = cmd.client_order_id
    row.price = cmd.price
    row.stop_price = cmd.stop_price
    row.quantity = cmd.quantity
    row.quote_quantity = cmd.quote_quantity
    row.expire_time = cmd.expire_time
    row.take_profit_price = cmd.take_profit_price
    row.stop_loss_price = cmd.stop_loss_price
    row.parent_order_id = ev.parent_order_id or None
    row.sibling_order_id = None
    row.status = PENDING if ev.pending else NEW
    row.close_reason = None
    row.filled_quantity = 0
    row.notional = 0
    row.fee = 0
    row.fee_num = 0
    row.priority = ev.priority
    row.placed_price = cmd.price
    row.placed_quantity = cmd.quantity
    row.created_at = ev.ts
    row.updated_at = ev.ts
    return row
