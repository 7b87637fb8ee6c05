"""`/api/v3` order entry and the account's orders and trades, through `/v1`'s own order
entry (`exchange.web.orders.OrderEntry`: the same validation, idempotency, rate limit and
durability), in Binance's field names, types and errors.

Types: `LIMIT` (`timeInForce` `GTC`/`IOC`/`FOK`), `LIMIT_MAKER` (post-only), `MARKET`
(`quantity` or `quoteOrderQty`), `STOP_LOSS`, `STOP_LOSS_LIMIT`, `TAKE_PROFIT`,
`TAKE_PROFIT_LIMIT` (the venue's stop and take-profit types, `stopPrice` their stop price; one
already due when placed triggers at once, as on `/v1`, rather than being refused with -2010).
`selfTradePreventionMode`
`EXPIRE_TAKER`/`EXPIRE_MAKER`/`EXPIRE_BOTH`/`NONE` are the venue's `cancel_newest`/
`cancel_oldest`/`cancel_both`/`none`; absent, the venue's default (`EXPIRE_TAKER`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from quart import Response, request
from quart_trio import QuartTrio

from exchange.binance.errors import (
    INSUFFICIENT,
    NO_ORDER,
    UNKNOWN_ORDER,
    WOULD_TAKE,
    BinanceError,
    bad_parameter,
    missing,
)
from exchange.binance.signing import is_digits
from exchange.binance.symbols import binance_symbol, instrument_of
from exchange.engine.commands import CancelAllOrders, PlaceOrder
from exchange.engine.events import AnyEvent, OrderCancelled
from exchange.pipeline.history import Window
from exchange.pipeline.readmodel import AccountView, Fill, InstrumentView, OrderView
from exchange.store.span import Span
from exchange.web.app import Services, answer_headers, json_response
from exchange.web.errors import ApiError
from exchange.web.models import PlaceOrderBody, validate
from exchange.web.orders import refusal
from exchange.web.render import dec, units

STATUS = {"pending": "NEW", "new": "NEW", "partially_filled": "PARTIALLY_FILLED",
          "filled": "FILLED", "cancelled": "CANCELED", "expired": "EXPIRED",
          "rejected": "REJECTED"}
ORDER_TYPES: dict[str, tuple[str, bool]] = {  # Binance type -> (venue type, post-only)
    "LIMIT": ("limit", False), "LIMIT_MAKER": ("limit", True), "MARKET": ("market", False),
    "STOP_LOSS": ("stop_market", False), "STOP_LOSS_LIMIT": ("stop_limit", False),
    "TAKE_PROFIT": ("take_profit_market", False),
    "TAKE_PROFIT_LIMIT": ("take_profit_limit", False),
}
# Venue type -> Binance type, for orders, execution reports and exchangeInfo's `orderTypes`.
BINANCE_TYPE = {"limit": "LIMIT", "market": "MARKET", "stop_market": "STOP_LOSS",
                "stop_limit": "STOP_LOSS_LIMIT", "take_profit_market": "TAKE_PROFIT",
                "take_profit_limit": "TAKE_PROFIT_LIMIT"}
_LIMITS = ("limit", "stop_limit", "take_profit_limit")  # the venue types with a timeInForce
_STP = {"EXPIRE_TAKER": "cancel_newest", "EXPIRE_MAKER": "cancel_oldest",
        "EXPIRE_BOTH": "cancel_both", "NONE": "none"}
_BINANCE_STP = {value: key for key, value in _STP.items()}
# The engine's refusals as Binance words them (ccxt reads the message first).
_REFUSED: dict[str, tuple[int, str]] = {
    "insufficient_funds": (-2010, INSUFFICIENT),
    "post_only_would_take": (-2010, WOULD_TAKE),
    "price_not_on_tick": (-1013, "Filter failure: PRICE_FILTER"),
    "quantity_not_on_lot": (-1013, "Filter failure: LOT_SIZE"),
    "quantity_below_minimum": (-1013, "Filter failure: LOT_SIZE"),
    "quantity_above_maximum": (-1013, "Filter failure: LOT_SIZE"),
    "notional_below_minimum": (-1013, "Filter failure: NOTIONAL"),
    "instrument_halted": (-1013, "Market is closed."),
    "unknown_symbol": (-1121, "Invalid symbol."),
    "duplicate_client_order_id": (-2010, "Duplicate order sent."),
}


def order_body(inst: InstrumentView, order: OrderView, now_ms: int | None = None,
               fills: list[Fill] | None = None) -> dict[str, Any]:
    """An order as Binance shows it (`fills` given: the `FULL` answer of a placement)."""
    tick, lot = inst.tick_size, inst.lot_size
    post_only = order.post_only and order.type == "limit"
    body: dict[str, Any] = {
        "symbol": inst.base + inst.quote,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id or f"venue-{order.order_id}",
        "price": "0" if order.price is None else dec(tick * order.price),
        "origQty": "0" if order.quantity is None else dec(lot * order.quantity),
        "executedQty": dec(lot * order.filled),
        "cummulativeQuoteQty": dec(tick * lot * order.notional),
        "status": STATUS[order.status],
        "timeInForce": order.time_in_force.upper(),
        "type": "LIMIT_MAKER" if post_only else BINANCE_TYPE[order.type],
        "side": order.side.upper(),
        "stopPrice": "0" if order.stop_price is None else dec(tick * order.stop_price),
        "icebergQty": "0",
        "time": order.created_at // 1000,
        "updateTime": order.updated_at // 1000,
        "isWorking": order.status != "pending",
        "workingTime": order.created_at // 1000,
        "origQuoteOrderQty": ("0" if order.quote_quantity is None
                              else units(order.quote_quantity)),
        "selfTradePreventionMode": _BINANCE_STP.get(order.self_trade_prevention, "NONE"),
    }
    if now_ms is not None:
        body["transactTime"] = now_ms
    if fills is not None:
        body["fills"] = [{"price": dec(tick * f.price), "qty": dec(lot * f.quantity),
                          "commission": units(f.fee), "commissionAsset": inst.quote,
                          "tradeId": f.trade_id} for f in fills]
    return body


def placed_body(inst: InstrumentView, order: OrderView, fills: list[Fill],
                given: dict[str, str]) -> dict[str, Any]:
    """A placement's answer as `newOrderRespType` asks (`FULL` by default)."""
    answer = given.get("newOrderRespType", "FULL")
    out = order_body(inst, order, time.time_ns() // 1_000_000,
                     fills if answer == "FULL" else None)
    if answer == "ACK":
        out = {key: out[key] for key in ("symbol", "orderId", "orderListId",
                                         "clientOrderId", "transactTime")}
    return out


