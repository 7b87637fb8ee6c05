"""Enumerations shared by commands and events: sides, order types, statuses and reason codes.

All are `StrEnum`s whose values are the contract's lower-case snake case strings, so an enum
member serialises as itself and compares equal to the plain string.
"""

from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"
    STOP_MARKET = "stop_market"
    STOP_LIMIT = "stop_limit"
    # A stop in the other direction: a sell triggers when the price rises to it, a buy when
    # it falls to it (`exchange.engine.contingent.rises`).
    TAKE_PROFIT_MARKET = "take_profit_market"
    TAKE_PROFIT_LIMIT = "take_profit_limit"


class TimeInForce(StrEnum):
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    GTD = "gtd"


class SelfTradePrevention(StrEnum):
    CANCEL_NEWEST = "cancel_newest"
    CANCEL_OLDEST = "cancel_oldest"
    CANCEL_BOTH = "cancel_both"
    NONE = "none"


class OrderStatus(StrEnum):
    PENDING = "pending"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REJECTED = "rejected"


class CloseReason(StrEnum):
    """Why an order left the book without filling completely."""

    USER = "user"  # cancelled by its owner
    OCO = "oco"  # the other half of a bracket completed or triggered
    IOC = "ioc"  # remainder of an immediate-or-cancel order
    FOK = "fok"  # fill-or-kill that could not fill completely
    MARKET = "market"  # remainder of a market order (book or funds exhausted)
    STP = "stp"  # self-trade prevention
    GTD = "gtd"  # good-till-date time reached


class RejectReason(StrEnum):
    """Business rejections. The values are the contract's error codes."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    UNKNOWN_SYMBOL = "unknown_symbol"
    PRICE_NOT_ON_TICK = "price_not_on_tick"
    QUANTITY_NOT_ON_LOT = "quantity_not_on_lot"
    QUANTITY_BELOW_MINIMUM = "quantity_below_minimum"
    QUANTITY_ABOVE_MAXIMUM = "quantity_above_maximum"  # the instrument's max_quantity
    NOTIONAL_BELOW_MINIMUM = "notional_below_minimum"  # the instrument's min_notional
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    INSTRUMENT_HALTED = "instrument_halted"
    TOO_MANY_OPEN_ORDERS = "too_many_open_orders"
    INVALID_ORDER = "invalid_order"
    ORDER_NOT_OPEN = "order_not_open"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    DUPLICATE_TRANSFER = "duplicate_transfer"
    ROUND_CLOSED = "round_closed"  # the account's round has ended or not yet started


# Members as plain module constants for the hot path: in Python 3.11 a class attribute lookup
# such as `TimeInForce.IOC` costs about 200 ns, a module global a few.
BUY = Side.BUY
SELL = Side.SELL
LIMIT = OrderType.LIMIT
MARKET = OrderType.MARKET
STOP_MARKET = OrderType.STOP_MARKET
STOP_LIMIT = OrderType.STOP_LIMIT
TAKE_PROFIT_MARKET = OrderType.TAKE_PROFIT_MARKET
TAKE_PROFIT_LIMIT = OrderType.TAKE_PROFIT_LIMIT
# Orders that wait for a trigger, by what they become when it comes: a market or a limit order.
TRIGGER_MARKETS = (STOP_MARKET, TAKE_PROFIT_MARKET)
TRIGGER_LIMITS = (STOP_LIMIT, TAKE_PROFIT_LIMIT)
TRIGGERS = (STOP_MARKET, STOP_LIMIT, TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT)
TAKE_PROFITS = (TAKE_PROFIT_MARKET, TAKE_PROFIT_LIMIT)
GTC = TimeInForce.GTC
IOC = TimeInForce.IOC
FOK = TimeInForce.FOK
GTD = TimeInForce.GTD
STP_NONE = SelfTradePrevention.NONE
STP_CANCEL_NEWEST = SelfTradePrevention.CANCEL_NEWEST
STP_CANCEL_OLDEST = SelfTradePrevention.CANCEL_OLDEST
STP_CANCEL_BOTH = SelfTradePrevention.CANCEL_BOTH
CLOSED_BY_USER = CloseReason.USER
CLOSED_BY_OCO = CloseReason.OCO
EXPIRED_IOC = CloseReason.IOC
EXPIRED_FOK = CloseReason.FOK
EXPIRED_MARKET = CloseReason.MARKET
EXPIRED_STP = CloseReason.STP
