"""Order entry and the account's orders and fills.

Placing, amending and cancelling go through the engine (the sequencer) and are answered once
durable; reads come from the read model, and what it no longer holds from the database
(`exchange.pipeline.history`). Idempotency: a placement with a `client_order_id`
already used by the account answers the original order (200) when the request is the same
and 409 `duplicate_client_order_id` otherwise; a second request arriving while the first is
still in flight waits for it. `POST /v1/orders/cancel-after` arms the account's dead-man
switch (`exchange.pipeline.deadman`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import trio
from quart import Response
from quart_trio import QuartTrio

from exchange.engine.codes import OrderType, SelfTradePrevention, Side, TimeInForce
from exchange.engine.commands import AmendOrder, CancelAllOrders, CancelOrder, PlaceOrder
from exchange.engine.events import (
    AnyEvent,
    OrderAccepted,
    OrderCancelled,
    OrderRejected,
    RequestRejected,
    TradeExecuted,
)
from exchange.engine.units import to_units
from exchange.pipeline.history import Window
from exchange.pipeline.readmodel import (
    AccountView,
    Fill,
    InstrumentView,
    OrderView,
    order_of_events,
)
from exchange.pipeline.sequencer import OutcomeUnknown, Request
from exchange.web import render
from exchange.web.app import (
    Services,
    answer_headers,
    json_response,
    request_authorization,
    request_body,
)
from exchange.web.auth import authenticate
from exchange.web.errors import ApiError, chaos_refusal
from exchange.web.models import AmendOrderBody, CancelAfterBody, PlaceOrderBody, parse_body
from exchange.web.params import (
    AFTER_ORDER,
    AFTER_TRADE,
    BEFORE_ORDER,
    BEFORE_TRADE,
    ORDER_ID,
    ORDER_STATUS,
    SYMBOL,
    read_window,
)

# An idempotent repeat answers the original order with its fills, the first this many.
REPLAYED_FILLS = 1000
MAX_STEPS = 10**15  # ticks or lots: keeps every stored integer far inside its column
MAX_UNITS = 10**27


def _steps(inst: InstrumentView, value: Decimal, *, price: bool, field: str) -> int:
    try:
        steps = inst.ticks(value) if price else inst.lots(value)
    except ArithmeticError:
        steps = -1
    if steps is None:
        raise ApiError.rejected("price_not_on_tick" if price else "quantity_not_on_lot")
    if not 0 < steps <= MAX_STEPS:
        raise ApiError(422, "invalid_order", f"{field} is out of range for {inst.symbol}")
    return steps


def _opt_price(inst: InstrumentView, value: Decimal | None, field: str) -> int | None:
    return None if value is None else _steps(inst, value, price=True, field=field)


def to_command(body: PlaceOrderBody, inst: InstrumentView, account_id: int) -> PlaceOrder:
    quote_quantity = None
    if body.quote_quantity is not None:
        quote_quantity = to_units(body.quote_quantity)
        if quote_quantity is None or not 0 < quote_quantity <= MAX_UNITS:
            raise ApiError(422, "invalid_order", "quote_quantity is off the asset's grid")
    return PlaceOrder(
        account_id=account_id,
        symbol=inst.symbol,
        side=Side(body.side),
        type=OrderType(body.type),
        quantity=(
            None if body.quantity is None
            else _steps(inst, body.quantity, price=False, field="quantity")
        ),
        price=_opt_price(inst, body.price, "price"),
        stop_price=_opt_price(inst, body.stop_price, "stop_price"),
        quote_quantity=quote_quantity,
        time_in_force=TimeInForce(body.time_in_force),
        expire_time=None if body.expire_time is None else render.us_of(body.expire_time),
        post_only=body.post_only,
        self_trade_prevention=SelfTradePrevention(body.self_trade_prevention),
        client_order_id=body.client_order_id,
        take_profit_price=_opt_price(inst, body.take_profit_price, "take_profit_price"),
        stop_loss_price=_opt_price(inst, body.stop_loss_price, "stop_loss_price"),
    )


def placed(events: list[AnyEvent], account_id: int) -> OrderAccepted | str:
    """The placed order's acceptance, or the reason it was refused."""
    reason = "invalid_order"
    for event in events:
        kind = type(event)
        if kind is OrderAccepted and event.parent_order_id == 0:  # type: ignore[union-attr]
            return event  # type: ignore[return-value]
        if kind is OrderRejected and event.order_id == 0 and event.account_id == account_id:  # type: ignore[union-attr]
            reason = event.reason  # type: ignore[union-attr]
    return reason


