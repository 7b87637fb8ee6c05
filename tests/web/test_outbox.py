"""The outbox: bounded, never waits on `put`, merges book updates, frames what is queued."""

from __future__ import annotations

import time

import msgspec
import pytest
import trio

from exchange.web.outbox import (
    FRAME_ITEMS,
    SLOW_CONSUMER,
    BookUpdate,
    Outbox,
    merge_updates,
    several,
)


def update(first: int, last: int, bids: dict[str, str] | None = None,
           asks: dict[str, str] | None = None, channel: str = "book.X") -> BookUpdate:
    return BookUpdate(channel, first, last, bids or {}, asks or {})


async def frames(outbox: Outbox) -> list[object]:
    """Every message of the next frame, decoded."""
    text = await outbox.take()
    assert text is not None
    decoded = msgspec.json.decode(text)
    return decoded if isinstance(decoded, list) else [decoded]


async def test_one_message_is_one_object_several_are_an_array() -> None:
    outbox = Outbox()
    outbox.put('{"a":1}')
    assert await outbox.take() == '{"a":1}'
    outbox.put('{"a":1}')
    outbox.put(several(['{"b":2}', '{"c":3}']))
    assert await frames(outbox) == [{"a": 1}, {"b": 2}, {"c": 3}]
    outbox.put(several(['{"b":2}', '{"c":3}']))
    assert await frames(outbox) == [{"b": 2}, {"c": 3}]
    assert len(outbox) == 0
    assert outbox.size == 0


async def test_book_updates_queued_together_merge_into_one_range() -> None:
    outbox = Outbox()
    outbox.put(update(5, 6, {"10": "1"}, {"11": "2"}))
    outbox.put('{"type":"trade"}')
    outbox.put(update(7, 7, {"10": "0", "9": "3"}))
    outbox.put(update(1, 1, {"1": "1"}, channel="book.Y"))
    outbox.put(update(8, 9, asks={"11": "5"}))
    messages = await frames(outbox)
    assert messages == [
        {"type": "update", "channel": "book.X", "first_sequence": 5, "sequence": 9,
         "bids": [["10", "0"], ["9", "3"]], "asks": [["11", "5"]]},
        {"type": "trade"},
        {"type": "update", "channel": "book.Y", "first_sequence": 1, "sequence": 1,
         "bids": [["1", "1"]], "asks": []},
    ]


def test_merging_leaves_shared_updates_as_they_were() -> None:
    first, second = update(1, 1, {"10": "1"}), update(2, 2, {"10": "2"})
    (merged,) = merge_updates([first, second])
    assert isinstance(merged, BookUpdate)
    assert (merged.first, merged.last, merged.bids) == (1, 2, {"10": "2"})
    assert first.bids == {"10": "1"}  # other subscribers still send it as it was
    assert (first.first, first.last) == (1, 1)


async def test_a_full_outbox_merges_before_it_gives_up() -> None:
    one = update(1, 1, {"10.00": "1.000"})
    outbox = Outbox(limit=len(one.text()) * 3)
    for sequence in range(1, 50):  # merging keeps book updates within bounds
        assert outbox.put(update(sequence, sequence, {"10.00": f"{sequence}.000"}))
    assert not outbox.closed
    assert len(outbox) <= 3
    assert (await frames(outbox))[0]["first_sequence"] == 1  # type: ignore[index]


async def test_an_outbox_that_still_overflows_closes_with_4008() -> None:
    outbox = Outbox(limit=100)
    assert outbox.put('{"trade":' + "1" * 40 + "}")
    assert outbox.put('{"trade":' + "2" * 40 + "}")
    assert not outbox.put('{"trade":' + "3" * 40 + "}")  # trades are never merged
    assert outbox.close_code == SLOW_CONSUMER
    assert outbox.close_reason == "slow consumer"
    assert not outbox.put('{"x":1}')
    assert await outbox.take() is None  # what was queued is dropped


async def test_a_closed_outbox_sends_what_is_queued_first() -> None:
    outbox = Outbox()
    outbox.put('{"a":1}')
    outbox.close(1001, "bye")
    outbox.close(4008)  # the first close wins
    assert await outbox.take() == '{"a":1}'
    assert await outbox.take() is None
    assert outbox.close_code == 1001


