"""`exchange export trades|fills|orders`: history from the database as CSV or JSON lines.

For scoring a competition and for post-mortems. It reads the database directly (the server
may be running: reads take no lock that stops the writer), a page of `PAGE` rows at a time
by primary key (`exchange.store.history`), and writes each page before reading the next, so
memory stays flat however long the history. Rows are rendered exactly as the REST API renders
them (`exchange.web.render`); fills carry the `account_id` they belong to, and without
`--account` both sides of every trade are listed.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

import msgspec
import trio

from exchange.pipeline.readmodel import Fill, InstrumentView
from exchange.pipeline.rows import instrument_view, order_view, trade_of
from exchange.store.history import Filters, count, instrument_rows, page
from exchange.web import render

PAGE = 1000
KINDS = ("trades", "fills", "orders")
COLUMNS = {
    "trades": ["trade_id", "symbol", "price", "quantity", "taker_side", "ts"],
    "fills": ["trade_id", "order_id", "account_id", "symbol", "side", "price", "quantity",
              "fee", "fee_asset", "liquidity", "ts"],
    "orders": ["order_id", "client_order_id", "account_id", "symbol", "side", "type",
               "time_in_force", "post_only", "self_trade_prevention", "price", "stop_price",
               "quantity", "quote_quantity", "filled_quantity", "remaining_quantity",
               "average_fill_price", "fee", "status", "parent_order_id", "expire_time",
               "take_profit_price", "stop_loss_price", "created_at", "updated_at"],
}


class ExportError(Exception):
    """A bad option or an unreadable database: one line for the user."""


def parse_time(value: str | None, option: str) -> int | None:
    """An ISO 8601 time (UTC without an offset) as microseconds since the epoch."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ExportError(f"{option} {value!r}: use an ISO 8601 time like 2026-12-01T10:00:00Z"
                          ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return render.us_of(moment.astimezone(UTC))


def _rows(kind: str, row: Any, inst: InstrumentView, account_id: int | None
          ) -> Iterator[dict[str, Any]]:
    if kind == "orders":
        yield render.order(inst, order_view(row))
        return
    trade = trade_of(row)
    if kind == "trades":
        yield render.trade(inst, trade)
        return
    for maker, owner in ((True, trade.maker_account_id), (False, trade.taker_account_id)):
        if account_id is None or owner == account_id:
            yield {**render.fill(inst, Fill(trade, maker)), "account_id": owner}


def _cell(value: Any) -> Any:
    """A CSV cell: JSON's spelling of null and booleans."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return value


class _Writer:
    """One output format: `write(rendered row)`."""

    def __init__(self, kind: str, fmt: str, out: IO[str]) -> None:
        self.out = out
        self.columns = COLUMNS[kind]
        self.csv: Any = None
        if fmt == "csv":
            self.csv = csv.writer(out, lineterminator="\n")
            self.csv.writerow(self.columns)

    def write(self, item: dict[str, Any]) -> None:
        if self.csv is not None:
            self.csv.writerow([_cell(item.get(c)) for c in self.columns])
        else:
            self.out.write(msgspec.json.encode({c: item.get(c) for c in self.columns}).decode())
            self.out.write("\n")


async def export(url: str, kind: str, filters: Filters, fmt: str, out: IO[str],
                 progress: Callable[[int, int], None] | None = None) -> int:
    """Writes every `kind` row matching `filters` to `out`; returns how many it wrote."""
    from exchange.store.bridge import open_bridge
    from exchange.store.database import normalize_url

    table = "orders" if kind == "orders" else "trades"
    written = 0
    async with open_bridge(normalize_url(url)) as bridge:
        books = {row["symbol"]: instrument_view(row)
                 for row in await bridge.run(instrument_rows)}
        total = await bridge.run(count, table, filters) if progress is not None else 0
        writer = _Writer(kind, fmt, out)
        key = "order_id" if kind == "orders" else "trade_id"
        after = 0
        seen = 0
        while True:
            rows = await bridge.run(page, table, filters, after, PAGE)
            if not rows:
                break
            for row in rows:
                for item in _rows(kind, row, books[row["symbol"]], filters.account_id):
                    writer.write(item)
                    written += 1
            after = rows[-1][key]
            seen += len(rows)
            if progress is not None:
                progress(seen, total)
    return written


@contextmanager
def _output(path: str | None) -> Iterator[IO[str]]:
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    with handle:
        yield handle


def run_export(url: str, kind: str, *, symbol: str | None, account: int | None,
               since: str | None, until: str | None, fmt: str, output: str | None) -> int:
    """The command: 0 when done, 2 with one line on a bad option or database."""
    from exchange.store.errors import StoreError

    try:
        filters = Filters(symbol, account, parse_time(since, "--since"),
                          parse_time(until, "--until"))
        show = sys.stderr.isatty()

        def progress(seen: int, total: int) -> None:
            print(f"\r{kind}: {seen:,} of {total:,} rows", end="", file=sys.stderr, flush=True)

        with _output(output) as out:
            written = trio.run(export, url, kind, filters, fmt, out,
                               progress if show else None)
        if show:
            print(file=sys.stderr)
        print(f"exported {written:,} {kind}", file=sys.stderr)
        return 0
    except ExportError as exc:
        print(f"exchange export: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `exchange export … | head`: the reader has all it wants
        sys.stderr.close()
        return 0
    except (StoreError, OSError) as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"exchange export: cannot read the database: {line}", file=sys.stderr)
        return 2
