"""Events: the engine's only output, in the order the engine made them.

Each command gives a list of events. Every order that is accepted gets exactly one terminal
event (`OrderFilled`, `OrderCancelled`, `OrderExpired` or, for a stop rejected when it
triggers, `OrderRejected` with its `order_id`), so a consumer can derive every order's status
without knowing the matching rules. `BalanceChanged` is emitted once per changed
(account, asset) per command, after the command's other events, with the absolute values.
`BookLevelChanged` carries the absolute level and the symbol's book sequence, which rises by
one per event.

Units as in `exchange.engine.commands`. Events are frozen `msgspec.Struct`s.
"""

from decimal import Decimal

import msgspec

from exchange.engine.codes import CloseReason, RejectReason, Side
from exchange.engine.commands import PlaceOrder


class Event(msgspec.Struct, frozen=True, gc=False):
    pass


class InstrumentAdded(Event, frozen=True, gc=False, kw_only=True):
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: int
    maker_fee_rate: Decimal
    taker_fee_rate: Decimal
    ts: int
    min_notional: int = 0  # quote asset units; 0: none
    max_quantity: int = 0  # lots; 0: none


class InstrumentStatusChanged(Event, frozen=True, gc=False):
    symbol: str
    halted: bool
    ts: int


class AccountCreated(Event, frozen=True, gc=False):
    account_id: int
    ts: int


class AccountUpdated(Event, frozen=True, gc=False):
    account_id: int
    house: bool
    ts: int


class RoundStarted(Event, frozen=True, gc=False, kw_only=True):
    """A round's accounts were reset (their cancels and transfers come before this event, in
    the same command). Trades from `first_trade_id` on count for the round."""

    round_id: int
    name: str
    account_ids: tuple[int, ...]
    balances: dict[str, int]
    start: int
    end: int
    first_trade_id: int
    ts: int


class FundsDeposited(Event, frozen=True, gc=False):
    account_id: int
    asset: str
    amount: int
    transfer_id: str | None
    ts: int


class FundsWithdrawn(Event, frozen=True, gc=False):
    account_id: int
    asset: str
    amount: int
    transfer_id: str | None
    ts: int


class RequestRejected(Event, frozen=True, gc=False):
    """A cancel, amend, transfer or admin command refused; nothing changed."""

    account_id: int
    reason: RejectReason
    order_id: int
    ts: int


class OrderAccepted(Event, frozen=True, gc=False):
    """A new order. `order` is the request as placed (for bracket children, as the engine made
    it); `pending` is true for a stop waiting for its trigger. `priority` orders resting orders
    in time: a recovered book sorts each level by it."""

    order_id: int
    order: PlaceOrder
    pending: bool
    priority: int
    parent_order_id: int
    ts: int


class OrderRejected(Event, frozen=True, gc=False):
    """A placement refused (`order_id` 0: no order exists), or a stop or bracket child refused
    when it would have become active (`order_id` set: the order ends `rejected`)."""

    account_id: int
    reason: RejectReason
    client_order_id: str | None
    order_id: int
    ts: int


class OrderTriggered(Event, frozen=True, gc=False):
    order_id: int
    priority: int
    ts: int


class OrderAmended(Event, frozen=True, gc=False):
    """New total `quantity` and `price`; `priority` changes only when time priority was lost."""

    order_id: int
    account_id: int
    price: int | None
    quantity: int
    priority: int
    ts: int


class TradeExecuted(Event, frozen=True, gc=False):
    """A fill at the maker's price. Fees are in quote asset units."""

    trade_id: int
    symbol: str
    price: int
    quantity: int
    taker_side: Side
    maker_order_id: int
    taker_order_id: int
    maker_account_id: int
    taker_account_id: int
    maker_fee: int
    taker_fee: int
    ts: int


class OrderFilled(Event, frozen=True, gc=False):
    order_id: int
    account_id: int
    ts: int


class OrderCancelled(Event, frozen=True, gc=False):
    order_id: int
    account_id: int
    reason: CloseReason
    ts: int


class OrderExpired(Event, frozen=True, gc=False):
    order_id: int
    account_id: int
    reason: CloseReason
    ts: int


class BookLevelChanged(Event, frozen=True, gc=False):
    symbol: str
    side: Side
    price: int
    quantity: int
    order_count: int
    sequence: int


class BalanceChanged(Event, frozen=True, gc=False):
    account_id: int
    asset: str
    total: int
    held: int


AnyEvent = (
    TradeExecuted
    | BookLevelChanged
    | BalanceChanged
    | OrderAccepted
    | OrderRejected
    | OrderFilled
    | OrderCancelled
    | OrderExpired
    | OrderAmended
    | OrderTriggered
    | RequestRejected
    | FundsDeposited
    | FundsWithdrawn
    | AccountCreated
    | AccountUpdated
    | RoundStarted
    | InstrumentAdded
    | InstrumentStatusChanged
)
