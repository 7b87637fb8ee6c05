"""Binance order entry on the hot paths: `POST`/`DELETE /api/v3/order` as routes of the edge's
table (`binance/fastpath.py`), and `/ws-api/v3` `order.place`/`order.cancel` answered from
the sequencer's callbacks (`binance/ws.py`). The same answers and Binance's own errors as
the Quart routes, against a real server (ccxt and python-binance cover them too)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import msgspec
import trio

from exchange.bench.rawws import RawWebSocket
from exchange.binance import fastpath
from exchange.web.app import create_app
from web.support import Exchange, start_exchange

SYMBOL = "BTCUSD"


class Trader:
    """An account with an HMAC key, signing as ccxt does."""

    def __init__(self, key: str, secret: str) -> None:
        self.key, self.secret = key, secret.encode()

    def form(self, **params: Any) -> str:
        params.setdefault("timestamp", time.time_ns() // 1_000_000)
        query = urlencode(params)
        return query + "&signature=" + hmac.new(self.secret, query.encode(),
                                                hashlib.sha256).hexdigest()

    def ws(self, request_id: int, method: str, **params: Any) -> bytes:
        params.update(apiKey=self.key, timestamp=time.time_ns() // 1_000_000)
        payload = "&".join(f"{name}={params[name]}" for name in sorted(params))
        params["signature"] = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()
        return msgspec.json.encode({"id": request_id, "method": method, "params": params})


async def _venue(nursery: trio.Nursery, **overrides: Any) -> Exchange:
    running = await start_exchange(nursery, **overrides)
    await running.admin.create_instrument("BTC-USD", "BTC", "USD", tick_size="0.01",
                                          lot_size="0.001", maker_fee_rate="0",
                                          taker_fee_rate="0")
    return running


async def _trader(running: Exchange, name: str) -> Trader:
    admin = running.admin
    account = (await admin.create_account(name))["account_id"]
    await admin.deposit(account, "USD", "100000")
    await admin.deposit(account, "BTC", "100")
    made = await admin.request("POST", f"/v1/admin/accounts/{account}/api-keys",
                               json={"type": "hmac"}, auth="admin")
    return Trader(made["api_key"], made["secret_key"])


def _limit(side: str, price: str, **more: Any) -> dict[str, Any]:
    return {"symbol": SYMBOL, "side": side, "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "1", "price": price, **more}


async def test_the_fast_routes_are_routes_of_the_app_too(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery)
    services = running.server.services
    app_routes = {(method, rule.rule) for rule in create_app(services).url_map.iter_rules()
                  for method in rule.methods or ()}
    fast = {(route.method, route.rule) for route in fastpath.routes(services)}
    assert fast == {("POST", "/api/v3/order"), ("DELETE", "/api/v3/order")}
    assert fast <= app_routes  # the app on its own answers them the same way
    await running.admin.aclose()
    running.server.shutdown()


async def test_rest_order_entry_answers_as_binance(nursery: trio.Nursery) -> None:
    running = await _venue(nursery, rate_limit=1000, rate_burst=1000)
    maker, taker = await _trader(running, "maker"), await _trader(running, "taker")
    form = {"content-type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(base_url=running.url) as http:
        def post(trader: Trader, **params: Any) -> Any:
            return http.post("/api/v3/order", content=trader.form(**params),
                             headers={**form, "X-MBX-APIKEY": trader.key})

        resting = await post(maker, **_limit("SELL", "100.00"))
        assert resting.status_code == 200, resting.text
        assert resting.json()["status"] == "NEW"
        assert resting.json()["fills"] == []
        assert "X-RateLimit-Remaining" in resting.headers  # the rate limit's headers too
        filled = await post(taker, **_limit("BUY", "100.00", newOrderRespType="FULL"))
        assert filled.json()["status"] == "FILLED"
        assert filled.json()["fills"][0]["price"] == "100"
        ack = await post(maker, **_limit("SELL", "101.00", newOrderRespType="ACK"))
        assert set(ack.json()) == {"symbol", "orderId", "orderListId", "clientOrderId",
                                   "transactTime"}
        # A repeat of a client order id answers the order placed first.
        first = await post(maker, **_limit("SELL", "102.00", newClientOrderId="again-1"))
        second = await post(maker, **_limit("SELL", "102.00", newClientOrderId="again-1"))
        assert first.json()["orderId"] == second.json()["orderId"]

        cancel = await http.request("DELETE", "/api/v3/order", headers={
            **form, "X-MBX-APIKEY": maker.key}, content=maker.form(
            symbol=SYMBOL, orderId=ack.json()["orderId"]))  # in the body, as python-binance
        assert cancel.status_code == 200, cancel.text
        assert (cancel.json()["status"], cancel.json()["origClientOrderId"]) == (
            "CANCELED", cancel.json()["clientOrderId"])
        again = await http.delete("/api/v3/order?" + maker.form(
            symbol=SYMBOL, orderId=ack.json()["orderId"]), headers={"X-MBX-APIKEY": maker.key})
        assert (again.status_code, again.json()) == (
            400, {"code": -2011, "msg": "Unknown order sent."})

        async def refused(response: Any) -> tuple[int, int, str]:
            answer = await response
            body = answer.json()
            assert set(body) == {"code", "msg"}
            return answer.status_code, body["code"], body["msg"]

        assert await refused(post(taker, **_limit("BUY", "102.00", type="LIMIT_MAKER"))) == (
            400, -2010, "Order would immediately match and take.")
        assert (await refused(post(maker, **_limit("BUY", "1.00", symbol="NOPE"))))[1] == -1121
        assert (await refused(post(maker, **_limit("BUY", "1.001"))))[1] == -1013
        assert (await refused(http.post("/api/v3/order", content=maker.form(
            **_limit("BUY", "1.00"))))) == (401, -2014, "API-key format invalid.")
        assert (await refused(http.post("/api/v3/order", content=maker.form(
            **_limit("BUY", "1.00")), headers={**form, "X-MBX-APIKEY": taker.key})))[1] == -1022
        assert (await refused(post(maker, **_limit("BUY", "1.00"),
                                   timestamp=1)))[1] == -1021
        huge = await refused(http.post("/api/v3/order", content=b"x" * (2 << 20),
                                       headers={**form, "X-MBX-APIKEY": maker.key}))
        assert huge[0] == 413
    await running.admin.aclose()
    running.server.shutdown()


async def test_websocket_order_entry_answers_from_callbacks(nursery: trio.Nursery) -> None:
    running = await _venue(nursery)
    maker, taker = await _trader(running, "maker"), await _trader(running, "taker")
    ws = await RawWebSocket.open(running.url.replace("http", "ws") + "/ws-api/v3")
    pending: dict[int, Any] = {}

    async def ask(*requests: bytes) -> list[Any]:
        await ws.send_texts(requests)
        wanted = [msgspec.json.decode(request)["id"] for request in requests]
        while not all(request_id in pending for request_id in wanted):
            for payload in await ws.receive():
                answer = msgspec.json.decode(payload)
                pending[answer["id"]] = answer
        return [pending.pop(request_id) for request_id in wanted]

    resting, = await ask(maker.ws(1, "order.place", **_limit("SELL", "100.00")))
    assert resting["status"] == 200
    assert resting["result"]["status"] == "NEW"
    filled, would_take = await ask(
        taker.ws(2, "order.place", **_limit("BUY", "100.00", quantity="0.5")),
        taker.ws(3, "order.place", **_limit("BUY", "100.00", type="LIMIT_MAKER")))
    assert filled["result"]["status"] == "FILLED"
    assert filled["result"]["fills"][0]["qty"] == "0.5"
    assert would_take == {"id": 3, "status": 400, "error": {
        "code": -2010, "msg": "Order would immediately match and take."}}
    order_id = resting["result"]["orderId"]
    # Both cancels go to the engine (the order is open when each arrives); one wins.
    cancelled, unknown = await ask(
        maker.ws(4, "order.cancel", symbol=SYMBOL, orderId=order_id),
        maker.ws(5, "order.cancel", symbol=SYMBOL, orderId=order_id))
    lookup, = await ask(maker.ws(6, "order.status", symbol=SYMBOL, orderId=order_id))
    assert (cancelled["result"]["status"], cancelled["result"]["executedQty"]) == (
        "CANCELED", "0.5")
    assert unknown["error"]["code"] == -2011
    assert lookup["result"]["status"] == "CANCELED"
    # With a client order id (a task, for idempotency): the repeat answers the first order.
    first, second = await ask(
        maker.ws(7, "order.place", **_limit("SELL", "105.00", newClientOrderId="ws-1")),
        maker.ws(8, "order.place", **_limit("SELL", "105.00", newClientOrderId="ws-1")))
    assert first["result"]["orderId"] == second["result"]["orderId"]
    # More requests at once than a connection may have in flight: every one is answered.
    many = await ask(*(maker.ws(100 + index, "order.place",
                                **_limit("SELL", "110.00", quantity="0.01"))
                       for index in range(400)))
    assert [answer["status"] for answer in many] == [200] * 400
    assert len({answer["result"]["orderId"] for answer in many}) == 400
    await ws.aclose()
    await running.admin.aclose()
    running.server.shutdown()
