"""Commands: the engine's only input.

Every command carries `ts`, the time the sequencer gave it, in integer microseconds since the
Unix epoch: the engine never reads a clock, so the same commands always give the same events.

Units: prices are integer ticks of the instrument, quantities integer lots, and amounts of an
asset integer units of `10**-ASSET_DECIMALS` (see `exchange.engine.units`). Conversion from
and to decimal strings happens at the edges.

Commands are frozen `msgspec.Struct`s: slotted and immutable like a frozen dataclass, about
fourteen times cheaper to build, and encodable to JSON or MessagePack for a message bus.
"""

from decimal import Decimal

import msgspec

from exchange.engine.codes import OrderType, SelfTradePrevention, Side, TimeInForce


class Command(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    ts: int = 0


# -- REFERENCE DATA --


class AddInstrument(Command, frozen=True, gc=False, kw_only=True):
    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: int = 1  # lots
    maker_fee_rate: Decimal = Decimal(0)
    taker_fee_rate: Decimal = Decimal(0)
    # Filters (see `Instrument.refusal`): 0 is none.
    min_notional: int = 0  # quote asset units
    max_quantity: int = 0  # lots


class HaltInstrument(Command, frozen=True, gc=False, kw_only=True):
    symbol: str


class ResumeInstrument(Command, frozen=True, gc=False, kw_only=True):
    symbol: str


class CreateAccount(Command, frozen=True, gc=False, kw_only=True):
    """Creates the next account; the engine assigns `account_id` (see `AccountCreated`)."""


class Deposit(Command, frozen=True, gc=False, kw_only=True):
    """Credits `amount` units; a repeated non-empty `transfer_id` changes nothing."""

    account_id: int
    asset: str
    amount: int
    transfer_id: str | None = None


class Withdraw(Command, frozen=True, gc=False, kw_only=True):
    """Debits `amount` units from what is available; idempotent by `transfer_id` like `Deposit`."""

    account_id: int
    asset: str
    amount: int
    transfer_id: str | None = None


class SetHouse(Command, frozen=True, gc=False, kw_only=True):
    """Flags an account as a house account (a liquidity provider, such as the simulator's
    bots): rounds over "all" accounts leave it alone, and leaderboards do not rank it."""

    account_id: int
    house: bool


class StartRound(Command, frozen=True, gc=False, kw_only=True):
    """Starts the next round (the engine assigns `round_id`, see `RoundStarted`) for
    `account_ids`, or for every account that is neither the fee account nor a house account
    when it is empty. In one command, so in one batch and one transaction: cancels each
    account's open and pending orders, sets each balance to exactly `balances` (units;
    assets not named go to zero) by withdrawals and deposits, and lets the accounts place
    orders only from `start` until before `end` (0: no limit on that side)."""

    name: str
    balances: dict[str, int]
    account_ids: tuple[int, ...] = ()
    start: int = 0
    end: int = 0


# -- TRADING --


class PlaceOrder(Command, frozen=True, gc=False, kw_only=True):
    account_id: int
    symbol: str
    side: Side
    type: OrderType = OrderType.LIMIT
    quantity: int | None = None  # lots
    price: int | None = None  # ticks
    stop_price: int | None = None  # ticks
    quote_quantity: int | None = None  # quote asset units, market orders only
    time_in_force: TimeInForce = TimeInForce.GTC
    expire_time: int | None = None  # microseconds, with GTD
    post_only: bool = False
    self_trade_prevention: SelfTradePrevention = SelfTradePrevention.CANCEL_NEWEST
    client_order_id: str | None = None
    take_profit_price: int | None = None  # ticks
    stop_loss_price: int | None = None  # ticks


class CancelOrder(Command, frozen=True, gc=False, kw_only=True):
    account_id: int
    order_id: int


class CancelAllOrders(Command, frozen=True, gc=False, kw_only=True):
    account_id: int
    symbol: str | None = None


class AmendOrder(Command, frozen=True, gc=False, kw_only=True):
    """Changes a resting order: `quantity` is the new total quantity, `price` the new price."""

    account_id: int
    order_id: int
    quantity: int | None = None
    price: int | None = None


class ReplaceOrder(Command, frozen=True, gc=False, kw_only=True):
    """Cancels the open `order_id` and places `order` in one step (the account is
    `account_id`'s, whatever `order` says). `allow_failure` false: both or neither: a cancel
    that fails places nothing, and a placement the engine would refuse once the order is
    gone (its hold released, its place in the book free) leaves the order as it was,
    with only the refusal as event. True: each half stands on its own: a failed cancel
    still places, a refused placement leaves the cancel done."""

    account_id: int
    order_id: int
    order: PlaceOrder
    allow_failure: bool = False


class ExpireOrders(Command, frozen=True, gc=False, kw_only=True):
    """Expires every good-till-date order whose `expire_time` is at or before `ts`."""


AnyCommand = (
    PlaceOrder
    | CancelOrder
    | AmendOrder
    | ReplaceOrder
    | CancelAllOrders
    | ExpireOrders
    | Deposit
    | Withdraw
    | CreateAccount
    | SetHouse
    | StartRound
    | AddInstrument
    | HaltInstrument
    | ResumeInstrument
)