def trade_body(inst: InstrumentView, fill: Fill) -> dict[str, Any]:
    tick, lot = inst.tick_size, inst.lot_size
    return {
        "symbol": inst.base + inst.quote, "id": fill.trade_id, "orderId": fill.order_id,
        "orderListId": -1, "price": dec(tick * fill.price), "qty": dec(lot * fill.quantity),
        "quoteQty": dec(tick * lot * fill.price * fill.quantity),
        "commission": units(fill.fee), "commissionAsset": inst.quote,
        "time": fill.ts // 1000, "isBuyer": fill.side == "buy",
        "isMaker": fill.liquidity == "maker", "isBestMatch": True,
    }


def place_body(inst: InstrumentView, given: dict[str, str]) -> dict[str, Any]:
    """The `/v1` placement body of a Binance `POST order`'s parameters."""
    kind = given.get("type")
    if kind is None:
        raise missing("type")
    if kind not in ORDER_TYPES:
        raise BinanceError(400, -1116, "Invalid orderType.")
    side = given.get("side")
    if side not in ("BUY", "SELL"):
        raise missing("side") if side is None else BinanceError(400, -1117, "Invalid side.")
    venue_type, post_only = ORDER_TYPES[kind]
    body: dict[str, Any] = {"symbol": inst.symbol, "side": side.lower(), "type": venue_type,
                            "post_only": post_only}
    for name, field in (("quantity", "quantity"), ("quoteOrderQty", "quote_quantity"),
                        ("price", "price"), ("stopPrice", "stop_price"),
                        ("newClientOrderId", "client_order_id")):
        if given.get(name):
            body[field] = given[name]
    tif = given.get("timeInForce")
    if venue_type in _LIMITS:
        if kind == "LIMIT_MAKER":
            tif = "GTC"
        if tif not in ("GTC", "IOC", "FOK"):
            raise missing("timeInForce") if tif is None else BinanceError(
                400, -1115, "Invalid timeInForce.")
        body["time_in_force"] = tif.lower()
    stp = given.get("selfTradePreventionMode")
    if stp is not None:
        if stp not in _STP:
            raise bad_parameter("Invalid selfTradePreventionMode.", -1100)
        body["self_trade_prevention"] = _STP[stp]
    return body


def refused(error: ApiError) -> ApiError:
    """A `/v1` refusal of order entry in Binance's words (a 429, 503 or 504 stays what it
    is: the error path gives it Binance's code)."""
    if isinstance(error, BinanceError) or error.status not in (400, 404, 409, 422):
        return error
    code, msg = _REFUSED.get(error.code, (-2010 if error.status in (409, 422) else -1100,
                                          error.message))
    return BinanceError(400, code, msg, headers=error.headers)


