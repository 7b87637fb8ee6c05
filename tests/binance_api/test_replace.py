"""Cancel-replace (`POST /api/v3/order/cancelReplace`, `order.cancelReplace`) and amend
keeping priority (`PUT /api/v3/order/amend/keepPriority`, `order.amend.keepPriority`)
against a real server: the unmodified ccxt's `edit_order` and ccxt.pro's `edit_order_ws`,
signed requests for both modes and every failure, the original order checked untouched
through `GET order` and the `/v1` book, and the user data stream's reports."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import ccxt
import httpx
import pytest
import trio
import trio_websocket

from .test_ccxt import Venue, binance, serve_venue
from .test_ccxt_pro import pro_private

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

INSUFFICIENT = {"code": -2010, "msg": "Account has insufficient balance for requested action."}
UNKNOWN = {"code": -2011, "msg": "Unknown order sent."}


@pytest.fixture(scope="module")
def venue() -> Iterator[Venue]:
    yield from serve_venue("0.01", "0.001", "0", "0")


class Trader:
    """Signed `/api/v3` requests of one account, as a bot would send them."""

    def __init__(self, venue: Venue, name: str, **funds: str) -> None:
        self.venue = venue
        self.account_id, self.bearer, self.key, self.secret = venue.trader(name, **funds)

    def sign(self, params: dict[str, Any]) -> str:
        params = {**params, "timestamp": int(time.time() * 1000)}
        query = urlencode(params)
        signature = hmac.new(self.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        return query + "&signature=" + signature

    def call(self, method: str, path: str, **params: Any) -> httpx.Response:
        return httpx.request(method, f"{self.venue.url}/api/v3/{path}?{self.sign(params)}",
                             headers={"X-MBX-APIKEY": self.key})

    def place(self, side: str, quantity: str, price: str, **params: Any) -> dict[str, Any]:
        answer = self.call("POST", "order", symbol="BTCUSD", side=side, type="LIMIT",
                           timeInForce="GTC", quantity=quantity, price=price, **params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def replace(self, mode: str, **params: Any) -> httpx.Response:
        fields = {"symbol": "BTCUSD", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                  "cancelReplaceMode": mode, **params}
        return self.call("POST", "order/cancelReplace", **fields)

    def order(self, order_id: int) -> dict[str, Any]:
        return self.call("GET", "order", symbol="BTCUSD", orderId=order_id).json()

    def open_ids(self) -> list[int]:
        answer = self.call("GET", "openOrders", symbol="BTCUSD").json()
        return sorted(order["orderId"] for order in answer)


def book(venue: Venue) -> Any:
    answer = httpx.get(venue.url + "/v1/instruments/BTC-USD/book").json()
    return answer["bids"], answer["asks"]


def test_ccxt_edit_order_cancels_and_places_in_one_step(venue: Venue) -> None:
    trader = Trader(venue, "editor", USD="10000")
    exchange = binance(venue.url, trader.key, trader.secret)
    market = exchange.load_markets()["BTC/USD"]
    assert market["info"]["cancelReplaceAllowed"]
    assert market["info"]["amendAllowed"]
    placed = exchange.create_order("BTC/USD", "limit", "buy", 1, 50)
    edited = exchange.edit_order(placed["id"], "BTC/USD", "limit", "buy", 2, 49.5)
    assert edited["id"] != placed["id"]
    assert (edited["status"], edited["amount"], edited["price"]) == ("open", 2, 49.5)
    assert edited["clientOrderId"].startswith("x-")  # ccxt names the new order too
    assert exchange.fetch_order(placed["id"], "BTC/USD")["status"] == "canceled"
    assert [o["id"] for o in exchange.fetch_open_orders("BTC/USD")] == [edited["id"]]
    assert book(venue) == ([["49.5", "2", 1]], [])
    assert exchange.fetch_balance()["USD"]["used"] == 99
    with pytest.raises(ccxt.ExchangeError, match="-2022"):  # the old order is gone now
        exchange.edit_order(placed["id"], "BTC/USD", "limit", "buy", 1, 49)
    with pytest.raises(ccxt.ExchangeError, match="-2022"):  # 10,000 USD, 1,000 BTC at 49
        exchange.edit_order(edited["id"], "BTC/USD", "limit", "buy", 1000, 49)
    assert exchange.fetch_order(edited["id"], "BTC/USD")["status"] == "open"


def test_stop_on_failure_leaves_the_order_exactly_as_it_was(venue: Venue) -> None:
    trader = Trader(venue, "careful-replacer", USD="100")
    first = trader.place("BUY", "1", "60")
    behind = Trader(venue, "behind", USD="1000")
    behind.place("BUY", "1", "60")
    before_book, before_order = book(venue), trader.order(first["orderId"])
    # 100 USD, 60 of them held: all come back with the cancel, and 2 x 55 still do not fit.
    answer = trader.replace("STOP_ON_FAILURE", cancelOrderId=first["orderId"], quantity="2",
                            price="55", newClientOrderId="too-big")
    assert answer.status_code == 400
    assert answer.json() == {"code": -2022, "msg": "Order cancel-replace failed.", "data": {
        "cancelResult": "NOT_ATTEMPTED", "newOrderResult": "FAILURE",
        "cancelResponse": None, "newOrderResponse": INSUFFICIENT}}
    assert trader.order(first["orderId"]) == before_order
    assert book(venue) == before_book
    assert trader.open_ids() == [first["orderId"]]
    assert trader.call("GET", "order", symbol="BTCUSD",
                       origClientOrderId="too-big").json()["code"] == -2013
    # 2 x 50 fits, with what the cancel releases: both halves done.
    answer = trader.replace("STOP_ON_FAILURE", cancelOrderId=first["orderId"], quantity="2",
                            price="50")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["cancelResult"], body["newOrderResult"]) == ("SUCCESS", "SUCCESS")
    assert body["cancelResponse"]["orderId"] == first["orderId"]
    assert body["cancelResponse"]["status"] == "CANCELED"
    assert body["newOrderResponse"]["status"] == "NEW"
    assert trader.open_ids() == [body["newOrderResponse"]["orderId"]]
    # A cancel that fails places nothing.
    answer = trader.replace("STOP_ON_FAILURE", cancelOrderId=first["orderId"], quantity="1",
                            price="10")
    assert answer.status_code == 400
    assert answer.json()["data"] == {"cancelResult": "FAILURE",
                                     "newOrderResult": "NOT_ATTEMPTED",
                                     "cancelResponse": UNKNOWN, "newOrderResponse": None}
    assert trader.open_ids() == [body["newOrderResponse"]["orderId"]]


def test_allow_failure_keeps_each_half(venue: Venue) -> None:
    trader = Trader(venue, "loose-replacer", USD="1000", BTC="10")
    seller = Trader(venue, "resting-seller", BTC="10")
    seller.place("SELL", "1", "70")
    first = trader.place("BUY", "1", "55")
    # The cancel done, the new order (a maker order that would take) refused: 409, -2021.
    answer = trader.replace("ALLOW_FAILURE", cancelOrderId=first["orderId"],
                            type="LIMIT_MAKER", quantity="1", price="70")
    assert answer.status_code == 409
    body = answer.json()
    assert (body["code"], body["msg"]) == (-2021, "Order cancel-replace partially failed.")
    assert body["data"]["cancelResult"] == "SUCCESS"
    assert body["data"]["cancelResponse"]["status"] == "CANCELED"
    assert (body["data"]["newOrderResult"], body["data"]["newOrderResponse"]) == (
        "FAILURE", {"code": -2010, "msg": "Order would immediately match and take."})
    assert trader.order(first["orderId"])["status"] == "CANCELED"
    assert trader.open_ids() == []
    # The cancel failed, the new order placed: 409, -2021.
    answer = trader.replace("ALLOW_FAILURE", cancelOrderId=first["orderId"], quantity="1",
                            price="54", newOrderRespType="ACK")
    assert answer.status_code == 409
    data = answer.json()["data"]
    assert (data["cancelResult"], data["cancelResponse"]) == ("FAILURE", UNKNOWN)
    assert data["newOrderResult"] == "SUCCESS"
    assert set(data["newOrderResponse"]) == {"symbol", "orderId", "orderListId",
                                             "clientOrderId", "transactTime"}
    assert trader.open_ids() == [data["newOrderResponse"]["orderId"]]
    # Both failed: 400, -2022.
    answer = trader.replace("ALLOW_FAILURE", cancelOrderId=first["orderId"], quantity="100",
                            price="54")
    assert answer.status_code == 400
    assert answer.json()["data"] == {"cancelResult": "FAILURE", "newOrderResult": "FAILURE",
                                     "cancelResponse": UNKNOWN,
                                     "newOrderResponse": INSUFFICIENT}
    for who in (trader, seller):  # the book as it was, for the other tests
        assert who.call("DELETE", "openOrders", symbol="BTCUSD").status_code == 200


def test_the_order_named_by_client_order_id_and_bad_requests(venue: Venue) -> None:
    trader = Trader(venue, "named-replacer", USD="1000")
    first = trader.place("BUY", "1", "40", newClientOrderId="mine")
    before = book(venue)
    for params, code in (
            ({"cancelOrderId": first["orderId"], "cancelReplaceMode": ""}, -1102),
            ({"cancelOrderId": first["orderId"], "cancelReplaceMode": "SOMETIMES"}, -1100),
            ({}, -1102),
            ({"cancelOrderId": first["orderId"], "price": "40.001"}, -1013),  # off the tick
            ({"cancelOrderId": first["orderId"], "type": "ICEBERG"}, -1116),
            ({"cancelOrderId": "12x"}, -1100)):
        fields = {"cancelReplaceMode": "STOP_ON_FAILURE", "quantity": "1", "price": "41",
                  **params}
        answer = trader.call("POST", "order/cancelReplace", symbol="BTCUSD", side="BUY",
                             type=fields.pop("type", "LIMIT"), timeInForce="GTC", **fields)
        assert (answer.status_code, answer.json()["code"]) == (400, code), (params,
                                                                            answer.text)
    assert book(venue) == before
    assert trader.order(first["orderId"])["status"] == "NEW"
    # Both ids, not of one order: the cancel fails.
    answer = trader.replace("STOP_ON_FAILURE", cancelOrderId=first["orderId"],
                            cancelOrigClientOrderId="other", quantity="1", price="41")
    assert answer.json()["data"]["cancelResult"] == "FAILURE"
    # A client order id already used: the new order fails, nothing happens.
    answer = trader.replace("STOP_ON_FAILURE", cancelOrigClientOrderId="mine", quantity="1",
                            price="41", newClientOrderId="mine")
    assert answer.json()["data"] == {
        "cancelResult": "NOT_ATTEMPTED", "newOrderResult": "FAILURE", "cancelResponse": None,
        "newOrderResponse": {"code": -2010, "msg": "Duplicate order sent."}}
    assert trader.open_ids() == [first["orderId"]]
    answer = trader.replace("STOP_ON_FAILURE", cancelOrigClientOrderId="mine", quantity="1",
                            price="41", cancelNewClientOrderId="cancel-1",
                            newClientOrderId="second")
    body = answer.json()
    assert body["cancelResponse"]["origClientOrderId"] == "mine"
    assert body["cancelResponse"]["clientOrderId"] == "cancel-1"
    assert body["newOrderResponse"]["clientOrderId"] == "second"
    # Allowing failure, a used client order id: the cancel alone.
    answer = trader.replace("ALLOW_FAILURE", cancelOrigClientOrderId="second", quantity="1",
                            price="41", newClientOrderId="mine")
    assert answer.status_code == 409
    data = answer.json()["data"]
    assert (data["cancelResult"], data["cancelResponse"]["status"]) == ("SUCCESS", "CANCELED")
    assert data["newOrderResponse"] == {"code": -2010, "msg": "Duplicate order sent."}
    assert trader.open_ids() == []


def test_amend_keep_priority(venue: Venue) -> None:
    first = Trader(venue, "first-in-line", BTC="10")
    second = Trader(venue, "second-in-line", BTC="10")
    taker = Trader(venue, "amend-taker", USD="10000")
    placed = first.place("SELL", "3", "80", newClientOrderId="keep-me")
    second.place("SELL", "1", "80")
    answer = first.call("PUT", "order/amend/keepPriority", symbol="BTCUSD",
                        orderId=placed["orderId"], newQty="1.5")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"transactTime", "executionId", "amendedOrder"}
    amended = body["amendedOrder"]
    assert (amended["orderId"], amended["qty"], amended["status"]) == (placed["orderId"],
                                                                       "1.5", "NEW")
    assert amended["clientOrderId"] == amended["origClientOrderId"] == "keep-me"
    assert first.order(placed["orderId"])["origQty"] == "1.5"
    assert book(venue)[1] == [["80", "2.5", 2]]
    # Still first in line: a buy of 1.5 takes all of it and nothing of the second.
    taker.call("POST", "order", symbol="BTCUSD", side="BUY", type="MARKET", quantity="1.5")
    assert first.order(placed["orderId"])["status"] == "FILLED"
    resting = second.open_ids()
    assert len(resting) == 1
    assert second.order(resting[0])["executedQty"] == "0"
    # Refusals, Binance's words.
    later = first.place("SELL", "2", "90")
    for qty, code, msg in (
            ("3", -2038, "Order amend (quantity increase) is not supported."),
            ("2", -2038, "The requested action would change no state; rejecting"),
            ("0.0005", -1013, "Filter failure: LOT_SIZE"),
            ("abc", -1100, "Illegal characters found in parameter 'newQty'.")):
        answer = first.call("PUT", "order/amend/keepPriority", symbol="BTCUSD",
                            orderId=later["orderId"], newQty=qty)
        assert (answer.status_code, answer.json()) == (400, {"code": code, "msg": msg}), qty
    answer = first.call("PUT", "order/amend/keepPriority", symbol="BTCUSD",
                        orderId=placed["orderId"], newQty="1")  # filled: not open
    assert answer.json() == {"code": -2038, "msg": "Unknown order sent."}
    assert first.order(later["orderId"])["origQty"] == "2"


def _ws_signed(trader: Trader, params: dict[str, Any]) -> dict[str, Any]:
    params = {**params, "apiKey": trader.key, "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    params["signature"] = hmac.new(trader.secret.encode(), payload.encode(),
                                   hashlib.sha256).hexdigest()
    return params


async def test_the_websocket_api_twins_and_the_user_data_stream(venue: Venue) -> None:
    trader = Trader(venue, "ws-replacer", USD="1000", BTC="5")
    placed = trader.place("SELL", "2", "95")
    url = venue.url.replace("http", "ws", 1) + "/ws-api/v3"
    async with trio_websocket.open_websocket_url(url) as ws:

        async def ask(request_id: str, method: str, params: dict[str, Any]
                      ) -> dict[str, Any]:
            await ws.send_message(json.dumps({"id": request_id, "method": method,
                                              "params": _ws_signed(trader, params)}))
            with trio.fail_after(10):
                while True:
                    message = json.loads(await ws.get_message())
                    if message.get("id") == request_id:
                        return message
                    reports.append(message["event"])

        reports: list[dict[str, Any]] = []
        assert (await ask("s", "userDataStream.subscribe.signature", {}))["status"] == 200
        amended = await ask("a", "order.amend.keepPriority", {
            "symbol": "BTCUSD", "orderId": placed["orderId"], "newQty": "1"})
        assert amended["status"] == 200, amended
        assert amended["result"]["amendedOrder"]["qty"] == "1"
        replaced = await ask("r", "order.cancelReplace", {
            "symbol": "BTCUSD", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
            "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": placed["orderId"],
            "quantity": "1", "price": "96"})
        assert replaced["status"] == 200, replaced
        new_id = replaced["result"]["newOrderResponse"]["orderId"]
        failed = await ask("f", "order.cancelReplace", {
            "symbol": "BTCUSD", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
            "cancelReplaceMode": "ALLOW_FAILURE", "cancelOrderId": new_id,
            "quantity": "100", "price": "96"})
        assert failed["status"] == 409
        assert failed["error"]["code"] == -2021
        assert failed["error"]["data"]["newOrderResponse"] == INSUFFICIENT
        with trio.fail_after(10):
            while sum(r.get("e") == "executionReport" for r in reports) < 4:
                reports.append(json.loads(await ws.get_message())["event"])
    executions = [(r["i"], r["x"], r["X"]) for r in reports if r.get("e") == "executionReport"]
    assert executions[:4] == [(placed["orderId"], "REPLACED", "NEW"),
                              (placed["orderId"], "CANCELED", "CANCELED"),
                              (new_id, "NEW", "NEW"), (new_id, "CANCELED", "CANCELED")]
    assert [r["q"] for r in reports if r.get("x") == "REPLACED"] == ["1"]


def test_ccxt_pro_edit_order_ws(venue: Venue) -> None:
    trader = Trader(venue, "pro-editor", USD="1000")

    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        exchange = pro_private(venue.url, trader.key, trader.secret)
        try:
            await exchange.load_markets()
            placed = await exchange.create_order_ws("BTC/USD", "limit", "buy", 1, 30)
            edited = await exchange.edit_order_ws(placed["id"], "BTC/USD", "limit", "buy",
                                                  1, 31)
            return placed, edited
        finally:
            await exchange.close()

    placed, edited = asyncio.run(main())
    assert edited["id"] != placed["id"]
    assert (edited["price"], edited["status"]) == (31, "open")
    assert trader.open_ids() == [int(edited["id"])]
    assert trader.order(int(placed["id"]))["status"] == "CANCELED"
