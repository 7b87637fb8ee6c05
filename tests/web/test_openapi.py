"""`/openapi.json`: valid OpenAPI 3.1, every route of the server in it with its methods, and
the answers the server gives declared (status, content type and body)."""

from __future__ import annotations

import itertools
import re
from typing import Any, get_args

import httpx
from cryptography.fernet import Fernet
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from exchange.engine import Engine
from exchange.pipeline.chaos import Chaos
from exchange.pipeline.deadman import DeadMan
from exchange.pipeline.history import History
from exchange.pipeline.journal import MemoryJournal
from exchange.pipeline.keyring import KeyRing
from exchange.pipeline.metrics import Metrics
from exchange.pipeline.readmodel import ReadModel
from exchange.pipeline.sequencer import Sequencer
from exchange.web import fastpath
from exchange.web.app import Services, create_app
from exchange.web.edge import HTTP
from exchange.web.errors import ApiError
from exchange.web.fanout import Fanout
from exchange.web.models import OrderType, PlaceOrderBody
from exchange.web.models import validate as validate_body
from exchange.web.openapi import build_openapi

from .support import ADMIN_TOKEN, Exchange, make_settings

SPEC = build_openapi()


def openapi_path(rule: str) -> str:
    """`/v1/orders/<int:order_id>` (werkzeug) as `/v1/orders/{order_id}` (OpenAPI)."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_the_document_is_valid_openapi_3_1() -> None:
    assert SPEC["openapi"] == "3.1.0"
    validate(SPEC, cls=OpenAPIV31SpecValidator)


def _services() -> Services:
    """The parts of a server that is never run: enough to build its app and routes."""
    readmodel, metrics, journal = ReadModel(), Metrics(), MemoryJournal()
    sequencer = Sequencer(Engine(), journal, readmodel, metrics)
    chaos = Chaos()
    return Services(make_settings(), readmodel, metrics, journal, sequencer, chaos,
                    DeadMan(sequencer, deadline=1.0), Fanout(readmodel, metrics, chaos=chaos),
                    History(readmodel, None), KeyRing(Fernet(Fernet.generate_key())))


def test_every_route_the_server_has_is_documented_with_its_methods() -> None:
    services = _services()
    app = create_app(services)
    served = {
        (method, openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        # The Binance-compatible surface is Binance's API, documented by binance.md.
        if not rule.rule.startswith(("/api/", "/sapi/"))
        # werkzeug answers HEAD wherever it answers GET: not an operation of its own.
        for method in (rule.methods or set()) - {"HEAD"}
    }
    # The hot handlers are answered by the edge's route table, ahead of the app.
    served |= {(route.method, openapi_path(route.rule))
               for route in fastpath.FastPath(services).routes() if route.kind == HTTP}
    documented = {
        (method.upper(), path) for path, item in SPEC["paths"].items() for method in item
    }
    assert served == documented


def test_every_parameter_is_bounded_and_every_answer_declared() -> None:
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            for param in operation.get("parameters", []):
                schema = param["schema"]
                if schema["type"] == "integer":
                    assert {"minimum", "maximum"} <= schema.keys(), (where, param["name"])
            responses = operation["responses"]
            assert "default" not in responses, where  # every status is named
            assert "400" in responses, where
            for status, answer in responses.items():
                if int(status) >= 400:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (where, status)


def test_the_order_schema_states_the_rules_between_fields_as_the_validator_checks_them() -> None:
    schema = {"$ref": "#/components/schemas/PlaceOrderBody", "components": SPEC["components"]}
    document = Draft202012Validator(schema)
    optional = {"price": "100", "stop_price": "90", "quantity": "1", "quote_quantity": "50",
                "expire_time": "2030-01-01T00:00:00Z"}
    kinds = get_args(OrderType)
    assert "take_profit_limit" in kinds
    for kind, tif, given in itertools.product(
        kinds, ("gtc", "gtd"), itertools.product((False, True), repeat=len(optional))
    ):
        body = {"symbol": "BTC-USD", "side": "buy", "type": kind, "time_in_force": tif}
        body |= {name: value for (name, value), on in zip(optional.items(), given, strict=True)
                 if on}
        try:
            validate_body(PlaceOrderBody, body)
            accepted = True
        except ApiError:
            accepted = False
        assert document.is_valid(body) == accepted, body


def conforms(method: str, path: str, response: httpx.Response) -> None:
    """Fails unless the document declares `response` for the operation: its status, its
    content type and, for JSON, its body."""
    operation = SPEC["paths"][path][method.lower()]
    where = f"{method} {path} -> {response.status_code}"
    answer = operation["responses"].get(str(response.status_code))
    assert answer is not None, f"{where}: undeclared status"
    if "content" not in answer:
        assert not response.content, f"{where}: a body where none is declared"
        return
    media = response.headers["content-type"].split(";")[0].strip()
    assert media in answer["content"], f"{where}: undeclared content type {media}"
    if media == "application/json":
        schema = {**answer["content"][media]["schema"], "components": SPEC["components"]}
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(response.json())]
        assert not errors, f"{where}: {errors[:3]}"


async def test_the_answers_the_server_gives_are_declared(exchange: Exchange) -> None:
    await exchange.instrument()
    trader = await exchange.trader("t", USD="1000")
    key = {"Authorization": f"Bearer {trader.api_key}"}
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    order = {"symbol": "BTC-USD", "side": "buy", "type": "limit", "quantity": "1",
             "price": "100", "client_order_id": "once"}
    deposit = {"asset": "USD", "amount": "5", "deposit_id": "d-1"}
    deposits = f"/v1/admin/accounts/{trader.account_id}/deposits"
    deposits_path = "/v1/admin/accounts/{account_id}/deposits"
    cases: list[tuple[str, str, str, dict[str, Any], int]] = [
        # (method, url, documented path, request keywords, status the server gives)
        ("POST", deposits, deposits_path, {"json": deposit, "headers": admin}, 201),
        ("POST", deposits, deposits_path, {"json": deposit, "headers": admin}, 200),
        ("POST", deposits, deposits_path,
         {"json": {"asset": "USD", "amount": "-1000000"}, "headers": admin}, 422),
        ("POST", deposits, deposits_path, {"json": deposit, "headers": key}, 403),
        ("POST", "/v1/orders", "/v1/orders", {"json": order, "headers": key}, 201),
        ("POST", "/v1/orders", "/v1/orders", {"json": order, "headers": key}, 200),
        ("POST", "/v1/orders", "/v1/orders",
         {"json": {**order, "price": "101"}, "headers": key}, 409),
        ("POST", "/v1/orders", "/v1/orders",
         {"json": {**order, "client_order_id": "big", "quantity": "1000"},
          "headers": key}, 422),
        ("POST", "/v1/orders", "/v1/orders",
         {"content": b"x" * 70_000, "headers": key}, 413),
        ("POST", "/v1/orders", "/v1/orders", {"json": order}, 401),
        ("DELETE", "/v1/orders/1", "/v1/orders/{order_id}", {"headers": key}, 200),
        ("DELETE", "/v1/orders/1", "/v1/orders/{order_id}", {"headers": key}, 409),
        ("GET", "/v1/orders/99", "/v1/orders/{order_id}", {"headers": key}, 404),
        ("GET", "/v1/instruments/BTC-USD/book?depth=0", "/v1/instruments/{symbol}/book",
         {}, 400),
        ("GET", "/v1/instruments/BTC-USD/book", "/v1/instruments/{symbol}/book", {}, 200),
        ("GET", "/v1/instruments/NOPE-USD", "/v1/instruments/{symbol}", {}, 404),
        ("POST", "/v1/admin/instruments", "/v1/admin/instruments",
         {"json": {"symbol": "BTC-USD", "base": "BTC", "quote": "USD",
                   "tick_size": "0.01", "lot_size": "0.001"}, "headers": admin}, 409),
        ("GET", "/healthz", "/healthz", {}, 200),
        ("GET", "/readyz", "/readyz", {}, 200),
        ("GET", "/metrics", "/metrics", {}, 200),
        ("GET", "/openapi.json", "/openapi.json", {}, 200),
        ("GET", "/docs", "/docs", {}, 200),
        ("GET", "/app/app.js", "/app/{name}", {}, 200),
        ("GET", "/app/nothing.js", "/app/{name}", {}, 404),
    ]
    # A connection per request: what this test checks does not depend on keep-alive.
    for method, url, path, request, status in cases:
        async with httpx.AsyncClient(base_url=exchange.url) as http:
            response = await http.request(method, url, **request)
        assert response.status_code == status, (method, url, response.text)
        conforms(method, path, response)
    async with httpx.AsyncClient(base_url=exchange.url) as http:
        page = await http.get("/")
        conforms("GET", "/", page)
        again = await http.get("/", headers={"If-None-Match": page.headers["etag"]})
        assert again.status_code == 304
        conforms("GET", "/", again)
