"""The store's rows as the read model's views: at start (`exchange.pipeline.storage`), for
history read from the database (`exchange.pipeline.history`) and for `exchange export`."""

from __future__ import annotations

import json
from typing import Any

from exchange.engine.commands import PlaceOrder
from exchange.engine.events import TradeExecuted
from exchange.pipeline.candles import KEEP_SECONDS
from exchange.pipeline.readmodel import InstrumentView, OrderView, RoundView


def round_view(row: Any) -> RoundView:
    return RoundView(
        int(row["round_id"]), row["name"], tuple(json.loads(row["account_ids"])),
        {asset: int(units) for asset, units in json.loads(row["starting_balances"]).items()},
        int(row["start_ts"]), int(row["end_ts"]), int(row["first_trade_id"]),
        int(row["created_at"]),
    )


def instrument_view(row: Any, keep_trades: int | None = None,
                    keep_seconds: int = KEEP_SECONDS) -> InstrumentView:
    return InstrumentView(
        row["symbol"], row["base"], row["quote"], row["tick_size"], row["lot_size"],
        int(row["min_quantity"]), row["maker_fee_rate"], row["taker_fee_rate"],
        bool(row["halted"]), keep=keep_trades, keep_seconds=keep_seconds,
        min_notional=int(row["min_notional"]), max_quantity=int(row["max_quantity"]),
    )


def trade_of(row: Any) -> TradeExecuted:
    return TradeExecuted(
        trade_id=row["trade_id"], symbol=row["symbol"], price=row["price"],
        quantity=row["quantity"], taker_side=row["taker_side"],
        maker_order_id=row["maker_order_id"], taker_order_id=row["taker_order_id"],
        maker_account_id=row["maker_account_id"], taker_account_id=row["taker_account_id"],
        maker_fee=int(row["maker_fee"]), taker_fee=int(row["taker_fee"]), ts=row["ts"],
    )


def order_view(row: Any) -> OrderView:
    # The command is the request as placed (idempotency compares with it); the view's price
    # and quantity are the current, possibly amended, ones.
    placed_quantity = row["placed_quantity"]
    placed_price = row["placed_price"]
    command = PlaceOrder(
        account_id=row["account_id"], symbol=row["symbol"], side=row["side"],
        type=row["type"],
        quantity=row["quantity"] if placed_quantity is None else placed_quantity,
        price=row["price"] if placed_price is None else placed_price,
        stop_price=row["stop_price"],
        quote_quantity=None if row["quote_quantity"] is None else int(row["quote_quantity"]),
        time_in_force=row["time_in_force"], expire_time=row["expire_time"],
        post_only=bool(row["post_only"]), self_trade_prevention=row["self_trade_prevention"],
        client_order_id=row["client_order_id"], take_profit_price=row["take_profit_price"],
        stop_loss_price=row["stop_loss_price"],
    )
    view = OrderView(row["order_id"], command, status=row["status"],
                     parent_order_id=row["parent_order_id"] or None, ts=row["created_at"])
    view.price = row["price"]
    view.quantity = row["quantity"]
    view.filled = row["filled_quantity"]
    view.notional = int(row["notional"])
    view.fee = int(row["fee"])
    view.updated_at = row["updated_at"]
    return view
