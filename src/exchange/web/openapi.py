"""`/openapi.json`, generated from the pydantic models and one table of the routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from exchange.web import models as m

PUBLIC, KEY, ADMIN = "public", "api_key", "admin"

# (method, path, summary, auth, request body model, status, response model or "[Model]")
ROUTES: list[tuple[str, str, str, str, type[BaseModel] | None, int, str | None]] = [
    ("get", "/v1/time", "Server time", PUBLIC, None, 200, "ServerTime"),
    ("get", "/v1/instruments", "List instruments", PUBLIC, None, 200, "[Instrument]"),
    ("get", "/v1/instruments/{symbol}", "One instrument", PUBLIC, None, 200, "Instrument"),
    ("get", "/v1/instruments/{symbol}/book", "Order book (depth 1..1000, default 50)", PUBLIC,
     None, 200, "Book"),
    ("get", "/v1/instruments/{symbol}/trades", "Public trades, newest first", PUBLIC, None,
     200, "[Trade]"),
    ("get", "/v1/instruments/{symbol}/ticker", "Ticker", PUBLIC, None, 200, "Ticker"),
    ("get", "/v1/instruments/{symbol}/candles", "Candles, oldest first", PUBLIC, None, 200,
     "[Candle]"),
    ("post", "/v1/orders", "Place an order (answered once durable)", KEY, m.PlaceOrderBody,
     201, "Order"),
    ("post", "/v1/orders/batch", "Place 1 to 20 orders, each answered on its own", KEY,
     m.BatchOrdersBody, 200, "BatchResults"),
    ("get", "/v1/orders", "Own orders, newest first", KEY, None, 200, "[Order]"),
    ("delete", "/v1/orders", "Cancel all own open orders", KEY, None, 200, "Cancelled"),
    ("get", "/v1/orders/{order_id}", "One own order", KEY, None, 200, "Order"),
    ("delete", "/v1/orders/{order_id}", "Cancel an order", KEY, None, 200, "Order"),
    ("patch", "/v1/orders/{order_id}", "Amend quantity and/or price", KEY, m.AmendOrderBody,
     200, "Order"),
    ("get", "/v1/orders/by-client-id/{client_order_id}", "Own order by client id", KEY, None,
     200, "Order"),
    ("get", "/v1/fills", "Own fills, newest first", KEY, None, 200, "[Fill]"),
    ("get", "/v1/account", "Balances", KEY, None, 200, "Account"),
    ("get", "/v1/positions", "Positions", KEY, None, 200, "[Position]"),
    ("post", "/v1/admin/accounts", "Create an account and its API key", ADMIN,
     m.CreateAccountBody, 201, "CreatedAccount"),
    ("post", "/v1/admin/accounts/{account_id}/deposits",
     "Deposit (negative: withdraw); deposit_id makes it idempotent", ADMIN, m.DepositBody,
     201, None),
    ("post", "/v1/admin/instruments", "Add an instrument", ADMIN, m.CreateInstrumentBody, 201,
     "Instrument"),
    ("patch", "/v1/admin/instruments/{symbol}", "Halt or resume trading", ADMIN,
     m.InstrumentStatusBody, 200, "Instrument"),
    ("get", "/v1/admin/chaos", "Chaos mode's setting", ADMIN, None, 200, "ChaosSetting"),
    ("patch", "/v1/admin/chaos", "Change chaos mode (keys left out keep their value)", ADMIN,
     m.ChaosBody, 200, "ChaosSetting"),
    ("get", "/healthz", "Liveness", PUBLIC, None, 200, None),
    ("get", "/readyz", "Readiness (engine and database)", PUBLIC, None, 200, None),
    ("get", "/metrics", "Prometheus metrics", PUBLIC, None, 200, None),
]

SCHEMAS: list[type[BaseModel]] = [
    m.Instrument, m.Book, m.Trade, m.Ticker, m.Candle, m.Order, m.Fill, m.Cancelled,
    m.Account, m.Balance, m.Position, m.CreatedAccount, m.Error, m.PlaceOrderBody,
    m.AmendOrderBody, m.CreateAccountBody, m.DepositBody, m.CreateInstrumentBody,
    m.InstrumentStatusBody, m.BatchOrdersBody, m.BatchResults, m.ServerTime, m.ChaosBody,
    m.ChaosSetting,
]

QUERY = {
    "/v1/instruments/{symbol}/book": [("depth", "integer")],
    "/v1/instruments/{symbol}/trades": [("limit", "integer"), ("before", "integer")],
    "/v1/instruments/{symbol}/candles": [
        ("interval", "string"), ("start", "string"), ("end", "string"), ("limit", "integer"),
    ],
    "/v1/orders": [
        ("symbol", "string"), ("status", "string"), ("limit", "integer"), ("before", "integer"),
    ],
    "/v1/fills": [
        ("symbol", "string"), ("order_id", "integer"), ("limit", "integer"),
        ("before", "integer"),
    ],
}


def _ref(name: str) -> dict[str, Any]:
    if name.startswith("["):
        return {"type": "array", "items": _ref(name[1:-1])}
    return {"$ref": f"#/components/schemas/{name}"}


def build_openapi() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in SCHEMAS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    # A batch's orders are validated one by one (each is answered on its own), so its model
    # keeps them as objects; the document says what each must be.
    schemas["BatchOrdersBody"]["properties"]["orders"]["items"] = _ref("PlaceOrderBody")
    error = {"description": "error", "content": {"application/json": {"schema": _ref("Error")}}}
    paths: dict[str, Any] = {}
    for method, path, summary, auth, body, status, response in ROUTES:
        operation: dict[str, Any] = {"summary": summary, "responses": {}}
        params = [
            {"name": part[1:-1], "in": "path", "required": True,
             "schema": {"type": "integer" if part.endswith("_id}") else "string"}}
            for part in path.split("/") if part.startswith("{")
        ]
        if method == "get" or path == "/v1/orders":
            params += [
                {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
                for name, kind in QUERY.get(path, [])
                if method == "get" or name == "symbol"
            ]
        if params:
            operation["parameters"] = params
        if body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(body.__name__)}},
            }
        ok: dict[str, Any] = {"description": "success"}
        if response is not None:
            ok["content"] = {"application/json": {"schema": _ref(response)}}
        operation["responses"][str(status)] = ok
        operation["responses"]["default"] = error
        if auth != PUBLIC:
            operation["security"] = [{auth: []}]
        paths.setdefault(path, {})[method] = operation
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
