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

from exchange.engine import codes, commands, events

BUY: Final = codes.BUY
SELL: Final = codes.SELL
LIMIT: Final = codes.LIMIT
MARKET: Final = codes.MARKET
GTC: Final = codes.GTC
GTD: Final = codes.GTD
IOC: Final = codes.IOC
FOK: Final = codes.FOK
TRIGGERS: Final = codes.TRIGGERS
TRIGGER_LIMITS: Final = codes.TRIGGER_LIMITS
TRIGGER_MARKETS: Final = codes.TRIGGER_MARKETS
TAKE_PROFITS: Final = codes.TAKE_PROFITS
STP_NONE: Final = codes.STP_NONE
STP_CANCEL_NEWEST: Final = codes.STP_CANCEL_NEWEST
STP_CANCEL_OLDEST: Final = codes.STP_CANCEL_OLDEST
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
