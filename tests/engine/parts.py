"""Builders for the unit tests of the engine's parts: an instrument, accounts and orders
made directly, without an `Engine` (each part must be usable alone)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.engine.accounts import Account
from exchange.engine.book import Order
from exchange.engine.codes import OrderType, Side
from exchange.engine.commands import AddInstrument, PlaceOrder
from exchange.engine.instruments import Instrument


def instrument(maker: str = "0", taker: str = "0") -> Instrument:
    """BTC-USD, tick 0.01, lot 0.001, with the given fee rates."""
    return Instrument(AddInstrument(symbol="BTC-USD", base="BTC", quote="USD",
                                    tick_size=Decimal("0.01"), lot_size=Decimal("0.001"),
                                    maker_fee_rate=Decimal(maker),
                                    taker_fee_rate=Decimal(taker)))


def order(order_id: int, account: Account, inst: Instrument, side: str, quantity: int,
          price: int | None = None, **fields: Any) -> Order:
    cmd = PlaceOrder(account_id=account.account_id, symbol=inst.symbol, side=Side(side),
                     quantity=quantity, price=price,
                     type=fields.pop("type", OrderType.LIMIT if price else OrderType.MARKET),
                     **fields)
    made = Order(order_id, cmd, account, inst, account.balance(inst.base),
                 account.balance(inst.quote))
    made.priority = order_id
    return made
