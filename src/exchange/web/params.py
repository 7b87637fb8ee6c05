"""Query-string parameters, checked like bodies: a bad one is a 400 naming it."""

from __future__ import annotations

from quart import request

from exchange.web.errors import invalid
from exchange.web.models import _timestamp
from exchange.web.render import us_of


def int_arg(name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise invalid(f"{name} must be an integer from {lo} to {hi}", f"$.{name}")
    value = int(raw)
    if not lo <= value <= hi:
        raise invalid(f"{name} must be an integer from {lo} to {hi}", f"$.{name}")
    return value


def choice_arg(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise invalid(f"{name} must be one of {', '.join(choices)}", f"$.{name}")
    return raw


def time_arg(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return us_of(_timestamp(raw))
    except (ValueError, OverflowError):
        raise invalid(f"{name} must be an ISO 8601 time", f"$.{name}") from None


def str_arg(name: str, max_length: int = 64) -> str | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_length:
        raise invalid(f"{name} is too long", f"$.{name}")
    return raw
