"""History at any depth: what memory holds (the read model), the rest from the database.

The read model keeps the hot part of every history (open orders, the newest closed orders,
fills and trades; `exchange.pipeline.readmodel.Keep`) and a seam below which it keeps
nothing. A page here takes the ids above the seam from memory and those at or below it from
the database (`Past`, through the store's bridge, so neither the engine nor the fan-out
ever waits for it), and joins them:

- newest first (no `after`): memory's newest, then the database's below the seam;
- right after a cursor (`after`): the database's oldest above the cursor, then memory's,
  and the whole page is listed newest first like every other.

Each id range is read once, on one side, so a page has no gap and no duplicate however the
seam moves while it is read: memory is read and the seam taken before the database is
asked (never after: what is above the seam may leave memory meanwhile), and the database
holds everything up to the seam.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from exchange.engine.events import TradeExecuted
from exchange.pipeline.candles import SECOND_US
from exchange.pipeline.readmodel import AccountView, Fill, InstrumentView, OrderView, ReadModel
from exchange.pipeline.rows import order_view, trade_of
from exchange.pipeline.sequencer import Unavailable
from exchange.store import history as store
from exchange.store.bridge import Bridge
from exchange.store.candles import symbol_candles
from exchange.store.span import Span

log = logging.getLogger("exchange.server")
T = TypeVar("T")
R = TypeVar("R")
MAX_ID = 2**63 - 1  # what an id column holds: no larger id is anywhere
# As order entry takes them, on both surfaces: Binance's `newClientOrderId` characters
# (`/v1`'s letters, digits, `_` and `-`, and `.`, `:` and `/`).
CLIENT_ORDER_ID = re.compile(r"^[.A-Za-z0-9:/_-]{1,36}$")


@dataclass(frozen=True, slots=True)
class Window:
    """A page as the API asks for it: ids below `before` and above `after`, times in
    `[start, end)` (microseconds), at most `limit`."""

    before: int | None = None
    after: int | None = None
    start: int | None = None
    end: int | None = None
    limit: int = 100


class Past(Protocol):
    """What the database holds, as the read model's own views (`StorePast`)."""

    async def orders(self, account_id: int, symbol: str | None, status: str, span: Span
                     ) -> list[OrderView]: ...
    async def order(self, order_id: int) -> OrderView | None: ...
    async def client_order(self, account_id: int, client_order_id: str
                           ) -> OrderView | None: ...
    async def fills(self, account_id: int, symbol: str | None, order_id: int | None,
                    span: Span) -> list[Fill]: ...
    async def trades(self, symbol: str, span: Span) -> list[TradeExecuted]: ...
    async def candles(self, symbol: str, width: int, ids: tuple[int, int], start: int | None,
                      end: int, limit: int, newest: bool) -> list[list[int]]: ...


class History:
    """The API's reads of orders, fills and trades, complete at any depth. With no `past`
    (`memory://`), what memory holds is all there is."""

    def __init__(self, readmodel: ReadModel, past: Past | None) -> None:
        self.readmodel = readmodel
        self.past = past

    async def order(self, order_id: int) -> OrderView | None:
        order = self.readmodel.orders.get(order_id)
        if order is None and self.past is not None and 0 < order_id <= MAX_ID:
            return await self.past.order(order_id)
        return order

    async def client_order(self, account: AccountView, client_order_id: str
                           ) -> OrderView | None:
        """The account's order placed with `client_order_id` (its first), if any."""
        if not CLIENT_ORDER_ID.match(client_order_id):
            return None  # no order has one like it: nothing to ask the database
        order_id = account.client_ids.get(client_order_id)
        if order_id is not None:
            order = self.readmodel.orders.get(order_id)
            if order is not None:
                return order
        if self.past is None:
            return None
        return await self.past.client_order(account.account_id, client_order_id)

    async def orders(self, account: AccountView, symbol: str | None, status: str,
                     window: Window) -> list[OrderView]:
        """Newest first; `status` is `open` (all in memory), `closed` or `all`."""
        readmodel = self.readmodel
        if symbol is not None and symbol not in readmodel.instruments:
            return []

        def recent(span: Span) -> list[OrderView]:
            return readmodel.recent_orders(account, span, symbol, status)
        past = self.past
        if status == "open" or past is None:
            return await _joined(window, 0, recent, None)
        return await _joined(
            window, account.order_seam, recent,
            lambda span: past.orders(account.account_id, symbol, status, span),
        )

    async def fills(self, account: AccountView, symbol: str | None, order_id: int | None,
                    window: Window) -> list[Fill]:
        if symbol is not None and symbol not in self.readmodel.instruments:
            return []
        past = self.past
        return await _joined(
            window, account.fill_seam,
            lambda span: account.recent_fills(span, symbol, order_id),
            None if past is None else
            (lambda span: past.fills(account.account_id, symbol, order_id, span)),
        )

    async def trades(self, inst: InstrumentView, window: Window) -> list[TradeExecuted]:
        past = self.past
        return await _joined(
            window, inst.trade_seam, inst.recent_trades,
            None if past is None else (lambda span: past.trades(inst.symbol, span)),
        )


    async def candles(self, inst: InstrumentView, name: str, start: int | None,
                      end: int | None, limit: int, *, oldest: bool = False
                      ) -> list[list[int]]:
        """Oldest first: the newest `limit` candles of interval `name` whose bucket holds
        `start` or begins later, and before `end` (`oldest`: the oldest `limit`). All in
        memory but the seconds before `Candles.second_seam`: those the database aggregates
        from the trades of the minutes that hold them. Memory is read (and the seam taken)
        before the database is asked."""
        candles = inst.candles
        items = candles.between(name, start, end, limit, oldest=oldest)
        seam = candles.second_seam
        past = self.past
        if name != "1s" or past is None or (start is not None and start - start % SECOND_US
                                            >= seam):
            return items
        below = seam if end is None else min(end, seam)
        wanted = limit if oldest else limit - len(items)
        ids = candles.second_range(start, below, wanted, oldest=oldest) if wanted else None
        if ids is None:
            return items
        older = await past.candles(inst.symbol, SECOND_US, ids, start, below, wanted,
                                   not oldest)
        return (older + items)[:limit]