class BinanceOrders:
    """Order entry and order queries in Binance's words, for the REST routes and the
    WebSocket API alike (`given`: the request's parameters, as strings)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.readmodel = services.readmodel
        self.entry = services.order_entry

    def instrument(self, symbol: str | None) -> InstrumentView:
        return instrument_of(self.readmodel.instruments, symbol)

    def render(self, order: OrderView) -> dict[str, Any]:
        return order_body(self.readmodel.instruments[order.symbol], order)

    async def find(self, account: AccountView, given: dict[str, str], unknown: BinanceError
                   ) -> OrderView:
        """The account's order named by `orderId` or `origClientOrderId` (of `symbol`)."""
        history = self.services.history
        order: OrderView | None = None
        raw_id = given.get("orderId")
        if raw_id:
            if not is_digits(raw_id, 18):
                raise bad_parameter("Illegal characters found in parameter 'orderId'.", -1100)
            order = await history.order(int(raw_id))
        elif given.get("origClientOrderId"):
            order = await history.client_order(account, given["origClientOrderId"])
        else:
            raise missing("orderId")
        if order is None or order.account_id != account.account_id or (
                order.symbol != self.instrument(given.get("symbol")).symbol):
            raise unknown
        return order

    def place_command(self, account: AccountView, given: dict[str, str],
                      headers: dict[str, str]) -> tuple[InstrumentView, PlaceOrder]:
        """The one parse path of a placement's parameters (the REST routes', the fast
        path's, the WebSocket API's and `cancelReplace`'s new order): admitted (its
        rate-limit token), and the engine command, or Binance's refusal."""
        inst = self.instrument(given.get("symbol"))
        body = place_body(inst, given)
        entry = self.entry
        try:
            entry.admit(account, headers)
            return inst, entry.place_command(account,
                                             validate(PlaceOrderBody, body, "the order"))
        except ApiError as error:
            raise refused(error) from None

    async def place(self, account: AccountView, given: dict[str, str], headers: dict[str, str],
                    *, test: bool = False) -> dict[str, Any]:
        inst, command = self.place_command(account, given, headers)
        if test:
            return {}
        return await self.place_as(account, inst, command, given)

    async def place_as(self, account: AccountView, inst: InstrumentView, command: PlaceOrder,
                       given: dict[str, str]) -> dict[str, Any]:
        """Places a parsed placement (idempotent by its client order id), once durable."""
        try:
            _, order, fills = await self.entry.place_view(account, command)
        except ApiError as error:
            raise refused(error) from None
        return placed_body(inst, order, fills, given)

    def placed_answer(self, account: AccountView, inst: InstrumentView,
                      events: list[AnyEvent], given: dict[str, str]) -> dict[str, Any]:
        """The answer to a placement from its events, in a sequencer callback (before the
        read model lets closed orders go), or the refusal."""
        try:
            order, fills = self.entry.placed_now(account, events)
        except ApiError as error:
            raise refused(error) from None
        return placed_body(inst, order, fills, given)

    async def status(self, account: AccountView, given: dict[str, str]) -> dict[str, Any]:
        return self.render(await self.find(account, given, BinanceError(400, -2013, NO_ORDER)))

    def open_now(self, account: AccountView, given: dict[str, str]) -> OrderView | None:
        """The open order a cancel names, when memory can tell without waiting (every open
        order is there); None: `cancel` finds out, perhaps from the database."""
        raw_id = given.get("orderId")
        if not raw_id or not is_digits(raw_id, 18):
            return None
        order = self.readmodel.orders.get(int(raw_id))
        if (order is None or order.account_id != account.account_id or not order.is_open
                or binance_symbol(self.readmodel.instruments[order.symbol])
                != given.get("symbol")):
            return None
        return order

    def cancelled_body(self, order: OrderView, events: list[AnyEvent],
                       client_order_id: str | None = None) -> dict[str, Any]:
        """The answer to a cancel of `order` from its events, or the refusal."""
        try:
            self.entry.changed_result(order, events)
        except ApiError as error:
            raise (BinanceError(400, -2011, UNKNOWN_ORDER) if error.code == "order_not_open"
                   else refused(error)) from None
        return self.cancelled(order, client_order_id)

    async def cancel(self, account: AccountView, given: dict[str, str],
                     headers: dict[str, str]) -> dict[str, Any]:
        unknown = BinanceError(400, -2011, UNKNOWN_ORDER)
        order = await self.find(account, given, unknown)
        if not order.is_open:
            raise unknown
        entry = self.entry
        try:
            entry.admit(account, headers)
            command, _ = entry.cancel_command(account, order)
            events = await self.services.engine().execute(command, deadline=entry.timeout)
        except ApiError as error:
            raise refused(error) from None
        return self.cancelled_body(order, events, given.get("newClientOrderId"))

    def cancelled(self, order: OrderView, client_order_id: str | None = None
                  ) -> dict[str, Any]:
        """A cancel's answer (`client_order_id`: the cancel's own, `newClientOrderId`)."""
        out = self.render(order)
        out["origClientOrderId"] = out["clientOrderId"]
        if client_order_id:
            out["clientOrderId"] = client_order_id
        out["transactTime"] = time.time_ns() // 1_000_000
        return out

    def open_orders(self, account: AccountView, given: dict[str, str]) -> list[dict[str, Any]]:
        symbol = self.instrument(given["symbol"]).symbol if given.get("symbol") else None
        orders = self.readmodel.recent_orders(
            account, Span(None, None, None, None, 10**9, False), symbol, "open")
        return [self.render(order) for order in orders]


