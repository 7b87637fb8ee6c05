"""`Desk`: one simulated account's order entry, paced under the exchange's rate limit.

Every request of a bot goes through `Desk.send`, which is where the exchange's answers
are sorted: success (counted), an intended refusal, an unexpected one (a bug somewhere),
throttling (429/503: wait `Retry-After`, never crash) and transport errors. A `Health`
shared by all desks turns a server that has stopped answering into `SimulationError`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import trio

from exchange.client import ExchangeClient, ExchangeError
from exchange.simulate.actions import Action, Amend, Cancel, Grid, Place
from exchange.simulate.stats import SimStats

Json = dict[str, Any]


class SimulationError(Exception):
    """The simulation cannot go on; the message is one line for the operator and
    `exit_code` what the command line returns (1: refused, 2: cannot reach the server)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Pacer:
    """A token bucket on the caller's side: `rate` requests per second, bursts of `burst`.
    Kept well below the server's limit so that order entry is never refused for rate."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = trio.current_time()

    async def wait(self) -> None:
        now = trio.current_time()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            await trio.sleep((1.0 - self.tokens) / self.rate)
            self.tokens = 1.0
            self.last = trio.current_time()
        self.tokens -= 1.0

    def slow_down(self) -> None:
        """After a 429: the server's limit is lower than ours, so go a third slower."""
        self.rate = max(0.5, self.rate * 2 / 3)
        self.tokens = 0.0


class Health:
    """Gives up when no request has succeeded for `patience` seconds while some failed."""

    def __init__(self, url: str, patience: float = 20.0) -> None:
        self.url = url
        self.patience = patience
        self.last_ok = trio.current_time()

    def ok(self) -> None:
        self.last_ok = trio.current_time()

    def failed(self, exc: Exception) -> None:
        if trio.current_time() - self.last_ok > self.patience:
            raise SimulationError(f"lost the exchange at {self.url}: {exc}", exit_code=2)


class Desk:
    """One account: its client (sharing the simulation's connection pool), its pace and
    the assets it must never run out of (`needs`: asset -> amount to deposit when low)."""

    def __init__(self, name: str, client: ExchangeClient, account_id: int, stats: SimStats,
                 health: Health, pacer: Pacer) -> None:
        self.name = name
        self.client = client
        self.account_id = account_id
        self.stats = stats
        self.health = health
        self.pacer = pacer
        self.needs: dict[str, float] = {}

    async def read(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """A read (not rate limited): None when it failed, counted as an error."""
        try:
            result = await getattr(self.client, method)(*args, **kwargs)
        except ExchangeError as exc:
            await self._failed(exc)
            return None
        except httpx.HTTPError as exc:
            await self._unreachable(exc)
            return None
        self.health.ok()
        return result

    async def send(self, action: Action, grid: Grid) -> Json | None:
        """Sends one order-entry request at the desk's pace. Returns the `Order`, or None
        when it was refused or failed (already counted in the statistics)."""
        await self.pacer.wait()
        client, stats = self.client, self.stats
        try:
            match action:
                case Place():
                    body = action.body(grid)
                    if action.expire_after is not None:
                        expiry = datetime.now(UTC) + timedelta(seconds=action.expire_after)
                        body["expire_time"] = expiry.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    result = await client.place_order(grid.symbol, action.side, action.type,
                                                      **body)
                    stats.orders += 1
                    stats.by_kind[action.kind] += 1
                case Cancel():
                    result = await client.cancel_order(action.order_id)
                    stats.cancels += 1
                case Amend():
                    quantity = None if action.quantity is None else grid.quantity(
                        action.quantity)
                    price = None if action.price is None else grid.price(action.price)
                    result = await client.amend_order(action.order_id, quantity=quantity,
                                                      price=price)
                    stats.amends += 1
        except ExchangeError as exc:
            if exc.code in action.expected:
                stats.rejects_intended[exc.code] += 1
                self.health.ok()
                return None
            await self._failed(exc, action)
            return None
        except httpx.HTTPError as exc:
            await self._unreachable(exc)
            return None
        self.health.ok()
        return result

    async def cancel_all(self, symbol: str) -> None:
        """Best effort, for the end of a simulation: one request, retried once if
        throttled."""
        for _ in range(2):
            try:
                await self.client.cancel_all(symbol)
                return
            except ExchangeError as exc:
                if exc.status not in (429, 503):
                    return
                await trio.sleep(exc.retry_after or 1.0)
            except httpx.HTTPError:
                return

    async def _failed(self, exc: ExchangeError, action: Action | None = None) -> None:
        stats = self.stats
        if exc.status in (429, 503):
            stats.throttled += 1
            if exc.status == 429:
                self.pacer.slow_down()
            await trio.sleep(exc.retry_after or 1.0)
        elif exc.status == 401:
            raise SimulationError(
                f"the exchange no longer knows {self.name}'s API key (was it restarted "
                f"without a database?): {exc}"
            )
        elif exc.status >= 500:
            stats.errors += 1
            self.health.failed(exc)
            await trio.sleep(0.5)
        else:
            stats.rejects_unexpected[exc.code] += 1
            what = action.kind if action is not None else "read"
            stats.last_unexpected = f"{self.name} {what} {action}: {exc}"
            self.health.ok()

    async def _unreachable(self, exc: httpx.HTTPError) -> None:
        self.stats.errors += 1
        self.health.failed(exc)
        await trio.sleep(0.5)
