"""From the read model's integers to the contract's JSON: decimal strings, ISO times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

from exchange.engine.events import TradeExecuted
from exchange.engine.units import ASSET_UNIT
from exchange.pipeline.readmodel import (
    AccountView,
    Fill,
    InstrumentView,
    OrderView,
    Position,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = "0"


# normalize() rounds to its context's precision: the default 28 digits would cut the last
# places of a large average price (17 integer digits and 12 decimals are 29).
_WIDE = Context(prec=200)


def dec(value: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros: `"100.25"`, `"0"`; every digit kept."""
    if not value:
        return _ZERO
    text = format(value.normalize(_WIDE), "f")
    return text


_second: list[Any] = [None, ""]  # the last second rendered and its text


def time_us(us: int) -> str:
    """`"2026-11-24T15:04:05.123456Z"`. Times come in bursts within the same second, so the
    second's text is kept (strftime costs most of a call)."""
    second, micros = divmod(us, 1_000_000)
    cache = _second
    if cache[0] != second:
        cache[1] = (_EPOCH + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%S.")
        cache[0] = second
    return f"{cache[1]}{micros:06d}Z"


def us_of(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def units(amount: int) -> str:
    return dec(ASSET_UNIT * amount) if amount else _ZERO


_EXACT = Context(prec=60)
_TWELVE = Decimal(1).scaleb(-12)


def ratio(value: Fraction | int, step: Decimal) -> str:
    """`value` steps as a decimal, to 12 places after the point, rounded half even."""
    if type(value) is int:
        return quotient(value, 1, step)
    assert isinstance(value, Fraction)
    return quotient(value.numerator, value.denominator, step)


def quotient(numerator: int, denominator: int, step: Decimal) -> str:
    """`numerator / denominator` steps as `ratio` renders it (no Fraction needed)."""
    if numerator % denominator == 0:
        exact = step * (numerator // denominator)
        if exact.as_tuple().exponent >= -12:  # type: ignore[operator]
            return dec(exact)
    else:
        exact = _EXACT.multiply(_EXACT.divide(Decimal(numerator), Decimal(denominator)), step)
    return dec(exact.quantize(_TWELVE, context=_EXACT))


def instrument(inst: InstrumentView) -> dict[str, Any]:
    return {
        "symbol": inst.symbol,
        "base": inst.base,
        "quote": inst.quote,
        "tick_size": dec(inst.tick_size),
        "lot_size": dec(inst.lot_size),
        "min_quantity": dec(inst.quantity(inst.min_quantity)),
        "maker_fee_rate": dec(inst.maker_fee_rate),
        "taker_fee_rate": dec(inst.taker_fee_rate),
        "status": "halted" if inst.halted else "trading",
        "min_notional": units(inst.min_notional),
        "max_quantity": dec(inst.quantity(inst.max_quantity)) if inst.max_quantity else None,
    }


def order(inst: InstrumentView, view: OrderView, fills: list[Fill] | None = None
          ) -> dict[str, Any]:
    tick = inst.tick_size
    lot = inst.lot_size
    filled = view.filled
    if view.is_open and view.quantity is not None:
        remaining = dec(lot * (view.quantity - filled))
    else:
        remaining = _ZERO
    command = view.command
    out: dict[str, Any] = {
        "order_id": view.order_id,
        "client_order_id": view.client_order_id,
        "account_id": view.account_id,
        "symbol": view.symbol,
        "side": view.side,
        "type": view.type,
        "time_in_force": view.time_in_force,
        "post_only": view.post_only,
        "self_trade_prevention": view.self_trade_prevention,
        "price": None if view.price is None else dec(tick * view.price),
        "stop_price": None if view.stop_price is None else dec(tick * view.stop_price),
        "quantity": None if view.quantity is None else dec(lot * view.quantity),
        "quote_quantity": None if view.quote_quantity is None else units(view.quote_quantity),
        "filled_quantity": dec(lot * filled) if filled else _ZERO,
        "remaining_quantity": remaining,
        "average_fill_price": (
            quotient(view.notional, filled, tick) if filled else None
        ),
        "fee": units(view.fee),
        "status": str(view.status),
        "parent_order_id": view.parent_order_id,
        "expire_time": None if command.expire_time is None else time_us(command.expire_time),
        "take_profit_price": (
            None if command.take_profit_price is None else dec(tick * command.take_profit_price)
        ),
        "stop_loss_price": (
            None if command.stop_loss_price is None else dec(tick * command.stop_loss_price)
        ),
        "created_at": time_us(view.created_at),
        "updated_at": time_us(view.updated_at),
    }
    if fills is not None:
        out["fills"] = [fill(inst, item) for item in fills]
    return out


def fill(inst: InstrumentView, item: Fill) -> dict[str, Any]:
    return {
        "trade_id": item.trade_id,
        "order_id": item.order_id,
        "symbol": item.symbol,
        "side": item.side,
        "price": dec(inst.tick_size * item.price),
        "quantity": dec(inst.lot_size * item.quantity),
        "fee": units(item.fee),
        "fee_asset": inst.quote,
        "liquidity": item.liquidity,
        "ts": time_us(item.ts),
    }


def trade(inst: InstrumentView, item: TradeExecuted) -> dict[str, Any]:
    return {
        "trade_id": item.trade_id,
        "symbol": item.symbol,
        "price": dec(inst.tick_size * item.price),
        "quantity": dec(inst.lot_size * item.quantity),
        "taker_side": str(item.taker_side),
        "ts": time_us(item.ts),
    }


def ticker(inst: InstrumentView, now: int, best_bid: int | None, best_ask: int | None,
           sequence: int) -> dict[str, Any]:
    """The ticker of `inst` at `now` (24 h figures from its minute candles)."""
    open_, high, low, volume = inst.day_stats(now)
    tick = inst.tick_size

    def price(ticks: int | None) -> str | None:
        return None if ticks is None else dec(tick * ticks)

    return {
        "symbol": inst.symbol,
        "best_bid": price(best_bid),
        "best_ask": price(best_ask),
        "last_price": price(inst.last_price),
        "open_24h": price(open_),
        "high_24h": price(high),
        "low_24h": price(low),
        "volume_24h": dec(inst.lot_size * volume),
        "sequence": sequence,
        "ts": time_us(now),
    }


def balance(asset: str, total: int, held: int) -> dict[str, str]:
    return {
        "asset": asset,
        "total": units(total),
        "available": units(total - held),
        "held": units(held),
    }


def balances(account: AccountView) -> list[dict[str, str]]:
    return [balance(asset, total, held)
            for asset, (total, held) in sorted(account.balances.items())]


def candle(inst: InstrumentView, item: list[int]) -> dict[str, Any]:
    """A candle of the read model's (`exchange.pipeline.candles`)."""
    tick, lot = inst.tick_size, inst.lot_size
    return {
        "start": time_us(item[0]),
        "open": dec(tick * item[1]),
        "high": dec(tick * item[2]),
        "low": dec(tick * item[3]),
        "close": dec(tick * item[4]),
        "volume": dec(lot * item[5]),
        "trades": item[6],
    }


def position(inst: InstrumentView, symbol: str, item: Position) -> dict[str, Any]:
    tick = inst.tick_size
    lot = inst.lot_size
    average = item.average_price()
    mark = inst.last_price
    unrealized: str | None = None
    if mark is not None:
        pnl = (mark - average) * item.quantity if average is not None else Fraction(0)
        unrealized = ratio(pnl, tick * lot)
    return {
        "symbol": symbol,
        "quantity": dec(lot * item.quantity) if item.quantity else _ZERO,
        "average_price": None if average is None else ratio(average, tick),
        "realized_pnl": ratio(item.realized, tick * lot),
        "unrealized_pnl": unrealized,
        "mark_price": None if mark is None else dec(tick * mark),
    }
