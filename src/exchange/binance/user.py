"""Binance's WebSocket API at `/ws-api/v3`, for the user data stream.

Requests are `{"id", "method", "params"}`; answers `{"id", "status": 200, "result"}` or
`{"id", "status": 400, "error": {"code", "msg"}}`. `userDataStream.subscribe.signature`
(`params`: `apiKey`, `timestamp`, `recvWindow`, `signature`, signed over the key-sorted
`name=value` pairs without `signature`, as ccxt.pro and Binance's docs do) subscribes the
connection to its account's events, each wrapped `{"subscriptionId": 0, "event": {...}}`:

- `executionReport` for every order event the read model renders (`x` `NEW`, `TRADE`,
  `CANCELED`, `EXPIRED`, `REJECTED`, `REPLACED` for an amend, `NEW` again for a stop that
  triggered), in the order the engine produced them; a fill carries its trade (`l`, `L`,
  `n`, `N`, `t`, `m`);
- `outboundAccountPosition` with the balances a batch changed;
- `balanceUpdate` for deposits and withdrawals.

`ping` and `time` answer too. The events are a dialect of the fan-out (`ub:<account>`
channels), through the same bounded outbox as every stream (4008 when it falls behind).
The same events, rendered once, go unwrapped to the `ul:<account>` channels of the legacy
listenKey streams (`exchange.binance.listenkey`).
"""

from __future__ import annotations

import base64
import binascii
import time
from decimal import Decimal
from typing import Any

import msgspec

from exchange.binance.errors import BAD_SIGNATURE, OUTSIDE_WINDOW, BinanceError, missing
from exchange.binance.orders import BINANCE_TYPE
from exchange.binance.signing import AHEAD, DEFAULT_WINDOW, MAX_WINDOW, api_key_of
from exchange.binance.symbols import binance_symbol
from exchange.engine.events import (
    BalanceChanged,
    FundsDeposited,
    FundsWithdrawn,
    TradeExecuted,
)
from exchange.pipeline.keyring import KeyRing
from exchange.pipeline.sequencer import Published
from exchange.web.fanout import ChannelError, Fanout, Subscriber
from exchange.web.render import dec, units

PREFIX = "ub"  # the WebSocket API's subscriptions: {"subscriptionId": 0, "event": ...}
LISTEN = "ul"  # the listenKey streams': the event itself
_encode = msgspec.json.encode
_EXECUTION = {"new": "NEW", "fill": "TRADE", "cancelled": "CANCELED", "expired": "EXPIRED",
              "rejected": "REJECTED", "amended": "REPLACED", "triggered": "NEW"}
_STATUS = {"pending": "NEW", "new": "NEW", "partially_filled": "PARTIALLY_FILLED",
           "filled": "FILLED", "cancelled": "CANCELED", "expired": "EXPIRED",
           "rejected": "REJECTED"}


def verify_ws(keys: KeyRing, params: dict[str, Any], now_ms: int) -> int:
    """The account of a WebSocket API request signed in its `params`, or the refusal."""
    key = api_key_of(keys, params.get("apiKey") if isinstance(params.get("apiKey"), str)
                     else None)
    raw_time = params.get("timestamp")
    if not isinstance(raw_time, int) or isinstance(raw_time, bool):
        raise missing("timestamp")
    window = params.get("recvWindow", DEFAULT_WINDOW)
    if not isinstance(window, int) or not 0 < window <= MAX_WINDOW:
        raise BinanceError(400, -1131, "recvWindow must be less than 60000")
    if raw_time > now_ms + AHEAD or now_ms - raw_time > window:
        raise BinanceError(400, -1021, OUTSIDE_WINDOW)
    signature = params.get("signature")
    if not isinstance(signature, str):
        raise missing("signature")
    payload = "&".join(f"{name}={_text(params[name])}" for name in sorted(params)
                       if name != "signature").encode()
    try:
        raw = (bytes.fromhex(signature) if key.kind == "hmac"
               else base64.b64decode(signature, validate=True))
    except (ValueError, binascii.Error):
        raise BinanceError(400, -1022, BAD_SIGNATURE) from None
    if not key.verifies(payload, raw):
        raise BinanceError(400, -1022, BAD_SIGNATURE)
    return key.account_id


