"""The `mixed` benchmark workload (bench.md), deterministic from its seed.

The generator produces commands in chunks and learns from the engine's events which orders
are live (`observe`), so cancels and amends target real live orders of their owners, the way
a client would, without predicting the engine.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from decimal import Decimal

from exchange.engine.codes import OrderType, Side, TimeInForce
from exchange.engine.commands import (
    AddInstrument,
    AmendOrder,
    AnyCommand,
    CancelOrder,
    CreateAccount,
    Deposit,
    PlaceOrder,
)
from exchange.engine.events import (
    AnyEvent,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from exchange.engine.units import ASSET_DECIMALS

TICK = Decimal("0.01")
LOT = Decimal("0.001")
MID = 10_000  # ticks: 100.00
ACCOUNTS = 1_000
WARMUP_ORDERS = 10_000
BAND = 100  # ticks: 1% of mid
_UNIT = 10**ASSET_DECIMALS

_BUY = Side.BUY
_SELL = Side.SELL


def symbols_for(count: int) -> list[str]:
    return ["BENCH-USD"] if count <= 1 else [f"SYM{i}-USD" for i in range(count)]


class MixedWorkload:
    """50% passive limits, 20% cancels, 10% crossing limits (half IOC), 5% market,
    10% amends (half size-downs, half re-prices), 5% stops or post-only orders."""

    def __init__(self, *, seed: int = 1, symbols: int = 1, start_ts: int = 1_700_000_000_000_000):
        self.rng = random.Random(seed)
        self.symbols = symbols_for(symbols)
        self.mid = dict.fromkeys(self.symbols, MID)
        self.ts = start_ts
        # Live orders the workload may cancel or amend: id -> (account, symbol, qty, price).
        self.live: dict[int, tuple[int, str, int, int]] = {}
        self.live_ids: list[int] = []
        self._index: dict[int, int] = {}
        self._placed: dict[tuple[int, str], tuple[int, str, int, int]] = {}

    # -- SETUP --

    def setup(self) -> list[AnyCommand]:
        """Instruments and 1,000 funded accounts."""
        out: list[AnyCommand] = []
        for symbol in self.symbols:
            out.append(
                AddInstrument(
                    ts=self.ts, symbol=symbol, base=symbol.split("-")[0], quote="USD",
                    tick_size=TICK, lot_size=LOT, maker_fee_rate=Decimal("0.001"),
                    taker_fee_rate=Decimal("0.002"),
                )
            )
        for account_id in range(1, ACCOUNTS + 1):
            out.append(CreateAccount(ts=self.ts))
            out.append(Deposit(ts=self.ts, account_id=account_id, asset="USD",
                               amount=10**9 * _UNIT))
            for symbol in self.symbols:
                out.append(Deposit(ts=self.ts, account_id=account_id,
                                   asset=symbol.split("-")[0], amount=10**7 * _UNIT))
        return out

    def warmup(self) -> list[AnyCommand]:
        """10,000 resting GTC limit orders within 1% of the mid."""
        rng = self.rng
        out: list[AnyCommand] = []
        for i in range(WARMUP_ORDERS):
            symbol = self.symbols[i % len(self.symbols)]
            out.append(self._passive(rng, symbol, rng.randint(1, ACCOUNTS)))
        return out

    # -- THE MIX --

    def chunk(self, size: int) -> list[AnyCommand]:
        rng = self.rng
        out: list[AnyCommand] = []
        symbols = self.symbols
        for _ in range(size):
            self.ts += 50
            symbol = symbols[rng.randrange(len(symbols))] if len(symbols) > 1 else symbols[0]
            if rng.random() < 0.02:
                self.mid[symbol] += 1 if rng.random() < 0.5 else -1
            account = rng.randint(1, ACCOUNTS)
            roll = rng.random()
            if roll < 0.50:
                out.append(self._passive(rng, symbol, account))
            elif roll < 0.70:
                out.append(self._cancel(rng) or self._passive(rng, symbol, account))
            elif roll < 0.80:
                out.append(self._aggressive(rng, symbol, account))
            elif roll < 0.85:
                out.append(
                    PlaceOrder(ts=self.ts, account_id=account, symbol=symbol,
                               side=_BUY if rng.random() < 0.5 else _SELL,
                               type=OrderType.MARKET, quantity=rng.randint(1, 50))
                )
            elif roll < 0.95:
                out.append(self._amend(rng) or self._passive(rng, symbol, account))
            elif roll < 0.975:
                out.append(self._stop(rng, symbol, account))
            else:
                out.append(self._passive(rng, symbol, account, post_only=True))
        return out

    def _passive(self, rng: random.Random, symbol: str, account: int, *,
                 post_only: bool = False) -> PlaceOrder:
        is_buy = rng.random() < 0.5
        offset = 1 + int(rng.expovariate(1 / 15)) % BAND
        mid = self.mid[symbol]
        return PlaceOrder(
            ts=self.ts, account_id=account, symbol=symbol, side=_BUY if is_buy else _SELL,
            price=mid - offset if is_buy else mid + offset, quantity=rng.randint(1, 100),
            post_only=post_only,
        )

    def _aggressive(self, rng: random.Random, symbol: str, account: int) -> PlaceOrder:
        is_buy = rng.random() < 0.5
        offset = rng.randint(1, 20)
        mid = self.mid[symbol]
        return PlaceOrder(
            ts=self.ts, account_id=account, symbol=symbol, side=_BUY if is_buy else _SELL,
            price=mid + offset if is_buy else mid - offset, quantity=rng.randint(1, 100),
            time_in_force=TimeInForce.IOC if rng.random() < 0.5 else TimeInForce.GTC,
        )

    def _stop(self, rng: random.Random, symbol: str, account: int) -> PlaceOrder:
        is_buy = rng.random() < 0.5
        offset = rng.randint(5, 50)
        mid = self.mid[symbol]
        stop = mid + offset if is_buy else mid - offset
        if rng.random() < 0.5:
            return PlaceOrder(ts=self.ts, account_id=account, symbol=symbol,
                              side=_BUY if is_buy else _SELL, type=OrderType.STOP_MARKET,
                              stop_price=stop, quantity=rng.randint(1, 50))
        return PlaceOrder(ts=self.ts, account_id=account, symbol=symbol,
                          side=_BUY if is_buy else _SELL, type=OrderType.STOP_LIMIT,
                          stop_price=stop, price=stop + (2 if is_buy else -2),
                          quantity=rng.randint(1, 50))

    def _pick_live(self, rng: random.Random) -> int | None:
        if not self.live_ids:
            return None
        return self.live_ids[rng.randrange(len(self.live_ids))]

    def _cancel(self, rng: random.Random) -> CancelOrder | None:
        order_id = self._pick_live(rng)
        if order_id is None:
            return None
        account = self.live[order_id][0]
        self._forget(order_id)  # do not pick it twice before the engine answers
        return CancelOrder(ts=self.ts, account_id=account, order_id=order_id)

    def _amend(self, rng: random.Random) -> AmendOrder | None:
        order_id = self._pick_live(rng)
        if order_id is None:
            return None
        account, symbol, qty, price = self.live[order_id]
        if price <= 0:  # a stop-market: nothing sensible to re-price
            return None
        if rng.random() < 0.5 and qty > 1:
            new_qty = max(1, qty // 2)
            self.live[order_id] = (account, symbol, new_qty, price)
            return AmendOrder(ts=self.ts, account_id=account, order_id=order_id, quantity=new_qty)
        mid = self.mid[symbol]
        step = rng.randint(1, 5)
        # Move away from the mid so the re-priced order stays passive.
        new_price = price - step if price < mid else price + step
        self.live[order_id] = (account, symbol, qty, new_price)
        return AmendOrder(ts=self.ts, account_id=account, order_id=order_id, price=new_price)

    # -- FEEDBACK --

    def observe(self, commands: Sequence[AnyCommand], results: Iterable[list[AnyEvent]]) -> None:
        """Learns which orders are live from the events of `commands`."""
        for events in results:
            for event in events:
                match event:
                    case OrderAccepted(order_id=order_id, order=cmd):
                        self._remember(order_id, cmd.account_id, cmd.symbol, cmd.quantity or 0,
                                       cmd.price or 0)
                    case OrderFilled() | OrderCancelled() | OrderExpired():
                        self._forget(event.order_id)
                    case OrderRejected(order_id=order_id) if order_id:
                        self._forget(order_id)
                    case OrderAmended(order_id=order_id, quantity=quantity, price=price):
                        known = self.live.get(order_id)
                        if known is not None:
                            self.live[order_id] = (known[0], known[1], quantity, price or 0)

    def _remember(self, order_id: int, account: int, symbol: str, qty: int, price: int) -> None:
        if order_id in self.live:
            return
        self.live[order_id] = (account, symbol, qty, price)
        self._index[order_id] = len(self.live_ids)
        self.live_ids.append(order_id)

    def _forget(self, order_id: int) -> None:
        if self.live.pop(order_id, None) is None:
            return
        index = self._index.pop(order_id)
        last = self.live_ids.pop()
        if last != order_id:
            self.live_ids[index] = last
            self._index[last] = index
