"""A tiny inbox and a slow journal: 503 overloaded at once, and no acknowledged order lost."""

from __future__ import annotations

import trio

from exchange.client import ExchangeError
from exchange.engine.events import OrderAccepted
from exchange.pipeline.journal import MemoryJournal
from web.support import start_exchange


async def test_full_inbox_answers_503_and_loses_nothing(nursery: trio.Nursery) -> None:
    journal = MemoryJournal(queue_size=1, commit_delay=0.05)
    running = await start_exchange(nursery, journal=journal, inbox_size=2, batch_limit=1)
    await running.instrument()
    trader = await running.trader("t", USD="1000000")
    acknowledged: list[int] = []
    refused: list[ExchangeError] = []

    async def place(index: int) -> None:
        try:
            order = await trader.client.place_order(
                "BTC-USD", "buy", quantity="0.001", price=str(100 + index))
            acknowledged.append(order["order_id"])
        except ExchangeError as exc:
            refused.append(exc)

    with trio.fail_after(30):
        async with trio.open_nursery() as clients:
            for index in range(40):
                clients.start_soon(place, index)
    assert refused, "a 2-command inbox behind a slow writer must overflow"
    assert all((e.status, e.code) == (503, "overloaded") for e in refused)
    assert all(e.retry_after is not None for e in refused)
    assert acknowledged
    written = {e.order_id for e in journal.events() if isinstance(e, OrderAccepted)}
    assert set(acknowledged) <= written
    # nothing placed behind the client's back: refused requests left no order
    assert len(written) == len(acknowledged)
    assert len(await trader.client.orders()) == len(acknowledged)
    await running.admin.aclose()
    running.server.shutdown()


async def test_retry_after_a_timeout_waits_for_the_first_attempt(nursery: trio.Nursery) -> None:
    """A client_order_id stays taken while its first attempt is executed but not durable,
    even after that request answered 504 outcome_unknown: the retry must not place a
    second order."""
    journal = MemoryJournal()
    running = await start_exchange(nursery, journal=journal, request_timeout=0.3)
    await running.instrument()
    trader = await running.trader("t", USD="1000000")
    journal.commit_delay = 1.0
    statuses: list[int] = []
    for _ in range(2):
        try:
            await trader.client.place_order("BTC-USD", "buy", quantity="0.001", price="100",
                                            client_order_id="abc")
        except ExchangeError as exc:
            statuses.append(exc.status)
    journal.commit_delay = 0.0
    with trio.fail_after(10):
        while True:  # retries answer 504 until the first attempt is durable, then 200
            try:
                order = await trader.client.place_order(
                    "BTC-USD", "buy", quantity="0.001", price="100", client_order_id="abc")
                break
            except ExchangeError as exc:
                statuses.append(exc.status)
    assert order["client_order_id"] == "abc"
    accepted = [event for event in journal.events() if isinstance(event, OrderAccepted)]
    assert statuses
    assert set(statuses) == {504}
    assert [event.order.client_order_id for event in accepted] == ["abc"]
    assert [o["client_order_id"] for o in await trader.client.orders()] == ["abc"]
    await running.admin.aclose()
    running.server.shutdown()
