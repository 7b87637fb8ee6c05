"""Chaos mode: the venue misbehaving on purpose, so bots can be tested against it.

    latency=20ms..200ms,reject=0.02,disconnect=0.001,stall=0.001,seed=42

`latency` is added before answers (uniform in the range), `reject` is the share of
order-entry requests refused with 503 before they reach the engine, `disconnect` the
probability that a WebSocket connection is dropped after a frame it was sent, `stall` the
probability per fan-out batch that a connection's messages are held for 1 to 3 seconds.

Invariant: every kind draws from its own generator, seeded from `seed` and the kind's name,
so the same seed and the same sequence of requests give the same injections whatever the
other kinds do (a WebSocket's frames do not shift REST's refusals). Changing the setting
restarts the generators.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exchange.pipeline.metrics import Metrics

KINDS = ("latency", "reject", "disconnect", "stall")
STALL_SECONDS = (1.0, 3.0)
MAX_LATENCY = 10.0  # seconds: longer would only look like an outage
_DURATION = re.compile(r"(\d{1,6}(?:\.\d{1,6})?)(ms|s)")


@dataclass(frozen=True, slots=True)
class ChaosSpec:
    """What to inject; all zero is off. Latencies in seconds, the rest probabilities."""

    latency_min: float = 0.0
    latency_max: float = 0.0
    reject: float = 0.0
    disconnect: float = 0.0
    stall: float = 0.0
    seed: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.latency_max or self.reject or self.disconnect or self.stall)

    def latency_text(self) -> str | None:
        if not self.latency_max:
            return None
        low, high = _ms(self.latency_min), _ms(self.latency_max)
        return low if low == high else f"{low}..{high}"

    def text(self) -> str:
        """The spec as `--chaos` takes it."""
        parts = [f"latency={self.latency_text()}"] if self.latency_max else []
        parts += [f"{kind}={getattr(self, kind)}" for kind in ("reject", "disconnect", "stall")
                  if getattr(self, kind)]
        return ",".join([*parts, f"seed={self.seed}"])

    def as_json(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "latency": self.latency_text(),
                "reject": self.reject, "disconnect": self.disconnect, "stall": self.stall,
                "seed": self.seed, "spec": self.text()}


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000, 3):g}ms"


def parse_duration(text: str) -> float:
    """`"20ms"` or `"1.5s"` in seconds; raises `ValueError`."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 20ms or 1.5s")
    value = float(match[1])
    return value / 1000 if match[2] == "ms" else value


def parse_latency(text: str) -> tuple[float, float]:
    """`"20ms..200ms"` (uniform in the range) or `"50ms"` (fixed), in seconds."""
    low_text, dots, high_text = text.partition("..")
    low = parse_duration(low_text)
    high = parse_duration(high_text) if dots else low
    if high < low:
        raise ValueError(f"latency {text!r}: the range ends before it starts")
    if high > MAX_LATENCY:
        raise ValueError(f"latency {text!r}: at most {MAX_LATENCY:g}s")
    return low, high


def probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability between 0 and 1")
    return value


def parse_spec(text: str) -> ChaosSpec:
    """`"latency=20ms..200ms,reject=0.02,disconnect=0.001,stall=0.001,seed=42"` (any keys,
    any order; an empty text is off). Raises `ValueError` with one line."""
    values: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not value:
            raise ValueError(f"{item!r}: use key=value")
        if key in values or (key == "latency" and "latency_min" in values):
            raise ValueError(f"{key} is given twice")
        if key == "latency":
            values["latency_min"], values["latency_max"] = parse_latency(value)
        elif key in ("reject", "disconnect", "stall"):
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"{key}={value!r} is not a number") from None
            values[key] = probability(key, number)
        elif key == "seed":
            if not value.isascii() or not value.isdigit() or len(value) > 18:
                raise ValueError(f"seed={value!r} is not a non-negative integer")
            values[key] = int(value)
        else:
            raise ValueError(f"unknown key {key!r} (use latency, reject, disconnect, stall, "
                             "seed)")
    return ChaosSpec(**values)


class Chaos:
    """Draws the injections of one server; counts each one with `count(kind)`.

    Only the server's Trio thread calls it. The draws cost nothing when the spec is off."""

    def __init__(self, spec: ChaosSpec | None = None,
                 count: Callable[[str], None] | None = None) -> None:
        self._count = count  # called with the kind of each injection (metrics)
        self.spec = spec or ChaosSpec()
        self._random: dict[str, random.Random] = {}
        self.configure(self.spec)

    def configure(self, spec: ChaosSpec) -> None:
        """Replaces the setting and restarts the generators from its seed."""
        self.spec = spec
        self._random = {kind: random.Random(f"{spec.seed}:{kind}") for kind in KINDS}

    def update(self, **changes: Any) -> ChaosSpec:
        self.configure(replace(self.spec, **changes))
        return self.spec

    def _injected(self, kind: str) -> None:
        if self._count is not None:
            self._count(kind)

    def latency(self) -> float:
        """Seconds to wait before an answer (0: none)."""
        spec = self.spec
        if not spec.latency_max:
            return 0.0
        self._injected("latency")
        return self._random["latency"].uniform(spec.latency_min, spec.latency_max)

    def _draw(self, kind: str, chance: float) -> bool:
        if chance <= 0.0 or self._random[kind].random() >= chance:
            return False
        self._injected(kind)
        return True

    def reject(self) -> bool:
        """Whether to refuse this order-entry request (before it reaches the engine)."""
        return self._draw("reject", self.spec.reject)

    def disconnect(self) -> bool:
        """Whether to drop the WebSocket connection after the frame just sent."""
        return self._draw("disconnect", self.spec.disconnect)

    def stall(self) -> float:
        """Seconds to hold a connection's messages from this fan-out batch on (0: none)."""
        if not self._draw("stall", self.spec.stall):
            return 0.0
        return self._random["stall"].uniform(*STALL_SECONDS)


def chaos_for(spec: str, metrics: Metrics) -> Chaos:
    """The server's chaos from its `--chaos` spec, counting each injection in `metrics`."""
    injections = metrics.chaos_injections
    return Chaos(parse_spec(spec), lambda kind: injections.labels(kind).inc())
