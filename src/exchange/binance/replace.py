"""`POST /api/v3/order/cancelReplace` and `PUT /api/v3/order/amend/keepPriority` (and the
WebSocket API's `order.cancelReplace` and `order.amend.keepPriority`), in Binance's words.

A cancel-replace is one engine command (`ReplaceOrder`): one step, one batch, one durable
write. `STOP_ON_FAILURE` is both or neither, stricter than Binance (which keeps the cancel
when the new order then fails): a cancel that fails places nothing (`-2022`, `cancelResult`
`FAILURE`, `newOrderResult` `NOT_ATTEMPTED`), and a new order the engine refuses once the
old one would be gone (its hold released) leaves the old one exactly as it was (`-2022`,
`cancelResult` `NOT_ATTEMPTED`, `newOrderResult` `FAILURE`). `ALLOW_FAILURE`: each half
stands on its own; one of them failing answers 409 `-2021`, both 400 `-2022`. Parameters the
request gets wrong (a missing `type`, a price off the tick, ...) are refused before anything
happens, with the code `POST order` gives them, as Binance checks filters first.

The amend keeps time priority and only lowers the quantity: the engine's `AmendOrder`, as
`PATCH /v1/orders/{id}` with a lower quantity; the order keeps its `clientOrderId`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from quart import Response
from quart_trio import QuartTrio

from exchange.binance.errors import UNKNOWN_ORDER, BinanceError, bad_parameter, missing
from exchange.binance.orders import STATUS, BinanceOrders, order_body, placed_body, refused
from exchange.engine.commands import CancelOrder, PlaceOrder, ReplaceOrder
from exchange.engine.events import AnyEvent, OrderCancelled
from exchange.pipeline.readmodel import AccountView, OrderView, order_of_events
from exchange.web.app import Services, answer_headers, json_response
from exchange.web.errors import ApiError
from exchange.web.models import AmendOrderBody, validate
from exchange.web.orders import fills_of, placed, refusal

PREFIX = "/api/v3"
MODES = ("STOP_ON_FAILURE", "ALLOW_FAILURE")
PARTIAL = (409, -2021, "Order cancel-replace partially failed.")
FAILED = (400, -2022, "Order cancel-replace failed.")
DUPLICATE = (-2010, "Duplicate order sent.")
AMEND_REJECTED = -2038


def _part(code: int, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg}


def _unknown_cancel() -> dict[str, Any]:
    return _part(-2011, UNKNOWN_ORDER)


def _refusal_part(reason: str) -> dict[str, Any]:
    error = refused(ApiError.rejected(reason))
    assert isinstance(error, BinanceError)
    return _part(error.binance_code, error.message)


async def cancel_replace(orders: BinanceOrders, account: AccountView, given: dict[str, str],
                         headers: dict[str, str]) -> dict[str, Any]:
    """A `cancelReplace`'s answer, or the `BinanceError` (with its `data`) it fails with."""
    mode = given.get("cancelReplaceMode")
    if not mode:
        raise missing("cancelReplaceMode")
    if mode not in MODES:
        raise bad_parameter("Illegal characters found in parameter 'cancelReplaceMode'; "
                            "legal range is 'STOP_ON_FAILURE, ALLOW_FAILURE'.", -1100)
    allow_failure = mode == "ALLOW_FAILURE"
    if not given.get("cancelOrderId") and not given.get("cancelOrigClientOrderId"):
        raise bad_parameter("Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be "
                            "sent, but both were empty/null!")
    inst, command = orders.place_command(account, given, headers)
    target = await _target(orders, account, given)
    services = orders.services
    coid = command.client_order_id
    duplicate = coid is not None and (
        (account.account_id, coid) in services.inflight
        or await services.history.client_order(account, coid) is not None)
    cancel_part: dict[str, Any] | None = None
    if target is None or not target.is_open:
        target, cancel_part = None, _unknown_cancel()
        if not allow_failure:
            _fail("FAILURE", "NOT_ATTEMPTED", cancel_part, None)
    if duplicate and (target is None or not allow_failure):
        _fail("NOT_ATTEMPTED" if target else "FAILURE", "FAILURE", cancel_part,
              _part(*DUPLICATE))
    engine_command: ReplaceOrder | CancelOrder | PlaceOrder
    if duplicate and target is not None:  # allowing failure: the cancel alone
        engine_command = CancelOrder(account_id=account.account_id, order_id=target.order_id)
    elif target is None:  # allowing failure: the placement alone
        engine_command = command
    else:
        engine_command = ReplaceOrder(account_id=account.account_id,
                                      order_id=target.order_id, order=command,
                                      allow_failure=allow_failure)
    events = await _execute(orders, account, engine_command, coid if not duplicate else None)
    # The cancel's half.
    if cancel_part is None and target is not None:
        if any(isinstance(e, OrderCancelled) and e.order_id == target.order_id
               for e in events):
            cancel_part = orders.cancelled(target, given.get("cancelNewClientOrderId"))
            cancel_result = "SUCCESS"
        elif refusal(events) is not None:
            cancel_part, cancel_result = _unknown_cancel(), "FAILURE"
        else:
            cancel_result = "NOT_ATTEMPTED"  # both or neither, and the new order failed
    else:
        cancel_result = "FAILURE"
    # The new order's half.
    order_part: dict[str, Any] | None = None
    if duplicate:
        order_part, order_result = _part(*DUPLICATE), "FAILURE"
    elif cancel_result == "FAILURE" and not allow_failure:
        order_result = "NOT_ATTEMPTED"  # the engine found the order gone meanwhile
    else:
        outcome = placed(events, account.account_id)
        if isinstance(outcome, str):
            order_part, order_result = _refusal_part(outcome), "FAILURE"
        else:
            order_id = outcome.order_id
            view = (orders.readmodel.orders.get(order_id)
                    or order_of_events(events, order_id))
            assert view is not None, "an accepted order's events hold its acceptance"
            order_part = placed_body(inst, view, fills_of(events, order_id), given)
            order_result = "SUCCESS"
    if cancel_result == order_result == "SUCCESS":
        return {"cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
                "cancelResponse": cancel_part, "newOrderResponse": order_part}
    _fail(cancel_result, order_result, cancel_part, order_part)