def _text(value: object) -> str:
    """A parameter as the signer wrote it: JSON's `true`/`false`, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class UserStreams:
    """The `ub:<account_id>` channels of the fan-out (see the module docstring)."""

    def __init__(self, fanout: Fanout) -> None:
        self.fanout = fanout
        fanout.dialects[PREFIX] = self
        fanout.dialects[LISTEN] = self

    def check(self, channel: str) -> None:
        if not channel[len(PREFIX) + 1:].isdigit():
            raise ChannelError("invalid_request", "not a user data stream")

    def publish(self, published: Published, fanout: Fanout) -> None:
        wrapped = fanout.dialect_channels.get(PREFIX)
        bare = fanout.dialect_channels.get(LISTEN)
        if not wrapped and not bare:
            return
        api, streams = _by_account(wrapped), _by_account(bare)
        watched = api.keys() | streams.keys()
        now = time.time_ns() // 1_000_000
        instruments = fanout.books
        out: dict[int, list[dict[str, Any]]] = {}
        fills: dict[int, list[tuple[TradeExecuted, bool]]] = {}  # order -> its trades
        balances: dict[int, dict[str, BalanceChanged]] = {}
        for event in published.events:
            if isinstance(event, TradeExecuted):
                for order_id, account_id, maker in (
                        (event.maker_order_id, event.maker_account_id, True),
                        (event.taker_order_id, event.taker_account_id, False)):
                    if account_id in watched:
                        fills.setdefault(order_id, []).append((event, maker))
            elif isinstance(event, BalanceChanged) and event.account_id in watched:
                balances.setdefault(event.account_id, {})[event.asset] = event
            elif (isinstance(event, (FundsDeposited, FundsWithdrawn))
                  and event.account_id in watched):
                sign = "" if isinstance(event, FundsDeposited) else "-"
                out.setdefault(event.account_id, []).append({
                    "e": "balanceUpdate", "E": now, "a": event.asset,
                    "d": sign + units(event.amount), "T": event.ts // 1000})
        taken: dict[int, int] = {}
        for account_id, name, order in published.notices:
            if account_id not in watched:
                continue
            book = instruments.get(order["symbol"])
            if book is None:
                continue
            trade = None
            if name == "fill":
                index = taken.get(order["order_id"], 0)
                trades = fills.get(order["order_id"], [])
                if index < len(trades):
                    trade = trades[index]
                    taken[order["order_id"]] = index + 1
            out.setdefault(account_id, []).append(
                execution_report(book.inst, name, order, trade, now))
        for account_id, changed in balances.items():
            out.setdefault(account_id, []).append({
                "e": "outboundAccountPosition", "E": now, "u": now,
                "B": [{"a": asset, "f": units(b.total - b.held), "l": units(b.held)}
                      for asset, b in sorted(changed.items())]})
        for account_id, reports in out.items():
            subscribed, listening = api.get(account_id), streams.get(account_id)
            for report in reports:
                if subscribed:
                    fanout.broadcast(subscribed, _encode({"subscriptionId": 0,
                                                          "event": report}).decode())
                if listening:
                    fanout.broadcast(listening, _encode(report).decode())


def _by_account(channels: dict[str, set[Subscriber]] | None) -> dict[int, set[Subscriber]]:
    """`<prefix>:<account_id>` channels by account."""
    return {int(name.partition(":")[2]): members for name, members in (channels or {}).items()}


def execution_report(inst: Any, name: str, order: dict[str, Any],
                     trade: tuple[TradeExecuted, bool] | None, now: int) -> dict[str, Any]:
    """An `executionReport` of a `/v1` order notice (and the trade of a fill)."""
    filled = Decimal(order["filled_quantity"])
    average = order["average_fill_price"]
    cumulative = Decimal(average) * filled if average is not None else Decimal(0)
    tick, lot = inst.tick_size, inst.lot_size
    report: dict[str, Any] = {
        "e": "executionReport", "E": now, "s": binance_symbol(inst),
        "c": order["client_order_id"] or f"venue-{order['order_id']}",
        "S": order["side"].upper(),
        "o": ("LIMIT_MAKER" if order["post_only"] and order["type"] == "limit"
              else BINANCE_TYPE[order["type"]]),
        "f": order["time_in_force"].upper(), "q": order["quantity"] or "0",
        "p": order["price"] or "0", "P": order["stop_price"] or "0", "F": "0", "g": -1,
        "C": "", "x": _EXECUTION.get(name, "NEW"), "X": _STATUS[order["status"]],
        "r": "NONE", "i": order["order_id"], "l": "0", "z": order["filled_quantity"],
        "L": "0", "n": "0", "N": None, "T": now, "t": -1, "I": 0,
        "w": order["status"] in ("new", "partially_filled"), "m": False, "M": False,
        "O": now, "Z": dec(cumulative), "Y": "0",
        "Q": order["quote_quantity"] or "0", "W": now, "V": "EXPIRE_TAKER",
    }
    if name == "cancelled":
        report["C"] = report["c"]
    if trade is not None:
        event, maker = trade
        fee = event.maker_fee if maker else event.taker_fee
        report.update(
            l=dec(lot * event.quantity), L=dec(tick * event.price), n=units(fee),
            N=inst.quote, T=event.ts // 1000, t=event.trade_id, m=maker, M=True,
            Y=dec(tick * lot * event.price * event.quantity))
    return report


