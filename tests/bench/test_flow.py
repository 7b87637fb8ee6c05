"""The shared order mix of the network benches (`bench/flow.py`): pure, no server."""

from __future__ import annotations

import random
from collections import Counter

from exchange.bench.flow import Market, Op, OrderFlow


def _draw(seed: int, count: int) -> tuple[list[Op], OrderFlow]:
    flow = OrderFlow(seed, Market(random.Random(seed)))
    ops = []
    for index in range(count):
        op = flow.next()
        ops.append(op)
        if op.order is not None:  # every placement rests, as if nothing traded
            flow.observe(op, {"order_id": index + 1, "status": "new"})
    return ops, flow


def test_the_same_seed_draws_the_same_ops() -> None:
    assert _draw(3, 300)[0] == _draw(3, 300)[0]
    assert _draw(3, 300)[0] != _draw(4, 300)[0]


def test_the_mix_has_the_bench_md_proportions() -> None:
    ops, _ = _draw(1, 20_000)
    share = {kind: count / len(ops) for kind, count in Counter(op.kind for op in ops).items()}
    expected = {"passive": 0.50, "cancel": 0.20, "aggressive": 0.10, "market": 0.05,
                "amend": 0.10, "stop_or_post_only": 0.05}
    assert set(share) == set(expected)
    for kind, fraction in expected.items():
        assert abs(share[kind] - fraction) < 0.02, (kind, share[kind])


def test_cancels_and_amends_target_live_orders_only() -> None:
    ops, flow = _draw(2, 2_000)
    placed: set[int] = set()
    cancelled: set[int] = set()
    for index, op in enumerate(ops):
        if op.order is not None:
            placed.add(index + 1)
        elif op.kind == "cancel":
            assert op.order_id in placed
            assert op.order_id not in cancelled
            cancelled.add(op.order_id or 0)
        else:
            assert op.order_id in placed
            assert op.order_id not in cancelled
    assert len(flow.live) <= 200
    flow.observe(Op("passive"), {"order_id": 10**9, "status": "filled"})
    assert 10**9 not in flow.live  # finished orders are not live


def test_each_op_maps_to_rest_and_websocket() -> None:
    place = Op("passive", order={"symbol": "BENCH-USD", "side": "buy"})
    assert place.http() == ("POST", "/v1/orders", place.order)
    assert place.ws() == {"op": "place", "order": place.order}
    cancel = Op("cancel", order_id=7)
    assert cancel.http() == ("DELETE", "/v1/orders/7", None)
    assert cancel.ws() == {"op": "cancel", "order_id": 7}
    amend = Op("amend", order_id=8, changes={"price": "99.00"})
    assert amend.http() == ("PATCH", "/v1/orders/8", {"price": "99.00"})
    assert amend.ws() == {"op": "amend", "order_id": 8, "price": "99.00"}


def test_without_amends_their_tenth_are_passive_limits() -> None:
    flow = OrderFlow(1, Market(random.Random(1)), amends=False)
    ops = []
    for index in range(20_000):
        op = flow.next()
        ops.append(op)
        if op.order is not None:
            flow.observe(op, {"order_id": index + 1, "status": "new"})
    share = {kind: count / len(ops) for kind, count in Counter(op.kind for op in ops).items()}
    assert "amend" not in share
    assert abs(share["passive"] - 0.60) < 0.02
    assert abs(share["cancel"] - 0.20) < 0.02
