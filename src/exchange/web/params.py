"""Query-string parameters, checked like bodies: a bad one is a 400 naming it.

Each parameter is declared once, here, with its bounds; the routes read it with `read()` and
`/openapi.json` documents it with `schema()`, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from quart import request

from exchange.pipeline.candles import INTERVALS
from exchange.pipeline.history import Window
from exchange.web.errors import invalid
from exchange.web.models import _timestamp
from exchange.web.render import us_of

ID_MAX = 2**62  # ids are positive and fit a signed 64-bit column with room to spare


def _raw(name: str) -> str | None:
    raw = request.args.get(name)
    return None if raw is None or raw == "" else raw


def _declared(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}


@dataclass(frozen=True, slots=True)
class IntParam:
    """An integer from `lo` to `hi`; absent, `default` (None: no value)."""

    name: str
    default: int | None
    lo: int
    hi: int
    description: str

    def read(self) -> int | None:
        raw = _raw(self.name)
        if raw is None:
            return self.default
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or not (
            self.lo <= int(raw) <= self.hi
        ):
            raise invalid(f"{self.name} must be an integer from {self.lo} to {self.hi}",
                          f"$.{self.name}")
        return int(raw)

    def count(self) -> int:
        """`read()` for a parameter with a default (a count, never absent)."""
        value = self.read()
        assert value is not None, f"{self.name} has no default"
        return value

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer", "minimum": self.lo, "maximum": self.hi}
        if self.default is not None:
            schema["default"] = self.default
        return _declared(self.name, schema, self.description)


@dataclass(frozen=True, slots=True)
class ChoiceParam:
    """One of `choices`; absent, `default`."""

    name: str
    default: str
    choices: tuple[str, ...]
    description: str

    def read(self) -> str:
        raw = _raw(self.name)
        if raw is None:
            return self.default
        if raw not in self.choices:
            raise invalid(f"{self.name} must be one of {', '.join(self.choices)}",
                          f"$.{self.name}")
        return raw

    def schema(self) -> dict[str, Any]:
        return _declared(self.name, {"type": "string", "enum": list(self.choices),
                                     "default": self.default}, self.description)


@dataclass(frozen=True, slots=True)
class TimeParam:
    """An ISO 8601 time (as `Timestamp` bodies take it), in microseconds since the epoch."""

    name: str
    description: str

    def read(self) -> int | None:
        raw = _raw(self.name)
        if raw is None:
            return None
        try:
            return us_of(_timestamp(raw))
        except (ValueError, OverflowError):
            raise invalid(f"{self.name} must be an ISO 8601 time", f"$.{self.name}") from None

    def schema(self) -> dict[str, Any]:
        return _declared(self.name, {"type": "string", "maxLength": 40,
                                     "examples": ["2026-11-24T15:04:05Z"]}, self.description)


@dataclass(frozen=True, slots=True)
class StrParam:
    """A string of at most `max_length` characters."""

    name: str
    max_length: int
    description: str

    def read(self) -> str | None:
        raw = _raw(self.name)
        if raw is not None and len(raw) > self.max_length:
            raise invalid(f"{self.name} is too long", f"$.{self.name}")
        return raw

    def schema(self) -> dict[str, Any]:
        return _declared(self.name, {"type": "string", "maxLength": self.max_length},
                         self.description)


QueryParam = IntParam | ChoiceParam | TimeParam | StrParam

DEPTH = IntParam("depth", 50, 1, 1000, "price levels per side")
LIMIT = IntParam("limit", 100, 1, 1000, "at most this many, newest first")
CANDLE_LIMIT = IntParam("limit", 300, 1, 1000, "at most this many, the newest")
BEFORE_TRADE = IntParam("before", None, 1, ID_MAX, "only those with a smaller trade_id")
BEFORE_ORDER = IntParam("before", None, 1, ID_MAX, "only those with a smaller order_id")
AFTER_TRADE = IntParam("after", None, 0, ID_MAX,
                       "only those with a larger trade_id: the `limit` right after it")
AFTER_ORDER = IntParam("after", None, 0, ID_MAX,
                       "only those with a larger order_id: the `limit` right after it")
START_TIME = TimeParam("start_time", "only those at this time or later")
END_TIME = TimeParam("end_time", "only those before this time")
ORDER_ID = IntParam("order_id", None, 1, ID_MAX, "only this order's fills")
SYMBOL = StrParam("symbol", 64, "only this instrument")
ORDER_STATUS = ChoiceParam("status", "all", ("open", "closed", "all"), "open or finished")
INTERVAL = ChoiceParam("interval", "1m", tuple(INTERVALS), "candle width")
START = TimeParam("start", "candles covering this time or later")
END = TimeParam("end", "candles starting before this time")
ACCOUNT_LIMIT = IntParam("limit", 100, 1, 1000, "at most this many accounts")
AFTER_ACCOUNT = IntParam("after", None, 0, ID_MAX,
                         "only accounts with a larger account_id (the previous next_after)")
ROUND = IntParam("round", None, 1, ID_MAX, "the round (default: the latest)")
ASSET = StrParam("asset", 16, "the reference asset equity is marked in (default USD)")


def read_window(before: IntParam, after: IntParam) -> Window:
    """A history page's cursors, time range and limit from the query string."""
    start = START_TIME.read()
    end = END_TIME.read()
    if start is not None and end is not None and end <= start:
        raise invalid("end_time must be after start_time", "$.end_time")
    return Window(before=before.read(), after=after.read(), start=start, end=end,
                  limit=LIMIT.count())