def register(app: QuartTrio, services: Services, signed: Callable[..., Any]) -> None:
    readmodel = services.readmodel
    entry = services.order_entry
    prefix = "/api/v3"
    orders = BinanceOrders(services)
    instrument, render = orders.instrument, orders.render

    @app.post(prefix + "/order")
    @app.post(prefix + "/order/test")
    async def binance_place() -> Response:
        account, given = await signed()
        return json_response(await orders.place(account, given, answer_headers(),
                                                test=request.path.endswith("/test")))

    @app.get(prefix + "/order")
    async def binance_order() -> Response:
        account, given = await signed()
        return json_response(await orders.status(account, given))

    @app.delete(prefix + "/order")
    async def binance_cancel() -> Response:
        account, given = await signed()
        return json_response(await orders.cancel(account, given, answer_headers()))

    @app.get(prefix + "/openOrders")
    async def binance_open_orders() -> Response:
        account, given = await signed()
        return json_response(orders.open_orders(account, given))

    @app.delete(prefix + "/openOrders")
    async def binance_cancel_all() -> Response:
        account, given = await signed()
        inst = instrument(given.get("symbol"))
        entry.admit(account, answer_headers())
        # The open orders now, held here: the cancels update these very views, which stay
        # readable however soon they leave memory (no database read after the fact).
        open_now = {order_id: readmodel.orders[order_id] for order_id in account.open_ids}
        events = await services.engine().execute(
            CancelAllOrders(account_id=account.account_id, symbol=inst.symbol),
            deadline=services.settings.request_timeout)
        reason = refusal(events)
        if reason is not None:
            raise refused(ApiError.rejected(reason))
        out = []
        for event in events:
            if type(event) is OrderCancelled and event.account_id == account.account_id:
                order = open_now.get(event.order_id) or readmodel.orders.get(event.order_id)
                if order is not None:
                    out.append(render(order))
        if not out:
            raise BinanceError(400, -2011, UNKNOWN_ORDER)
        return json_response(out)

    @app.get(prefix + "/allOrders")
    async def binance_all_orders() -> Response:
        account, given = await signed()
        inst = instrument(given.get("symbol"))
        window = _window(given, "orderId")
        found = await services.history.orders(account, inst.symbol, "all", window)
        found.reverse()  # Binance lists them oldest first
        return json_response([render(order) for order in found])

    @app.get(prefix + "/myTrades")
    async def binance_my_trades() -> Response:
        account, given = await signed()
        inst = instrument(given.get("symbol"))
        order_id = given.get("orderId")
        if order_id is not None and not is_digits(order_id, 18):
            raise bad_parameter("Illegal characters found in parameter 'orderId'.", -1100)
        window = _window(given, "fromId")
        fills = await services.history.fills(account, inst.symbol,
                                             None if order_id is None else int(order_id),
                                             window)
        fills.reverse()
        return json_response([trade_body(inst, fill) for fill in fills])


def _window(given: dict[str, str], cursor: str) -> Window:
    """Binance's `fromId`/`orderId` (from this id on, oldest first), `startTime`,
    `endTime` (inclusive, ms) and `limit` (500, at most 1000) as a history window."""
    values: dict[str, int | None] = {}
    for name in (cursor, "startTime", "endTime", "limit"):
        raw = given.get(name)
        if raw is None or raw == "":
            values[name] = None
        elif not is_digits(raw, 18):
            raise bad_parameter(f"Illegal characters found in parameter '{name}'.", -1100)
        else:
            values[name] = int(raw)
    limit = values["limit"] or 500
    if not 1 <= limit <= 1000:
        raise bad_parameter("Illegal characters found in parameter 'limit'; legal range is "
                            "'1..1000'.", -1100)
    start, end, first = values["startTime"], values["endTime"], values[cursor]
    if first is None and start is not None:
        first = 1  # from startTime on, the oldest first (as Binance pages forward)
    return Window(
        after=None if first is None else first - 1,
        start=None if start is None else start * 1000,
        end=None if end is None else end * 1000 + 1000,
        limit=limit,
    )
