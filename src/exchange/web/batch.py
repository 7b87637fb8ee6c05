"""`POST /v1/orders/batch`: up to `MAX_BATCH_ORDERS` placements in one request, one engine
batch and one commit, each answered on its own.

`{"orders": [PlaceOrderBody, ...]}` answers 200 `{"results": [...]}` in request order, each
`{"status": 201|200, "order": ...}` or `{"status": 4xx|5xx, "error": {...}}`. Each order
takes a rate-limit token, is validated and is idempotent by its client_order_id exactly as a
single placement (`OrderEntry`); the whole request is refused only by chaos mode (503) or
for a malformed body or key.
"""

from __future__ import annotations

from typing import Any

from quart import Response
from quart_trio import QuartTrio

from exchange.engine.commands import PlaceOrder
from exchange.pipeline.readmodel import AccountView
from exchange.pipeline.sequencer import Request
from exchange.web.app import (
    Services,
    answer_headers,
    json_response,
    request_authorization,
    request_body,
)
from exchange.web.auth import authenticate
from exchange.web.errors import ApiError, PipelineError, pipeline_error
from exchange.web.models import BatchOrdersBody, PlaceOrderBody, parse_body, validate
from exchange.web.orders import OrderEntry

Result = tuple[int, dict[str, Any]] | ApiError  # an order's (status, order), or its error


def _error_of(exc: Exception) -> ApiError:
    """An order's own error in a batch's answer."""
    if isinstance(exc, ApiError):
        return exc
    assert isinstance(exc, PipelineError)
    return pipeline_error(exc)


def batch_result(result: Result) -> dict[str, Any]:
    if isinstance(result, ApiError):
        return {"status": result.status, "error": result.envelope()["error"]}
    return {"status": result[0], "order": result[1]}


async def place_batch(entry: OrderEntry, account: AccountView, orders: list[Any]
                      ) -> list[Result]:
    """Places the orders, each answered on its own: an invalid one (or one that found no
    token) does not stop the others. The valid ones are submitted back to back, without
    awaiting in between, so the engine takes them in one batch and the journal commits
    them together (`batch_limit` permitting)."""
    results: list[Result | None] = [None] * len(orders)
    commands: dict[int, PlaceOrder] = {}
    for index, item in enumerate(orders):
        try:
            if entry.limiter.take(account.account_id, 1) == 0:
                raise entry.limiter.refusal(account.account_id)
            body = validate(PlaceOrderBody, item, f"orders[{index}]")
            command = entry.place_command(account, body)
        except ApiError as error:
            results[index] = error
        else:
            commands[index] = command
    # Earlier placements with these client_order_ids are answered as `place_as` does;
    # this may wait, so it comes before anything is submitted.
    applied = entry.readmodel.batches
    for index, command in list(commands.items()):
        if command.client_order_id is not None:
            try:
                existing = await entry.original(account, command)
            except (ApiError, *PipelineError) as exc:
                results[index] = _error_of(exc)
                del commands[index]
                continue
            if existing is not None:
                results[index] = await entry.replayed(account, existing)
                del commands[index]
    submitted: dict[int, Request] = {}
    again: list[int] = []  # a client_order_id taken meanwhile, or twice in this batch
    for index, command in commands.items():
        coid = command.client_order_id
        # Taken meanwhile: by an order in memory or in flight, or, if a batch was applied
        # while the lookups waited, perhaps by one placed, closed and let go from memory
        # since (`place_as` looks again).
        if coid is not None and (coid in account.client_ids
                                 or entry.readmodel.batches != applied
                                 or (account.account_id, coid) in entry.services.inflight):
            again.append(index)
            continue
        try:
            submitted[index] = entry.submit_placement(account, command)
        except PipelineError as exc:
            results[index] = pipeline_error(exc)
    for index, pending in submitted.items():
        try:
            results[index] = await entry.placed(account, commands[index], pending)
        except (ApiError, *PipelineError) as exc:
            results[index] = _error_of(exc)
    for index in again:
        try:
            results[index] = await entry.place_as(account, commands[index])
        except (ApiError, *PipelineError) as exc:
            results[index] = _error_of(exc)
    return [result for result in results if result is not None]


def register(app: QuartTrio, services: Services) -> None:
    entry = services.order_entry
    limiter = services.limiter

    @app.post("/v1/orders/batch")
    async def place_orders() -> Response:
        account = authenticate(services.readmodel, request_authorization())
        headers = answer_headers()
        entry.admit(account, headers, tokens=0)
        body = parse_body(BatchOrdersBody, await request_body())
        try:
            results = await place_batch(entry, account, body.orders)
        finally:
            headers.update(limiter.headers(account.account_id))
        return json_response({"results": [batch_result(result) for result in results]})
