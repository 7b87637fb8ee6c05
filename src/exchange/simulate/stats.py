"""`SimStats`: what the simulator has done so far, and its one-line and final renderings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SimStats:
    """Counters shared by every bot of one simulation (a single Trio thread: no locks).

    `rejects_intended` are refusals the bots provoke knowingly (a post-only order that
    would take, a cancel or amend racing a fill); `rejects_unexpected` are bugs, in the
    simulator or the exchange. `throttled` counts 429/503 answers (the bot backed off);
    `errors` counts transport failures and 5xx answers.
    """

    orders: int = 0  # placements the exchange accepted
    cancels: int = 0
    amends: int = 0
    trades: int = 0  # trades seen on the simulated symbols since the start
    rejects_intended: Counter[str] = field(default_factory=Counter)
    rejects_unexpected: Counter[str] = field(default_factory=Counter)
    throttled: int = 0
    errors: int = 0
    deposits: int = 0  # top-ups that kept the bots solvent
    accounts: int = 0
    trades_by_symbol: Counter[str] = field(default_factory=Counter)
    last_price: dict[str, str] = field(default_factory=dict)
    by_kind: Counter[str] = field(default_factory=Counter)  # accepted placements per intent
    last_unexpected: str | None = None  # the newest unexpected answer, for the summary

    @property
    def requests(self) -> int:
        """Order-entry requests answered with success (what the rate limiter counts)."""
        return self.orders + self.cancels + self.amends

    @property
    def intended(self) -> int:
        return sum(self.rejects_intended.values())

    @property
    def unexpected(self) -> int:
        return sum(self.rejects_unexpected.values())

    def line(self, elapsed: float) -> str:
        """The live status line."""
        prices = " ".join(f"{symbol} {price}" for symbol, price in self.last_price.items())
        rate = self.requests / max(elapsed, 1.0)
        parts = [
            f"{elapsed:4.0f}s orders {self.orders} cancels {self.cancels} amends "
            f"{self.amends} ({rate:.0f}/s)",
            f"trades {self.trades}",
            f"rejects {self.intended} intended, {self.unexpected} unexpected",
        ]
        if self.throttled:
            parts.append(f"throttled {self.throttled}")
        if self.errors:
            parts.append(f"errors {self.errors}")
        if prices:
            parts.append(prices)
        return " | ".join(parts)

    def summary(self, elapsed: float) -> str:
        """The final report, several lines."""
        def codes(counter: Counter[str]) -> str:
            return ", ".join(f"{code} {n}" for code, n in counter.most_common()) or "none"

        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.by_kind.items()))
        lines = [
            f"simulated {elapsed:.1f}s with {self.accounts} accounts: {self.orders} orders, "
            f"{self.cancels} cancels, {self.amends} amends "
            f"({self.requests / max(elapsed, 1.0):.1f} requests/s)",
            f"orders by intent: {kinds or 'none'}",
            "trades: " + (", ".join(f"{symbol} {self.trades_by_symbol[symbol]}"
                                    for symbol in self.last_price) or str(self.trades)),
            "last prices: " + (", ".join(f"{s} {p}" for s, p in self.last_price.items())
                                or "none"),
            f"intended rejects: {codes(self.rejects_intended)}",
            f"unexpected rejects: {codes(self.rejects_unexpected)}",
            f"throttled {self.throttled}, errors {self.errors}, top-up deposits {self.deposits}",
        ]
        if self.last_unexpected:
            lines.append(f"last unexpected answer: {self.last_unexpected}")
        return "\n".join(lines)