def fills_of(events: list[AnyEvent], order_id: int) -> list[Fill]:
    fills = []
    for event in events:
        if type(event) is TradeExecuted:
            assert isinstance(event, TradeExecuted)
            if event.taker_order_id == order_id:
                fills.append(Fill(event, maker=False))
            elif event.maker_order_id == order_id:
                fills.append(Fill(event, maker=True))
    return fills


def refusal(events: list[AnyEvent]) -> str | None:
    for event in events:
        if type(event) is RequestRejected:
            return event.reason
    return None


class OrderEntry:
    """Placing, cancelling and amending, independent of the web framework: the Quart routes
    and the ASGI fast path (`exchange.web.fastpath`) both call these. Each returns
    `(status, body)` or raises `ApiError` (or one of the sequencer's `PipelineError`s)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.readmodel = services.readmodel
        self.history = services.history
        self.limiter = services.limiter
        self.timeout = services.settings.request_timeout

    async def own_order(self, account: AccountView, order_id: int) -> OrderView:
        """The account's order, from memory or, closed long ago, from the database."""
        return _owned(account, order_id, await self.history.order(order_id))

    async def open_order(self, account: AccountView, order_id: int) -> OrderView:
        """The account's order, if it is still open (else 409 `order_not_open`)."""
        return self.open_now(account, order_id) or _open(
            _owned(account, order_id, await self.history.order(order_id)))

    def open_now(self, account: AccountView, order_id: int) -> OrderView | None:
        """`open_order` without waiting: every open order is in memory, so one that is not
        there is not open (None: `open_order` says why: 404, 403 or 409)."""
        order = self.readmodel.orders.get(order_id)
        return None if order is None else _open(_owned(account, order_id, order))

    def render(self, order: OrderView, fills: list[Fill] | None = None) -> dict[str, Any]:
        return render.order(self.readmodel.instruments[order.symbol], order, fills)

    async def original(self, account: AccountView, command: PlaceOrder) -> OrderView | None:
        """The order already placed with the command's client_order_id, if any."""
        coid = command.client_order_id
        assert coid is not None
        key = (account.account_id, coid)
        readmodel = self.readmodel
        while True:
            applied = readmodel.batches
            order = await self.history.client_order(account, coid)
            if order is not None:
                if msgspec.structs.replace(order.command, ts=0) == command:
                    return order
                raise ApiError(409, "duplicate_client_order_id",
                               "client_order_id already used with a different request")
            pending = self.services.inflight.get(key)
            if pending is None:
                if readmodel.batches != applied:
                    # While the database was asked, an earlier attempt may have been
                    # placed, closed and let go from memory, its marker gone: ask again.
                    continue
                return None
            if pending.is_set():  # left by a request that timed out: it is settled now
                del self.services.inflight[key]
                continue
            with trio.move_on_after(self.timeout):
                await pending.wait()
            if not pending.is_set():
                # The earlier attempt was taken by the engine (else its own deadline
                # would have withdrawn it by now) and is not durable yet.
                raise OutcomeUnknown("an earlier request with this client_order_id executed "
                                     "but is not durable yet; retry to get it")

    # -- ADMISSION --

    def admit(self, account: AccountView, headers: dict[str, str], tokens: int = 1) -> None:
        """Before an order-entry request goes anywhere near the engine: takes its token
        (429 when there is none) and, in chaos mode, may refuse it (503, `X-Chaos: reject`).
        Puts the rate-limit headers into `headers`, which the edge sends with the answer,
        whatever it is (a 429 carries them itself). A batch takes its `tokens` (0) per
        order, later."""
        limiter = self.limiter
        headers.update(limiter.check(account.account_id) if tokens
                       else limiter.headers(account.account_id))
        if self.services.chaos.reject():
            raise chaos_refusal()

    # -- PLACING --

    async def place(self, authorization: str | None, raw: bytes, headers: dict[str, str]
                    ) -> tuple[int, dict[str, Any]]:
        account = authenticate(self.readmodel, authorization)
        self.admit(account, headers)
        body = parse_body(PlaceOrderBody, raw)
        return await self.place_as(account, self.place_command(account, body))

    def place_command(self, account: AccountView, body: PlaceOrderBody) -> PlaceOrder:
        inst = self.readmodel.instruments.get(body.symbol)
        if inst is None:
            raise ApiError.rejected("unknown_symbol")
        return to_command(body, inst, account.account_id)

    async def place_as(self, account: AccountView, command: PlaceOrder
                       ) -> tuple[int, dict[str, Any]]:
        """Places `command` (idempotent by its client_order_id) once durable."""
        status, order, fills = await self.place_view(account, command)
        return status, self.render(order, fills)

    async def place_view(self, account: AccountView, command: PlaceOrder
                         ) -> tuple[int, OrderView, list[Fill]]:
        """`place_as` before rendering (every surface renders its own way): 201 and the
        order placed now, or 200 and the one placed earlier with the client_order_id."""
        if command.client_order_id is not None:
            existing = await self.original(account, command)
            if existing is not None:
                return 200, existing, await self.fills_of_order(account, existing)
        return await self.placed_view(account, command,
                                      self.submit_placement(account, command))

    async def replayed(self, account: AccountView, order: OrderView
                       ) -> tuple[int, dict[str, Any]]:
        """The answer to a placement already made with the same client_order_id."""
        return 200, self.render(order, await self.fills_of_order(account, order))

    async def fills_of_order(self, account: AccountView, order: OrderView) -> list[Fill]:
        """The order's fills in the order they happened (the first `REPLAYED_FILLS`)."""
        fills = await self.history.fills(account, None, order.order_id,
                                         Window(after=0, limit=REPLAYED_FILLS))
        fills.reverse()
        return fills

    def submit_placement(self, account: AccountView, command: PlaceOrder) -> Request:
        """Queues the placement without waiting (`placed` waits for it). One with a
        client_order_id is marked in flight from here on: a retry arriving meanwhile waits
        for it instead of placing a second order."""
        services = self.services
        request = services.engine().submit(command, deadline=self.timeout)
        if command.client_order_id is not None:
            # The marker lives as long as the command, not the HTTP request: a retry after a
            # 503 timeout must wait for the first attempt instead of placing a second order.
            services.inflight[(account.account_id, command.client_order_id)] = request.done
        return request

    async def placed(self, account: AccountView, command: PlaceOrder, request: Request
                     ) -> tuple[int, dict[str, Any]]:
        """The answer to a submitted placement once durable."""
        status, order, fills = await self.placed_view(account, command, request)
        return status, self.render(order, fills)

    async def placed_view(self, account: AccountView, command: PlaceOrder, request: Request
                          ) -> tuple[int, OrderView, list[Fill]]:
        services = self.services
        key = (account.account_id, command.client_order_id or "")
        try:
            events = await services.engine().wait(request)
        finally:
            if (command.client_order_id is not None and request.done.is_set()
                    and services.inflight.get(key) is request.done):
                del services.inflight[key]
        order_id = _placed_id(events, account)
        # Awaited after later batches, perhaps: the order may have closed and left memory
        # since. Then it is answered as its own events left it, with no database read (a
        # failed read must not turn an executed placement into a 503).
        order = self.readmodel.orders.get(order_id) or order_of_events(events, order_id)
        assert order is not None, "an accepted order's events hold its acceptance"
        return 201, order, fills_of(events, order_id)

    def place_result(self, account: AccountView, events: list[AnyEvent]
                     ) -> tuple[int, dict[str, Any]]:
        """`placed`'s answer for a callback, which runs as its batch is applied: the read
        model trims closed orders only after the callbacks (`ReadModel.trim`)."""
        return 201, self.render(*self.placed_now(account, events))

    def placed_now(self, account: AccountView, events: list[AnyEvent]
                   ) -> tuple[OrderView, list[Fill]]:
        """The placed order and its fills, for a callback (see `place_result`), before
        rendering; or the refusal."""
        order_id = _placed_id(events, account)
        return self.readmodel.orders[order_id], fills_of(events, order_id)

    # -- CANCELLING AND AMENDING --

    async def cancel(self, authorization: str | None, order_id: int, headers: dict[str, str]
                     ) -> tuple[int, dict[str, Any]]:
        account = authenticate(self.readmodel, authorization)
        self.admit(account, headers)
        order = await self.open_order(account, order_id)
        command, order = self.cancel_command(account, order)
        events = await self.services.engine().execute(command, deadline=self.timeout)
        return self.changed_result(order, events)

    def cancel_command(self, account: AccountView, order: OrderView
                       ) -> tuple[CancelOrder, OrderView]:
        return CancelOrder(account_id=account.account_id, order_id=order.order_id), order

    async def amend(self, authorization: str | None, order_id: int, raw: bytes,
                    headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        account = authenticate(self.readmodel, authorization)
        self.admit(account, headers)
        body = parse_body(AmendOrderBody, raw)
        order = await self.open_order(account, order_id)
        command, order = self.amend_command(account, order, body)
        events = await self.services.engine().execute(command, deadline=self.timeout)
        return self.changed_result(order, events)

    def amend_command(self, account: AccountView, order: OrderView, body: AmendOrderBody
                      ) -> tuple[AmendOrder, OrderView]:
        inst = self.readmodel.instruments[order.symbol]
        command = AmendOrder(
            account_id=account.account_id,
            order_id=order.order_id,
            quantity=(
                None if body.quantity is None
                else _steps(inst, body.quantity, price=False, field="quantity")
            ),
            price=_opt_price(inst, body.price, "price"),
        )
        return command, order

    def changed_result(self, order: OrderView, events: list[AnyEvent]
                       ) -> tuple[int, dict[str, Any]]:
        """The answer to a cancel or an amend of `order` from its events."""
        reason = refusal(events)
        if reason is not None:
            raise ApiError.rejected(reason)
        return 200, self.render(order)


def register(app: QuartTrio, services: Services) -> None:
    readmodel = services.readmodel
    timeout = services.settings.request_timeout
    entry = services.order_entry

    # The fast path (`exchange.web.fastpath`) answers these three first; the routes stay
    # for the app on its own (tests, and an ASGI server without the fast path).
    @app.post("/v1/orders")
    async def place_order() -> Response:
        status, body = await entry.place(request_authorization(), await request_body(),
                                         answer_headers())
        return json_response(body, status)

    @app.delete("/v1/orders/<int:order_id>")
    async def cancel_order(order_id: int) -> Response:
        status, body = await entry.cancel(request_authorization(), order_id, answer_headers())
        return json_response(body, status)

    @app.patch("/v1/orders/<int:order_id>")
    async def amend_order(order_id: int) -> Response:
        status, body = await entry.amend(request_authorization(), order_id, await request_body(),
                                         answer_headers())
        return json_response(body, status)

    @app.get("/v1/orders")
    async def list_orders() -> Response:
        account = authenticate(readmodel, request_authorization())
        symbol = SYMBOL.read()
        status = ORDER_STATUS.read()
        window = read_window(BEFORE_ORDER, AFTER_ORDER)
        orders = await services.history.orders(account, symbol, status, window)
        instruments = readmodel.instruments
        return json_response([render.order(instruments[o.symbol], o) for o in orders])

    @app.get("/v1/orders/<int:order_id>")
    async def get_order(order_id: int) -> Response:
        account = authenticate(readmodel, request_authorization())
        return json_response(entry.render(await entry.own_order(account, order_id)))

    @app.get("/v1/orders/by-client-id/<path:client_order_id>")  # an id may hold a "/"
    async def get_by_client_id(client_order_id: str) -> Response:
        account = authenticate(readmodel, request_authorization())
        order = await services.history.client_order(account, client_order_id)
        if order is None:
            raise ApiError(404, "not_found", "no order with this client_order_id")
        return json_response(entry.render(order))

    @app.delete("/v1/orders")
    async def cancel_all() -> Response:
        account = authenticate(readmodel, request_authorization())
        entry.admit(account, answer_headers())
        symbol = SYMBOL.read()
        if symbol is not None and symbol not in readmodel.instruments:
            raise ApiError(404, "not_found", f"no instrument {symbol[:40]!r}")
        events = await services.engine().execute(
            CancelAllOrders(account_id=account.account_id, symbol=symbol), deadline=timeout
        )
        reason = refusal(events)
        if reason is not None:
            raise ApiError.rejected(reason)
        cancelled = [
            event.order_id for event in events
            if type(event) is OrderCancelled and event.account_id == account.account_id
        ]
        return json_response({"cancelled": cancelled})

    @app.post("/v1/orders/cancel-after")
    async def cancel_after() -> Response:
        account = authenticate(readmodel, request_authorization())
        entry.admit(account, answer_headers())
        body = parse_body(CancelAfterBody, await request_body())
        trigger = services.deadman.arm(account.account_id, body.timeout_s)
        return json_response({
            "timeout_s": body.timeout_s,
            "trigger_time": None if trigger is None else render.time_us(trigger),
        })

    @app.get("/v1/fills")
    async def fills() -> Response:
        account = authenticate(readmodel, request_authorization())
        symbol = SYMBOL.read()
        order_id = ORDER_ID.read()
        window = read_window(BEFORE_TRADE, AFTER_TRADE)
        fills = await services.history.fills(account, symbol, order_id, window)
        instruments = readmodel.instruments
        return json_response([render.fill(instruments[item.symbol], item) for item in fills])


def _placed_id(events: list[AnyEvent], account: AccountView) -> int:
    result = placed(events, account.account_id)
    if isinstance(result, str):
        raise ApiError.rejected(result)
    return result.order_id


def _owned(account: AccountView, order_id: int, order: OrderView | None) -> OrderView:
    if order is None:
        raise ApiError(404, "not_found", f"no order {order_id}")
    if order.account_id != account.account_id:
        raise ApiError(403, "forbidden", "the order belongs to another account")
    return order


def _open(order: OrderView) -> OrderView:
    if not order.is_open:
        raise ApiError.rejected("order_not_open")
    return order
