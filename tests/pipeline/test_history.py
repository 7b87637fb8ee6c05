"""History pages stay whole while memory moves under them: batches applied while the
database is read push fills out of memory and raise the seam, and a page must still be a
run of consecutive ids, with no gap and no duplicate (`exchange.pipeline.history`)."""

from __future__ import annotations

import random

import pytest
import trio
import trio.lowlevel

from exchange.engine.events import TradeExecuted
from exchange.pipeline.history import History, Window
from exchange.pipeline.readmodel import AccountView, Fill, ReadModel
from exchange.store.span import Span


def _fill(trade_id: int) -> Fill:
    return Fill(TradeExecuted(
        trade_id=trade_id, symbol="S", price=100, quantity=1, taker_side="buy",
        maker_order_id=1, taker_order_id=2, maker_account_id=1, taker_account_id=2,
        maker_fee=0, taker_fee=0, ts=trade_id), maker=True)


class MovingPast:
    """The database holds every fill; while it answers, `arrivals` more fills are made,
    as batches applied meanwhile would."""

    def __init__(self, account: AccountView, stored: list[Fill], arrivals: int) -> None:
        self.account, self.stored, self.arrivals = account, stored, arrivals

    async def fills(self, account_id: int, symbol: str | None, order_id: int | None,
                    span: Span) -> list[Fill]:
        chosen = [f for f in self.stored
                  if (span.above is None or f.trade_id > span.above)
                  and (span.below is None or f.trade_id < span.below)]
        chosen = chosen[-span.limit:][::-1] if span.newest else chosen[:span.limit]
        await trio.lowlevel.checkpoint()
        for _ in range(self.arrivals):
            fill = _fill(len(self.stored) + 1)
            self.stored.append(fill)
            self.account.add_fill(fill)
        return chosen


@pytest.mark.parametrize("seed", range(20))
async def test_pages_have_no_gap_while_the_seam_moves(seed: int) -> None:
    rng = random.Random(seed)
    keep = rng.randint(1, 6)
    account = AccountView(1, keep_fills=keep)
    stored: list[Fill] = []
    for trade_id in range(1, rng.randint(2, 30)):
        stored.append(_fill(trade_id))
        account.add_fill(stored[-1])
    past = MovingPast(account, stored, rng.randint(0, 8))
    history = History(ReadModel(), past)  # type: ignore[arg-type]
    for _ in range(20):
        newest = len(stored)
        after = rng.choice([None, rng.randint(0, newest)])
        limit = rng.randint(1, 12)
        page = [f.trade_id for f in await history.fills(account, None, None,
                                                         Window(after=after, limit=limit))]
        assert page == sorted(page, reverse=True)
        ascending = page[::-1]
        if after is None:  # the newest there were when asked, consecutive
            assert ascending == list(range(newest - len(page) + 1, newest + 1))
            assert len(page) == min(limit, newest)
        else:  # the ones right after the cursor, consecutive
            assert ascending == list(range(after + 1, after + 1 + len(page)))
            assert len(page) == min(limit, newest - after)