def _span(window: Window, above: int | None, below: int | None, *, newest: bool = True,
          limit: int | None = None) -> Span:
    """`window`'s times with ids in `(above, below)`, narrowed by its own cursors."""
    if window.after is not None:
        above = window.after if above is None else max(above, window.after)
    if window.before is not None:
        below = window.before if below is None else min(below, window.before)
    return Span(above, below, window.start, window.end,
                window.limit if limit is None else limit, newest)


async def _joined(window: Window, seam: int,
                  recent: Callable[[Span], list[T]],
                  past: Callable[[Span], Awaitable[list[T]]] | None) -> list[T]:
    """A page of `window`, newest first: ids above `seam` from `recent` (memory), the rest
    from `past` (the database; none: nothing is below the seam)."""
    limit = window.limit
    below_seam = past is not None and seam > 0 and (window.after is None
                                                    or window.after < seam)
    if window.after is None:  # the newest: memory first, then the database below the seam
        items = recent(_span(window, seam, None))
        if below_seam and len(items) < limit:
            assert past is not None
            items += await past(_span(window, None, seam + 1, limit=limit - len(items)))
        return items
    # Right after the cursor: the database's oldest, then memory's, listed newest first.
    # Memory is read first, before anything is awaited: while the database answers, newer
    # batches may push what is above the seam now out of memory (and the seam up).
    above = recent(_span(window, seam, None, newest=False))
    items = []
    if below_seam:
        assert past is not None
        items = await past(_span(window, None, seam + 1, newest=False))
    items = (items + above)[:limit]
    items.reverse()
    return items


class StorePast:
    """`Past` over the store's history queries (`exchange.store.history`), each run on the
    store's loop through the bridge. A database that cannot answer makes the read
    `Unavailable` (503, safe to retry), never a 500."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge

    async def _run(self, query: Callable[..., Awaitable[R]], *args: Any) -> R:
        from exchange.store.errors import StoreError

        try:
            return cast(R, await self.bridge.run(query, *args))
        except StoreError as exc:
            log.warning("reading history failed: %s", exc)
            raise Unavailable("the database cannot be read just now") from exc

    async def orders(self, account_id: int, symbol: str | None, status: str, span: Span
                     ) -> list[OrderView]:
        rows = await self._run(store.account_orders, account_id, symbol, status, span)
        return [order_view(row) for row in rows]

    async def order(self, order_id: int) -> OrderView | None:
        row = await self._run(store.order_by_id, order_id)
        return None if row is None else order_view(row)

    async def client_order(self, account_id: int, client_order_id: str) -> OrderView | None:
        row = await self._run(store.order_by_client_id, account_id, client_order_id)
        return None if row is None else order_view(row)

    async def fills(self, account_id: int, symbol: str | None, order_id: int | None,
                    span: Span) -> list[Fill]:
        rows = await self._run(store.account_fills, account_id, symbol, order_id, span)
        return [Fill(trade_of(row), maker) for row, maker in rows]

    async def trades(self, symbol: str, span: Span) -> list[TradeExecuted]:
        return [trade_of(row) for row in await self._run(store.symbol_trades, symbol, span)]

    async def candles(self, symbol: str, width: int, ids: tuple[int, int], start: int | None,
                      end: int, limit: int, newest: bool) -> list[list[int]]:
        return await self._run(symbol_candles, symbol, width, ids, start, end, limit, newest)
