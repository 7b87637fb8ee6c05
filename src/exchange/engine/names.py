"""The vocabulary the hot path uses, as `Final` names of a compiled module.

`codes`, `commands` and `events` stay interpreted (enums and msgspec Structs). A name that a
mypyc-compiled module imports from one of them is read out of that module's globals dict,
a string-keyed lookup at every use (about 16 a command on the `mixed` stream, ~2,000
instructions); a `Final` name of a compiled module is read from a C static. So the hot
modules import these: the same objects, under the same names (the command classes under
upper-case ones, since the engine also annotates with the classes themselves). In pure
Python they cost what the original imports cost.
"""

from __future__ import annotations

from typing import Final

import msgspec.structs

from exchange.engine import codes, commands, events

# Typed `str` (they are `StrEnum` members, which compare equal to the plain strings): mypyc
# compares two `str`s natively (identity first, then length), an enum member through
# `PyObject_RichCompare`. The hot path reads a command's codes into `str` locals for this.
BUY: Final = codes.BUY  # Side, for events
SELL: Final = codes.SELL
LIMIT: Final[str] = codes.LIMIT
MARKET: Final[str] = codes.MARKET
STOP_MARKET: Final[str] = codes.STOP_MARKET
STOP_LIMIT: Final[str] = codes.STOP_LIMIT
TAKE_PROFIT_MARKET: Final[str] = codes.TAKE_PROFIT_MARKET
TAKE_PROFIT_LIMIT: Final[str] = codes.TAKE_PROFIT_LIMIT
GTC: Final[str] = codes.GTC
GTD: Final[str] = codes.GTD
IOC: Final[str] = codes.IOC
FOK: Final[str] = codes.FOK
STP_NONE: Final[str] = codes.STP_NONE
STP_CANCEL_NEWEST: Final[str] = codes.STP_CANCEL_NEWEST
STP_CANCEL_OLDEST: Final[str] = codes.STP_CANCEL_OLDEST
STP_CANCEL_BOTH: Final[str] = codes.STP_CANCEL_BOTH
# `x in TRIGGERS` on a tuple name is a generic containment test; the hot path spells the
# tuple out (`x in (STOP_MARKET, ...)`), which mypyc turns into native compares, and each
# type's name has a length of its own, so a mismatch costs a length test.
TRIGGERS: Final = codes.TRIGGERS
TRIGGER_LIMITS: Final = codes.TRIGGER_LIMITS
TRIGGER_MARKETS: Final = codes.TRIGGER_MARKETS
TAKE_PROFITS: Final = codes.TAKE_PROFITS
CLOSED_BY_USER: Final = codes.CLOSED_BY_USER
CLOSED_BY_OCO: Final = codes.CLOSED_BY_OCO
EXPIRED_IOC: Final = codes.EXPIRED_IOC
EXPIRED_FOK: Final = codes.EXPIRED_FOK
EXPIRED_MARKET: Final = codes.EXPIRED_MARKET
EXPIRED_STP: Final = codes.EXPIRED_STP

# Commands, for the engine's dispatch by exact type.
PLACE_ORDER: Final = commands.PlaceOrder
CANCEL_ORDER: Final = commands.CancelOrder
AMEND_ORDER: Final = commands.AmendOrder
REPLACE_ORDER: Final = commands.ReplaceOrder

# Events the hot path builds.
BalanceChanged: Final = events.BalanceChanged
BookLevelChanged: Final = events.BookLevelChanged
OrderAccepted: Final = events.OrderAccepted
OrderAmended: Final = events.OrderAmended
OrderCancelled: Final = events.OrderCancelled
OrderExpired: Final = events.OrderExpired
OrderFilled: Final = events.OrderFilled
OrderRejected: Final = events.OrderRejected
OrderTriggered: Final = events.OrderTriggered
RequestRejected: Final = events.RequestRejected
TradeExecuted: Final = events.TradeExecuted

# A `PlaceOrder`'s fields by position, for `astuple` (`msgspec.structs`): one C call copies
# them all, where each attribute read from compiled code is a generic lookup (~145
# instructions on this build). Derived from the Struct itself, so they follow its order.
astuple: Final = msgspec.structs.astuple
_PLACE_FIELDS: Final = commands.PlaceOrder.__struct_fields__
P_TS: Final = _PLACE_FIELDS.index("ts")  # 0 in every command: `Command.ts` comes first
P_ACCOUNT_ID: Final = _PLACE_FIELDS.index("account_id")
P_SYMBOL: Final = _PLACE_FIELDS.index("symbol")
P_SIDE: Final = _PLACE_FIELDS.index("side")
P_TYPE: Final = _PLACE_FIELDS.index("type")
P_QUANTITY: Final = _PLACE_FIELDS.index("quantity")
P_PRICE: Final = _PLACE_FIELDS.index("price")
P_STOP_PRICE: Final = _PLACE_FIELDS.index("stop_price")
P_QUOTE_QUANTITY: Final = _PLACE_FIELDS.index("quote_quantity")
P_TIME_IN_FORCE: Final = _PLACE_FIELDS.index("time_in_force")
P_EXPIRE_TIME: Final = _PLACE_FIELDS.index("expire_time")
P_POST_ONLY: Final = _PLACE_FIELDS.index("post_only")
P_SELF_TRADE_PREVENTION: Final = _PLACE_FIELDS.index("self_trade_prevention")
P_TAKE_PROFIT_PRICE: Final = _PLACE_FIELDS.index("take_profit_price")
P_STOP_LOSS_PRICE: Final = _PLACE_FIELDS.index("stop_loss_price")
_CANCEL_FIELDS: Final = commands.CancelOrder.__struct_fields__
C_ACCOUNT_ID: Final = _CANCEL_FIELDS.index("account_id")
C_ORDER_ID: Final = _CANCEL_FIELDS.index("order_id")
_AMEND_FIELDS: Final = commands.AmendOrder.__struct_fields__
A_ACCOUNT_ID: Final = _AMEND_FIELDS.index("account_id")
A_ORDER_ID: Final = _AMEND_FIELDS.index("order_id")
A_QUANTITY: Final = _AMEND_FIELDS.index("quantity")
A_PRICE: Final = _AMEND_FIELDS.index("price")
