"""The Binance dialect of the network benches (`bench/binance.py`): each op of the mix as
the Binance requests ccxt would send, signed so that the server's own checks accept them."""

from __future__ import annotations

import random
import time

import msgspec
import pytest
from cryptography.fernet import Fernet

from exchange.bench.binance import Signer, op_params, order_params
from exchange.bench.flow import Market, Op, OrderFlow, Trader
from exchange.binance.errors import BinanceError
from exchange.binance.signing import verify_request
from exchange.binance.user import verify_ws
from exchange.pipeline.keyring import ApiKey, KeyRing

KEY, SECRET = "K" * 64, "S" * 64


def _ring() -> KeyRing:
    ring = KeyRing(Fernet(Fernet.generate_key()))
    ring.keys[KEY] = ApiKey(KEY, 7, "hmac", 0, secret=SECRET.encode())
    return ring


def test_each_order_of_the_mix_in_binance_words() -> None:
    assert order_params({"symbol": "BENCH-USD", "side": "buy", "type": "limit",
                         "quantity": "0.005", "price": "99.50", "time_in_force": "ioc"}) == {
        "symbol": "BENCHUSD", "side": "BUY", "type": "LIMIT", "quantity": "0.005",
        "price": "99.50", "timeInForce": "IOC", "newOrderRespType": "FULL"}
    assert order_params({"symbol": "BENCH-USD", "side": "sell", "type": "limit",
                         "quantity": "0.005", "price": "99.50", "post_only": True}) == {
        "symbol": "BENCHUSD", "side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.005",
        "price": "99.50", "newOrderRespType": "FULL"}
    assert order_params({"symbol": "BENCH-USD", "side": "buy", "type": "market",
                         "quantity": "0.020"})["type"] == "MARKET"
    stop = order_params({"symbol": "BENCH-USD", "side": "buy", "type": "stop_limit",
                         "quantity": "0.001", "stop_price": "101.00", "price": "101.50"})
    assert (stop["type"], stop["stopPrice"], stop["timeInForce"]) == (
        "STOP_LOSS_LIMIT", "101.00", "GTC")
    assert op_params(Op("cancel", order_id=12), "BENCH-USD") == (
        "cancel", {"symbol": "BENCHUSD", "orderId": "12"})
    with pytest.raises(ValueError, match="has no 'amend'"):
        op_params(Op("amend", order_id=12, changes={"price": "1.00"}), "BENCH-USD")


def _ops(count: int) -> list[Op]:
    flow = OrderFlow(5, Market(random.Random(5)), amends=False)
    ops = []
    for index in range(count):
        op = flow.next()
        ops.append(op)
        if op.order is not None:
            flow.observe(op, {"order_id": index + 1, "status": "new"})
    return ops


def test_rest_requests_pass_the_servers_signature_check() -> None:
    ring, signer = _ring(), Signer(Trader("v1-key", KEY, SECRET))
    now = time.time_ns() // 1_000_000
    for op in _ops(200):
        method, signed = signer.rest(op, "BENCH-USD")
        query, body = (b"", signed) if method == "POST" else (signed, b"")
        key, given = verify_request(ring, KEY, query, body, now)
        assert key.account_id == 7
        assert method == ("DELETE" if op.kind == "cancel" else "POST")
        assert given["recvWindow"] == "10000"
        assert "signature" in given
    tampered = signed.replace(b"symbol=BENCHUSD", b"symbol=BENCHUSE")
    with pytest.raises(BinanceError) as refused:
        verify_request(ring, KEY, b"", tampered, now)
    assert refused.value.binance_code == -1022


def test_websocket_requests_pass_the_servers_signature_check() -> None:
    ring, signer = _ring(), Signer(Trader("v1-key", KEY, SECRET))
    now = time.time_ns() // 1_000_000
    for index, op in enumerate(_ops(200)):
        request = msgspec.json.decode(signer.ws(op, "BENCH-USD", index))
        assert request["id"] == index
        assert request["method"] == ("order.cancel" if op.kind == "cancel" else "order.place")
        assert verify_ws(ring, request["params"], now) == 7
    request["params"]["quantity"] = "9"
    with pytest.raises(BinanceError) as refused:
        verify_ws(ring, request["params"], now)
    assert refused.value.binance_code == -1022