async def test_take_waits_without_taking_when_cancelled() -> None:
    outbox = Outbox()
    with trio.move_on_after(0.05):
        await outbox.take()
    outbox.put('{"a":1}')
    assert await outbox.take() == '{"a":1}'

    async def later() -> None:
        await trio.sleep(0.05)
        outbox.put('{"b":2}')

    async with trio.open_nursery() as nursery:
        nursery.start_soon(later)
        with trio.fail_after(1):
            assert await outbox.take() == '{"b":2}'


async def test_discard_drops_one_channels_updates() -> None:
    outbox = Outbox()
    outbox.put(update(1, 1, {"1": "1"}))
    outbox.put('{"a":1}')
    outbox.put(update(1, 1, {"1": "1"}, channel="book.Y"))
    outbox.discard("book.X")
    messages = await frames(outbox)
    assert [m.get("channel") for m in messages] == [None, "book.Y"]  # type: ignore[union-attr]


async def test_one_large_item_fits_into_an_outbox_that_keeps_up() -> None:
    outbox = Outbox(limit=1000)
    assert outbox.put(update(1, 1, {"1": "1"}))  # the batch's book update, then its trades
    assert outbox.put(several(['{"trade":"' + "x" * 100 + '"}'] * 50))
    assert not outbox.closed
    assert not outbox.put('{"next":1}')  # but nothing more until it is sent
    assert outbox.close_code == SLOW_CONSUMER


async def test_an_item_that_waited_too_long_for_the_writer_closes_it_with_4008() -> None:
    slow: list[int] = []
    outbox = Outbox(max_age=2.0, on_slow=lambda: slow.append(1))
    outbox.sending = True  # the writer is stuck in a send
    assert outbox.age(100.0) == 0.0  # nothing queued: no age
    assert outbox.put('{"a":1}', now=100.0)  # the queue's age starts here
    assert outbox.put('{"b":2}', now=101.9)
    assert outbox.age(101.9) == pytest.approx(1.9)
    assert await outbox.take() == '[{"a":1},{"b":2}]'  # the writer took all: no age
    assert outbox.put('{"c":3}', now=103.0)
    assert outbox.put('{"d":4}', now=104.9)  # small, but queued since 103.0 ...
    outbox.sending = False
    assert outbox.put('{"e":5}', now=105.1)  # ... (a writer not sending: the server's delay)
    outbox.sending = True
    assert not outbox.put('{"f":6}', now=105.1)  # ... for over 2 s, its writer stuck
    assert (outbox.close_code, outbox.close_reason) == (SLOW_CONSUMER, "slow consumer")
    assert await outbox.take() is None  # dropped, as for an overflow
    assert slow == [1]  # counted once
    outbox.close(SLOW_CONSUMER)
    assert not outbox.put('{"g":7}', now=200.0)
    assert slow == [1]


async def test_expire_closes_an_old_queue_that_nothing_is_put_into() -> None:
    slow: list[int] = []
    outbox = Outbox(max_age=2.0, on_slow=lambda: slow.append(1))
    outbox.sending = True
    assert not outbox.expire(1000.0)  # empty: never too old
    outbox.put('{"a":1}', now=100.0)
    assert not outbox.expire(101.5)
    outbox.sending = False
    assert not outbox.expire(102.5)  # old, but its writer is not stuck
    outbox.sending = True
    assert outbox.expire(102.5)
    assert outbox.close_code == SLOW_CONSUMER
    assert not outbox.expire(103.0)  # closed already: counted once
    assert slow == [1]
    # An outbox that overflows reports it the same way.
    full = Outbox(limit=10, on_slow=lambda: slow.append(2))
    full.put('{"x":' + "1" * 20 + "}")
    assert not full.put('{"y":1}')
    assert slow == [1, 2]


def test_a_take_that_leaves_items_behind_restarts_their_wait() -> None:
    outbox = Outbox(max_age=2.0)
    for index in range(FRAME_ITEMS + 1):
        outbox.put(f'{{"i":{index}}}', now=100.0)
    assert outbox.take_nowait() is not None  # FRAME_ITEMS of them: the writer is sending
    assert len(outbox) == 1
    assert outbox.age(time.monotonic()) < 1.0