def _fail(cancel_result: str, order_result: str, cancel_part: dict[str, Any] | None,
          order_part: dict[str, Any] | None) -> NoReturn:
    """Binance's answer to a cancel-replace not done whole: 409 `-2021` when one half was
    done, else 400 `-2022`, with both halves in `data`."""
    status, code, msg = PARTIAL if "SUCCESS" in (cancel_result, order_result) else FAILED
    raise BinanceError(status, code, msg, data={
        "cancelResult": cancel_result, "newOrderResult": order_result,
        "cancelResponse": cancel_part, "newOrderResponse": order_part})


async def _target(orders: BinanceOrders, account: AccountView, given: dict[str, str]
                  ) -> OrderView | None:
    """The order to cancel (None: no such order of this account and symbol). With both
    `cancelOrderId` and `cancelOrigClientOrderId`, the order of the id, if its client order
    id is that one."""
    found: dict[str, str] = {"symbol": given.get("symbol", "")}
    if given.get("cancelOrderId"):
        found["orderId"] = given["cancelOrderId"]
    else:
        found["origClientOrderId"] = given["cancelOrigClientOrderId"]
    unknown = BinanceError(400, -2011, UNKNOWN_ORDER)
    try:
        order = await orders.find(account, found, unknown)
    except BinanceError as error:
        if error is unknown:
            return None
        raise
    wanted = given.get("cancelOrigClientOrderId")
    if wanted and given.get("cancelOrderId") and order.client_order_id != wanted:
        return None
    return order


async def _execute(orders: BinanceOrders, account: AccountView,
                   command: ReplaceOrder | CancelOrder | PlaceOrder, coid: str | None
                   ) -> list[AnyEvent]:
    """Runs `command` once durable. While it is in flight its new client order id is
    marked taken, as a placement's is (a `POST order` with it meanwhile waits for it)."""
    services = orders.services
    request = services.engine().submit(command, deadline=orders.entry.timeout)
    key = (account.account_id, coid or "")
    if coid is not None:
        services.inflight[key] = request.done
    try:
        return await services.engine().wait(request)
    finally:
        if coid is not None and request.done.is_set() and services.inflight.get(key) is (
                request.done):
            del services.inflight[key]


