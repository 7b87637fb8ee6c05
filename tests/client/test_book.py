"""`LocalBook`: snapshot plus updates, gap detection, and a differential property."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.client import LocalBook, SequenceGap, levels_of

D = Decimal


def snapshot(sequence: int, bids: list[list[str]], asks: list[list[str]]) -> dict[str, object]:
    return {"type": "snapshot", "channel": "book.X-Y", "sequence": sequence, "bids": bids,
            "asks": asks}


def update(first: int, last: int, bids: list[list[str]] | None = None,
           asks: list[list[str]] | None = None) -> dict[str, object]:
    return {"type": "update", "channel": "book.X-Y", "first_sequence": first, "sequence": last,
            "bids": bids or [], "asks": asks or []}


def test_snapshot_then_updates_best_first() -> None:
    book = LocalBook()
    assert not book.ready
    book.apply(snapshot(7, [["100.00", "1"], ["99.5", "2"]], [["101", "0.5"]]))
    assert book.sequence == 7
    assert book.bids() == [(D("100"), D("1")), (D("99.5"), D("2"))]
    book.apply(update(8, 8, bids=[["100.5", "3"]]))
    book.apply(update(9, 11, bids=[["100.00", "0"]], asks=[["100.75", "1.25"], ["101", "2"]]))
    assert book.sequence == 11
    assert book.bids() == [(D("100.5"), D("3")), (D("99.5"), D("2"))]
    assert book.asks() == [(D("100.75"), D("1.25")), (D("101"), D("2"))]
    assert book.best_bid() == (D("100.5"), D("3"))
    assert book.best_ask() == (D("100.75"), D("1.25"))
    assert book.bids(depth=1) == [(D("100.5"), D("3"))]


def test_removing_an_absent_level_is_harmless() -> None:
    book = LocalBook()
    book.apply(snapshot(1, [], []))
    book.apply(update(2, 2, asks=[["5", "0"]]))
    assert book.asks() == []
    assert book.sequence == 2


@pytest.mark.parametrize(("first", "last"), [(12, 12), (10, 10), (11, 13), (9, 12), (11, 10)])
def test_gap_or_overlap_raises_and_changes_nothing(first: int, last: int) -> None:
    book = LocalBook()
    book.apply(snapshot(10, [["1", "1"]], []))
    if first == 11 and last >= 11:  # contiguous: accepted
        book.apply(update(first, last, bids=[["1", "2"]]))
        assert book.sequence == last
        return
    with pytest.raises(SequenceGap) as caught:
        book.apply(update(first, last, bids=[["1", "2"]]))
    assert caught.value.expected == 11
    assert book.sequence == 10
    assert book.bids() == [(D("1"), D("1"))]


def test_update_before_snapshot_is_a_gap() -> None:
    book = LocalBook()
    with pytest.raises(SequenceGap) as caught:
        book.apply(update(1, 1, bids=[["1", "1"]]))
    assert caught.value.expected is None


def test_new_snapshot_replaces_everything() -> None:
    book = LocalBook()
    book.apply(snapshot(3, [["1", "1"]], [["2", "1"]]))
    book.apply(snapshot(40, [["1.5", "4"]], []))
    assert book.sequence == 40
    assert book.bids() == [(D("1.5"), D("4"))]
    assert book.asks() == []
    book.reset()
    assert not book.ready
    assert book.bids() == []


def test_other_messages_are_ignored_and_rest_rows_compare() -> None:
    book = LocalBook()
    book.apply(snapshot(1, [["10.10", "1.000"]], []))
    book.apply({"type": "trade", "channel": "trades.X-Y", "price": "1"})
    assert book.sequence == 1
    assert book.bids() == levels_of([["10.1", "1", 3]])  # REST rows carry order_count


# A change is (side, price in ticks, absolute quantity in lots, 0 removing the level).
changes = st.lists(st.tuples(st.sampled_from(["bids", "asks"]), st.integers(1, 30),
                             st.integers(0, 5)), max_size=80)


def _row(ticks: int, lots: int) -> list[str]:
    return [f"{ticks // 100}.{ticks % 100:02d}", f"{lots // 1000}.{lots % 1000:03d}"]


def _levels(side: dict[int, int]) -> list[tuple[Decimal, Decimal]]:
    return [(D(ticks) / 100, D(lots) / 1000) for ticks, lots in side.items()]


@given(initial=changes, stream=changes, cuts=st.lists(st.integers(1, 6), max_size=80))
def test_updates_equal_the_directly_computed_book(initial: list[tuple[str, int, int]],
                                                  stream: list[tuple[str, int, int]],
                                                  cuts: list[int]) -> None:
    expected: dict[str, dict[int, int]] = {"bids": {}, "asks": {}}

    def put(side: str, ticks: int, lots: int) -> None:
        if lots:
            expected[side][ticks] = lots
        else:
            expected[side].pop(ticks, None)

    for change in initial:
        put(*change)
    book = LocalBook()
    book.apply(snapshot(100, [_row(*level) for level in expected["bids"].items()],
                        [_row(*level) for level in expected["asks"].items()]))
    # Group the stream into updates of a few changes each, each covering as many sequence
    # numbers as it has changes (the server merges that way).
    sequence, index, sizes = 100, 0, iter(cuts)
    while index < len(stream):
        group = stream[index:index + next(sizes, 3)]
        index += len(group)
        rows: dict[str, list[list[str]]] = {"bids": [], "asks": []}
        for side, ticks, lots in group:
            rows[side].append(_row(ticks, lots))
            put(side, ticks, lots)
        book.apply(update(sequence + 1, sequence + len(group), **rows))
        sequence += len(group)
    assert book.sequence == sequence
    assert book.bids() == sorted(_levels(expected["bids"]), reverse=True)
    assert book.asks() == sorted(_levels(expected["asks"]))
