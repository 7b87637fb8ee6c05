"""`/openapi.json` (OpenAPI 3.1), generated from the pydantic models and one table of routes.

Every route of the app (`exchange.web.app`) and the fast path (`exchange.web.fastpath`) has
an entry in `ROUTES`, with every answer it can give: its successes and, by status, its
errors, whose body is always the `Error` envelope. Tests validate the document, walk the
registered routes against the table, and run schemathesis against a live server, which fails
on any status, content type, header or body the document does not declare.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from exchange.web import models as m
from exchange.web import params as q
from exchange.web.page import CONTENT_TYPES

PUBLIC, KEY, ADMIN = "public", "api_key", "admin"
JSON = "application/json"

# What each error status means, for any route that declares it.
ERRORS: dict[int, str] = {
    400: "invalid_request: a bad body, query parameter or header",
    401: "unauthorized: missing or wrong credentials",
    403: "forbidden: authenticated but not allowed",
    404: "not_found: an unknown order, instrument, account or asset",
    408: "request_timeout: the body did not arrive in time",
    409: "conflict, duplicate_client_order_id or order_not_open",
    413: "payload_too_large: the body is over the configured limit",
    422: "a well-formed request the exchange refuses (the code says why); nothing changed",
    429: "rate_limited: too many order requests; retry after `Retry-After` seconds",
    503: "overloaded or unavailable: not executed, safe to retry after `Retry-After` seconds",
    504: "outcome_unknown: executed but not yet durable; durable once the database returns "
         "(a retry with the same client_order_id returns it)",
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
    429: {"Retry-After": {"schema": {"type": "string"}, "required": True}},
    503: {"Retry-After": {"schema": {"type": "string"}, "required": True}},
}
# On every answer of order entry (`limited`) while the rate limit is on (web/ratelimit.py).
RATE_LIMIT_HEADERS: dict[str, Any] = {
    name: {"schema": {"type": "string", "pattern": "^[0-9]+$"}, "description": description}
    for name, description in (
        ("X-RateLimit-Limit", "tokens in a full bucket (the burst)"),
        ("X-RateLimit-Remaining", "whole tokens left after this request"),
        ("X-RateLimit-Reset", "whole seconds until the bucket is full again"),
    )
}


@dataclass(frozen=True, slots=True)
class Ok:
    """A success: `model` names a schema ("[Model]" an array of it), or None for no JSON
    body; `media` lists the content types of a non-JSON body."""

    status: int
    model: str | None
    description: str = "success"
    media: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """One operation. Besides `errors`, its answers follow from what it does: 400 always
    (a malformed request), 401 with a key, 401 and 403 for admin, 408 and 413 with a body,
    503 and 504 when it goes through the engine (`writes`), 429 when it is order entry
    (`limited`)."""

    method: str
    path: str
    summary: str
    auth: str
    ok: tuple[Ok, ...]
    body: type[BaseModel] | None = None
    query: tuple[q.QueryParam, ...] = ()
    errors: tuple[int, ...] = ()
    writes: bool = False
    limited: bool = False

    def error_statuses(self) -> list[int]:
        statuses = {400, *self.errors}
        if self.auth != PUBLIC:
            statuses.add(401)
        if self.auth == ADMIN:
            statuses.add(403)
        if self.body is not None:
            statuses.update((408, 413))
        if self.writes:
            statuses.update((503, 504))
        if self.limited:
            statuses.add(429)
        return sorted(statuses)


ORDER = (Ok(200, "Order"),)
ROUTES: list[Route] = [
    # -- MARKET DATA --
    Route("get", "/v1/time", "Server time", PUBLIC, (Ok(200, "ServerTime"),)),
    Route("get", "/v1/instruments", "List instruments", PUBLIC, (Ok(200, "[Instrument]"),)),
    Route("get", "/v1/instruments/{symbol}", "One instrument", PUBLIC, (Ok(200, "Instrument"),),
          errors=(404,)),
    Route("get", "/v1/instruments/{symbol}/book", "Order book, best prices first", PUBLIC,
          (Ok(200, "Book"),), query=(q.DEPTH,), errors=(404,)),
    Route("get", "/v1/instruments/{symbol}/trades", "Public trades, newest first", PUBLIC,
          (Ok(200, "[Trade]"),),
          query=(q.LIMIT, q.BEFORE_TRADE, q.AFTER_TRADE, q.START_TIME, q.END_TIME),
          errors=(404,)),
    Route("get", "/v1/instruments/{symbol}/ticker", "Ticker", PUBLIC, (Ok(200, "Ticker"),),
          errors=(404,)),
    Route("get", "/v1/instruments/{symbol}/candles", "Candles, oldest first", PUBLIC,
          (Ok(200, "[Candle]"),), query=(q.INTERVAL, q.START, q.END, q.CANDLE_LIMIT),
          errors=(404,)),
    # -- ORDERS --
    Route("post", "/v1/orders", "Place an order (answered once durable)", KEY,
          (Ok(201, "Order", "placed"),
           Ok(200, "Order", "a repeat of an earlier request with this client_order_id: the "
              "original order")),
          body=m.PlaceOrderBody, errors=(409, 422), writes=True, limited=True),
    Route("post", "/v1/orders/batch", "Place 1 to 20 orders, each answered on its own (a "
          "token each; a 503 refuses them all, chaos mode)", KEY,
          (Ok(200, "BatchResults", "each order's own status and order or error"),),
          body=m.BatchOrdersBody, errors=(503,)),
    Route("get", "/v1/orders", "Own orders, newest first", KEY, (Ok(200, "[Order]"),),
          query=(q.SYMBOL, q.ORDER_STATUS, q.LIMIT, q.BEFORE_ORDER, q.AFTER_ORDER,
                 q.START_TIME, q.END_TIME)),
    Route("delete", "/v1/orders", "Cancel all own open orders", KEY, (Ok(200, "Cancelled"),),
          query=(q.SYMBOL,), errors=(404, 422), writes=True, limited=True),
    Route("post", "/v1/orders/cancel-after",
          "Dead-man switch: cancel all own open orders after timeout_s seconds (0 disarms)",
          KEY, (Ok(200, "CancelAfter"),), body=m.CancelAfterBody, errors=(503,), limited=True),
    Route("get", "/v1/orders/{order_id}", "One own order", KEY, ORDER, errors=(403, 404)),
    Route("delete", "/v1/orders/{order_id}", "Cancel an order", KEY, ORDER,
          errors=(403, 404, 409, 422), writes=True, limited=True),
    Route("patch", "/v1/orders/{order_id}", "Amend quantity and/or price", KEY, ORDER,
          body=m.AmendOrderBody, errors=(403, 404, 409, 422), writes=True, limited=True),
    Route("get", "/v1/orders/by-client-id/{client_order_id}", "Own order by client id", KEY,
          ORDER, errors=(404,)),
    Route("get", "/v1/fills", "Own fills, newest first", KEY, (Ok(200, "[Fill]"),),
          query=(q.SYMBOL, q.ORDER_ID, q.LIMIT, q.BEFORE_TRADE, q.AFTER_TRADE, q.START_TIME,
                 q.END_TIME)),
    # -- ACCOUNT --
    Route("get", "/v1/account", "Balances", KEY, (Ok(200, "Account"),)),
    Route("get", "/v1/positions", "Positions", KEY, (Ok(200, "[Position]"),)),
    # -- ADMIN --
    Route("post", "/v1/admin/accounts", "Create an account and its API key", ADMIN,
          (Ok(201, "CreatedAccount"),), body=m.CreateAccountBody, writes=True),
    Route("post", "/v1/admin/accounts/{account_id}/api-keys",
          "A key for the Binance-compatible surface (HMAC: its secret is shown once)", ADMIN,
          (Ok(201, "CreatedApiKey"),), body=m.ApiKeyBody, errors=(404,), writes=True),
    Route("get", "/v1/admin/accounts/{account_id}/api-keys",
          "The account's Binance-compatible keys (never a secret)", ADMIN,
          (Ok(200, "[ApiKey]"),), errors=(404,)),
    Route("delete", "/v1/admin/accounts/{account_id}/api-keys/{api_key}",
          "Revoke a key at once", ADMIN, (Ok(200, "ApiKey"),), errors=(404,), writes=True),
    Route("post", "/v1/admin/accounts/{account_id}/deposits",
          "Deposit (negative: withdraw); deposit_id makes it idempotent", ADMIN,
          (Ok(201, "Balances", "done"),
           Ok(200, "Balances", "a repeat of an earlier deposit_id: nothing changed")),
          body=m.DepositBody, errors=(404, 422), writes=True),
    Route("post", "/v1/admin/instruments", "Add an instrument", ADMIN,
          (Ok(201, "Instrument"),), body=m.CreateInstrumentBody, errors=(409, 422),
          writes=True),
    Route("patch", "/v1/admin/instruments/{symbol}", "Halt or resume trading", ADMIN,
          (Ok(200, "Instrument"),), body=m.InstrumentStatusBody, errors=(404, 422),
          writes=True),
    Route("get", "/v1/admin/chaos", "Chaos mode's setting", ADMIN, (Ok(200, "ChaosSetting"),)),
    Route("patch", "/v1/admin/chaos", "Change chaos mode (keys left out keep their value)",
          ADMIN, (Ok(200, "ChaosSetting"),), body=m.ChaosBody),
    # -- COMPETITIONS --
    Route("post", "/v1/admin/rounds", "Start a round: reset its accounts to the starting balances",
          ADMIN, (Ok(201, "Round"),), body=m.StartRoundBody, errors=(404, 422), writes=True),
    Route("get", "/v1/admin/rounds", "Rounds, oldest first", ADMIN, (Ok(200, "[Round]"),)),
    Route("get", "/v1/admin/rounds/{round_id}", "One round", ADMIN, (Ok(200, "Round"),),
          errors=(404,)),
    Route("get", "/v1/admin/accounts", "Accounts by id, paged", ADMIN,
          (Ok(200, "AdminAccountPage"),), query=(q.ACCOUNT_LIMIT, q.AFTER_ACCOUNT)),
    Route("get", "/v1/admin/accounts/{account_id}", "One account in full", ADMIN,
          (Ok(200, "AdminAccountDetail"),), errors=(404,)),
    Route("patch", "/v1/admin/accounts/{account_id}", "Flag a house account", ADMIN,
          (Ok(200, "AdminAccount"),), body=m.AccountFlagsBody, errors=(404, 422),
          writes=True),
    Route("get", "/v1/leaderboard", "A round's accounts ranked by equity", PUBLIC,
          (Ok(200, "Leaderboard"),), query=(q.ROUND, q.ASSET), errors=(404,)),
    # -- OPERATIONS --
    Route("get", "/healthz", "Liveness", PUBLIC, (Ok(200, "Status"),)),
    Route("get", "/readyz", "Readiness (engine and database)", PUBLIC, (Ok(200, "Status"),),
          errors=(503,)),
    Route("get", "/metrics", "Prometheus metrics", PUBLIC,
          (Ok(200, None, media=("text/plain",)),)),
    Route("get", "/openapi.json", "This document", PUBLIC, (Ok(200, None, media=(JSON,)),)),
    Route("get", "/docs", "A page rendering this document", PUBLIC,
          (Ok(200, None, media=("text/html",)),)),
    Route("get", "/", "The trading page", PUBLIC,
          (Ok(200, None, media=("text/html",)),
           Ok(304, None, "not modified (If-None-Match)"))),
    Route("get", "/app/{name}", "The trading page's files", PUBLIC,
          (Ok(200, None, media=tuple(sorted({t.split(";")[0] for t in CONTENT_TYPES.values()}))),
           Ok(304, None, "not modified (If-None-Match)")), errors=(404,)),
]

SCHEMAS: list[type[BaseModel]] = [
    m.Instrument, m.Book, m.Trade, m.Ticker, m.Candle, m.Order, m.Fill, m.Cancelled,
    m.Account, m.Balance, m.Balances, m.Position, m.CreatedAccount, m.Status, m.Error,
    m.PlaceOrderBody, m.AmendOrderBody, m.CreateAccountBody, m.DepositBody,
    m.CreateInstrumentBody, m.InstrumentStatusBody, m.CancelAfterBody, m.CancelAfter,
    m.BatchOrdersBody, m.BatchResults, m.ServerTime, m.ChaosBody, m.ChaosSetting,
    m.Round, m.AdminAccount, m.AdminAccountPage, m.AdminAccountDetail, m.Leaderboard,
    m.StartRoundBody, m.AccountFlagsBody, m.ApiKeyBody, m.ApiKey, m.CreatedApiKey,
]

# Path parameters: ids are positive integers; examples point at the demo data (`--demo`).
PATH_PARAMS: dict[str, dict[str, Any]] = {
    "symbol": {"type": "string", "examples": ["BTC-USD"]},
    "order_id": {"type": "integer", "minimum": 1, "maximum": q.ID_MAX},
    "account_id": {"type": "integer", "minimum": 1, "maximum": q.ID_MAX, "examples": [1]},
    "round_id": {"type": "integer", "minimum": 1, "maximum": q.ID_MAX, "examples": [1]},
    "client_order_id": {"type": "string"},
    "api_key": {"type": "string", "maxLength": 64},
    "name": {"type": "string", "examples": ["app.js"]},
}
# Served on every page request: the browser's cached copy is current if it names the ETag.
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False,
                 "schema": {"type": "string"}}


def _ref(name: str) -> dict[str, Any]:
    if name.startswith("["):
        return {"type": "array", "items": _ref(name[1:-1])}
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(description: str, content: dict[str, Any] | None = None,
            headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if content:
        answer["content"] = content
    if headers:
        answer["headers"] = headers
    return answer


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": route.summary, "responses": {}}
    params: list[dict[str, Any]] = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": PATH_PARAMS[part[1:-1]]}
        for part in route.path.split("/") if part.startswith("{")
    ]
    params += [param.schema() for param in route.query]
    if any(ok.status == 304 for ok in route.ok):
        params.append(IF_NONE_MATCH)
    if params:
        operation["parameters"] = params
    if route.body is not None:
        operation["requestBody"] = {
            "required": True, "content": {JSON: {"schema": _ref(route.body.__name__)}},
        }
    responses = operation["responses"]
    limits = RATE_LIMIT_HEADERS if route.limited else None
    for ok in route.ok:
        content = {JSON: {"schema": _ref(ok.model)}} if ok.model is not None else {}
        content.update({
            media: {"schema": {"type": "object" if media == JSON else "string"}}
            for media in ok.media
        })
        responses[str(ok.status)] = _answer(ok.description, content, limits)
    for status in route.error_statuses():
        headers = HEADERS.get(status)
        if route.limited:
            headers = {**RATE_LIMIT_HEADERS, **(headers or {})}
        responses[str(status)] = _answer(ERRORS[status], {JSON: {"schema": _ref("Error")}},
                                         headers)
    if route.auth != PUBLIC:
        operation["security"] = [{route.auth: []}]
    return operation


def build_openapi() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in SCHEMAS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    # A batch's orders are validated one by one (each is answered on its own), so its model
    # keeps them as JSON; the document says what each must be.
    schemas["BatchOrdersBody"]["properties"]["orders"]["items"] = _ref("PlaceOrderBody")
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "exchange", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "api_key": {"type": "http", "scheme": "bearer",
                            "description": "`<key_id>.<secret>`"},
                "admin": {"type": "http", "scheme": "bearer",
                          "description": "the admin token (EXCHANGE_ADMIN_TOKEN)"},
            },
        },
    }


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>exchange API</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code,pre{font:12px ui-monospace,monospace}pre{background:#f4f4f4;padding:.5rem;overflow:auto}
h2{border-bottom:1px solid #ddd}.m{display:inline-block;width:4.5rem;font-weight:bold}
details{margin:.3rem 0}
</style></head><body>
<h1>exchange API v1</h1><p>Generated from <a href="/openapi.json">/openapi.json</a>.</p>
<div id="routes">Loading…</div>
<script>
fetch('/openapi.json').then(r => r.json()).then(spec => {
  const out = document.getElementById('routes'); out.textContent = '';
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const d = document.createElement('details');
      const s = document.createElement('summary');
      s.innerHTML = '<span class="m">' + method.toUpperCase() + '</span><code></code> ';
      s.querySelector('code').textContent = path;
      s.append(op.summary + (op.security ? ' (' + Object.keys(op.security[0])[0] + ')' : ''));
      d.append(s);
      const pre = document.createElement('pre');
      pre.textContent = JSON.stringify({parameters: op.parameters, requestBody: op.requestBody,
        responses: op.responses}, null, 2);
      d.append(pre); out.append(d);
    }
  }
  const h = document.createElement('h2'); h.textContent = 'Schemas'; out.append(h);
  const pre = document.createElement('pre');
  pre.textContent = JSON.stringify(spec.components.schemas, null, 2); out.append(pre);
});
</script></body></html>
"""