# -- AMEND, KEEPING PRIORITY --


async def amend_keep_priority(orders: BinanceOrders, account: AccountView,
                              given: dict[str, str], headers: dict[str, str]
                              ) -> dict[str, Any]:
    """`order/amend/keepPriority`: a lower `newQty` for an open order, which keeps its place."""
    raw = given.get("newQty")
    if not raw:
        raise missing("newQty")
    try:
        new_qty = Decimal(raw)
    except InvalidOperation:
        new_qty = Decimal("NaN")
    if not new_qty.is_finite():
        raise bad_parameter("Illegal characters found in parameter 'newQty'.", -1100)
    unknown = BinanceError(400, AMEND_REJECTED, UNKNOWN_ORDER)
    order = await orders.find(account, given, unknown)
    if not order.is_open:
        raise unknown
    wanted = given.get("newClientOrderId")
    if wanted and wanted != (order.client_order_id or f"venue-{order.order_id}"):
        raise bad_parameter("newClientOrderId can only be the order's own clientOrderId "
                            "here: client order ids do not change.", -1100)
    inst = orders.readmodel.instruments[order.symbol]
    quantity = inst.lot_size * (order.quantity or 0)
    if new_qty > quantity:
        raise BinanceError(400, AMEND_REJECTED,
                           "Order amend (quantity increase) is not supported.")
    if new_qty == quantity:
        raise BinanceError(400, AMEND_REJECTED,
                           "The requested action would change no state; rejecting")
    if new_qty <= inst.lot_size * order.filled:
        raise BinanceError(400, AMEND_REJECTED,
                           "newQty must be above the order's executed quantity.")
    entry = orders.entry
    try:
        entry.admit(account, headers)
        body = validate(AmendOrderBody, {"quantity": raw}, "the amendment")
        command, _ = entry.amend_command(account, order, body)
        events = await orders.services.engine().execute(command, deadline=entry.timeout)
        entry.changed_result(order, events)
    except ApiError as error:
        if error.code in ("order_not_open", "not_found", "forbidden"):
            raise unknown from None
        failed = refused(error)
        if isinstance(failed, BinanceError) and failed.binance_code == -2010:
            failed = BinanceError(400, AMEND_REJECTED, failed.message, headers=failed.headers)
        if error.code == "invalid_order":
            failed = BinanceError(400, AMEND_REJECTED,
                                  "Order amend is not supported for this order.")
        raise failed from None
    body_out = order_body(inst, order)
    client_id = body_out["clientOrderId"]
    return {
        "transactTime": time.time_ns() // 1_000_000,
        # No execution ids here: the symbol's book sequence, which rises with every change.
        "executionId": inst.sequence,
        "amendedOrder": {
            "symbol": body_out["symbol"], "orderId": order.order_id, "orderListId": -1,
            "origClientOrderId": client_id, "clientOrderId": client_id,
            "price": body_out["price"], "qty": body_out["origQty"],
            "executedQty": body_out["executedQty"], "preventedQty": "0",
            "quoteOrderQty": body_out["origQuoteOrderQty"],
            "cumulativeQuoteQty": body_out["cummulativeQuoteQty"],
            "status": STATUS[order.status], "timeInForce": body_out["timeInForce"],
            "type": body_out["type"], "side": body_out["side"],
            "workingTime": body_out["workingTime"],
            "selfTradePreventionMode": body_out["selfTradePreventionMode"],
        },
    }



def register(app: QuartTrio, services: Services, signed: Callable[..., Any]) -> None:
    orders = BinanceOrders(services)

    @app.post(PREFIX + "/order/cancelReplace")
    async def binance_cancel_replace() -> Response:
        account, given = await signed()
        return json_response(await cancel_replace(orders, account, given, answer_headers()))

    @app.put(PREFIX + "/order/amend/keepPriority")
    async def binance_amend_keep_priority() -> Response:
        account, given = await signed()
        return json_response(await amend_keep_priority(orders, account, given,
                                                       answer_headers()))
