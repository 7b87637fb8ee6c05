"""Shared builders for the engine scenario tests.

`Sim` wraps an `Engine` with a clock (each command without a `ts` gets the next microsecond)
and keeps a ledger of deposits and withdrawals so a test can check that every asset is
conserved. The unit helpers turn the decimal strings a reader thinks in into the engine's
integers: `px("100.01")` ticks, `qty("0.5")` lots, `usd("0.2")` / `btc("1")` asset units.

The standard instrument is BTC-USD with tick 0.01, lot 0.001, maker 0.001 and taker 0.002, so:

- a price in ticks times a quantity in lots is a number of quote increments, each worth
  `QUOTE_MULT` (10**7) USD units: 1 BTC at 100 is 10_000 x 1_000 x 10**7 = usd("100");
- a fee is `ceil(increments x rate / RATE_SCALE)` increments, per order, cumulatively.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from exchange.engine import Engine
from exchange.engine.codes import OrderType, Side
from exchange.engine.commands import (
    AddInstrument,
    AmendOrder,
    AnyCommand,
    CancelAllOrders,
    CancelOrder,
    CreateAccount,
    Deposit,
    ExpireOrders,
    PlaceOrder,
    Withdraw,
)
from exchange.engine.events import (
    AccountCreated,
    AnyEvent,
    BalanceChanged,
    BookLevelChanged,
    FundsDeposited,
    FundsWithdrawn,
    OrderAccepted,
    OrderTriggered,
    TradeExecuted,
)

SYMBOL = "BTC-USD"
BASE = "BTC"
QUOTE = "USD"
TICK = Decimal("0.01")
LOT = Decimal("0.001")
MAKER_FEE = Decimal("0.001")
TAKER_FEE = Decimal("0.002")

UNIT = 10**12  # asset units in one whole BTC or USD
QUOTE_MULT = 10**7  # USD units in one quote increment (tick x lot)
BASE_MULT = 10**9  # BTC units in one lot
RATE_SCALE = 10**8
MAKER_RATE = 100_000  # 0.001
TAKER_RATE = 200_000  # 0.002

FEE_ACCOUNT = 0
ALICE = 1
BOB = 2
CAROL = 3
START_USD = "1000000"
START_BTC = "100"

T = TypeVar("T")


# -- UNITS --


def px(price: str) -> int:
    """Ticks of a decimal price: `px("100.01") == 10_001`."""
    return _steps(price, TICK)


def qty(quantity: str) -> int:
    """Lots of a decimal quantity: `qty("1.5") == 1_500`."""
    return _steps(quantity, LOT)


def usd(amount: str) -> int:
    return _steps(amount, Decimal(1) / UNIT)


def btc(amount: str) -> int:
    return _steps(amount, Decimal(1) / UNIT)


def inc(increments: int) -> int:
    """USD units of a number of quote increments (tick x lot)."""
    return increments * QUOTE_MULT


def _steps(value: str, step: Decimal) -> int:
    steps, rest = divmod(Decimal(value), step)
    assert rest == 0, f"{value} is not a multiple of {step}"
    return int(steps)


def fee_increments(notional: int, rate: int) -> int:
    """`ceil(notional x rate)` in quote increments for a notional in increments."""
    return -(-notional * rate // RATE_SCALE)


# -- EVENTS --


def of_type(events: list[AnyEvent], kind: type[T]) -> list[T]:
    """The events of one type, in order."""
    return [event for event in events if isinstance(event, kind)]


def one(events: list[AnyEvent], kind: type[T]) -> T:
    """The only event of a type (fails when there are none or several)."""
    found = of_type(events, kind)
    assert len(found) == 1, f"expected one {kind.__name__}, got {found}"
    return found[0]


def kinds(events: list[AnyEvent], *, balances: bool = False) -> list[str]:
    """Event class names in order, without `BalanceChanged` unless asked."""
    return [
        type(event).__name__
        for event in events
        if balances or not isinstance(event, BalanceChanged)
    ]


def accepted_id(events: list[AnyEvent]) -> int:
    """The order id of the (first) `OrderAccepted` in `events`."""
    return of_type(events, OrderAccepted)[0].order_id


def fills(events: list[AnyEvent]) -> list[tuple[int, int]]:
    """`(price, quantity)` of each trade, in order."""
    return [(trade.price, trade.quantity) for trade in of_type(events, TradeExecuted)]


def triggered(events: list[AnyEvent]) -> list[int]:
    return [e.order_id for e in of_type(events, OrderTriggered)]


def levels(events: list[AnyEvent]) -> list[tuple[str, int, int, int]]:
    """`(side, price, quantity, order_count)` of each `BookLevelChanged`, in order."""
    return [
        (str(level.side), level.price, level.quantity, level.order_count)
        for level in of_type(events, BookLevelChanged)
    ]


# -- THE SIMULATION --


class Sim:
    """An engine with a clock, funded accounts and a ledger of what came in and went out."""

    def __init__(self, engine: Engine, ts: int = 1_000_000) -> None:
        self.engine = engine
        self.ts = ts
        self.accounts: list[int] = [FEE_ACCOUNT]
        self.supply: dict[str, int] = defaultdict(int)  # deposited minus withdrawn
        self.log: list[AnyEvent] = []

    def handle(self, command: AnyCommand) -> list[AnyEvent]:
        """Runs one command; a command with `ts` 0 gets the next tick of the clock. Then
        the engine checks its own invariants (`Engine.check()`)."""
        if command.ts == 0:
            self.ts += 1
            command = msgspec.structs.replace(command, ts=self.ts)
        else:
            self.ts = max(self.ts, command.ts)
        events = self.engine.handle(command)
        self.engine.check()
        for event in events:
            if isinstance(event, FundsDeposited):
                self.supply[event.asset] += event.amount
            elif isinstance(event, FundsWithdrawn):
                self.supply[event.asset] -= event.amount
            elif isinstance(event, AccountCreated):
                self.accounts.append(event.account_id)
        self.log += events
        return events

    # -- SET-UP --

    def add_instrument(
        self,
        symbol: str = SYMBOL,
        base: str = BASE,
        quote: str = QUOTE,
        **fields: Any,
    ) -> list[AnyEvent]:
        fields = {
            "tick_size": TICK,
            "lot_size": LOT,
            "maker_fee_rate": MAKER_FEE,
            "taker_fee_rate": TAKER_FEE,
            **fields,
        }
        return self.handle(AddInstrument(symbol=symbol, base=base, quote=quote, **fields))

    def new_account(self, **funds: str) -> int:
        """Creates an account and deposits `funds` (asset name to decimal amount)."""
        account_id = one(self.handle(CreateAccount()), AccountCreated).account_id
        for asset, amount in funds.items():
            self.deposit(account_id, asset, _steps(amount, Decimal(1) / UNIT))
        return account_id

    def deposit(self, account_id: int, asset: str, amount: int,
                transfer_id: str | None = None) -> list[AnyEvent]:
        return self.handle(
            Deposit(account_id=account_id, asset=asset, amount=amount, transfer_id=transfer_id)
        )

    def withdraw(self, account_id: int, asset: str, amount: int,
                 transfer_id: str | None = None) -> list[AnyEvent]:
        return self.handle(
            Withdraw(account_id=account_id, asset=asset, amount=amount, transfer_id=transfer_id)
        )

    # -- ORDERS --

    def place(
        self,
        account_id: int,
        side: str,
        quantity: str | None = None,
        price: str | None = None,
        *,
        symbol: str = SYMBOL,
        **fields: Any,
    ) -> list[AnyEvent]:
        """Places an order; `quantity` and `price` (and `stop_price`, `take_profit_price`,
        `stop_loss_price`, `quote_quantity`) may be given as decimal strings."""
        for name, convert in (
            ("stop_price", px),
            ("take_profit_price", px),
            ("stop_loss_price", px),
            ("quote_quantity", usd),
        ):
            if isinstance(fields.get(name), str):
                fields[name] = convert(fields[name])
        return self.handle(
            PlaceOrder(
                account_id=account_id,
                symbol=symbol,
                side=Side(side),
                quantity=None if quantity is None else qty(quantity),
                price=None if price is None else px(price),
                **fields,
            )
        )

    def limit(self, account_id: int, side: str, quantity: str, price: str,
              **fields: Any) -> int:
        """Places a limit order and returns its order id (it must be accepted)."""
        return accepted_id(self.place(account_id, side, quantity, price, **fields))

    def market(self, account_id: int, side: str, quantity: str | None = None,
               **fields: Any) -> list[AnyEvent]:
        return self.place(account_id, side, quantity, type=OrderType.MARKET, **fields)

    def stop(self, account_id: int, side: str, quantity: str, stop_price: str,
             price: str | None = None, **fields: Any) -> list[AnyEvent]:
        """A stop-market order, or a stop-limit one when `price` is given."""
        kind = OrderType.STOP_MARKET if price is None else OrderType.STOP_LIMIT
        return self.place(account_id, side, quantity, price, type=kind, stop_price=stop_price,
                          **fields)

    def take_profit(self, account_id: int, side: str, quantity: str, stop_price: str,
                    price: str | None = None, **fields: Any) -> list[AnyEvent]:
        """A take-profit market order, or a take-profit limit one when `price` is given."""
        kind = OrderType.TAKE_PROFIT_MARKET if price is None else OrderType.TAKE_PROFIT_LIMIT
        return self.place(account_id, side, quantity, price, type=kind, stop_price=stop_price,
                          **fields)

    def trade_at(self, price: str, quantity: str = "0.001", *, buyer: int, seller: int,
                 ) -> list[AnyEvent]:
        """Prints a trade at `price` between two accounts (the buyer takes)."""
        self.limit(seller, "sell", quantity, price)
        events = self.place(buyer, "buy", quantity, price)
        assert fills(events)[0] == (px(price), qty(quantity)), events
        return events

    def cancel(self, account_id: int, order_id: int) -> list[AnyEvent]:
        return self.handle(CancelOrder(account_id=account_id, order_id=order_id))

    def cancel_all(self, account_id: int, symbol: str | None = None) -> list[AnyEvent]:
        return self.handle(CancelAllOrders(account_id=account_id, symbol=symbol))

    def amend(self, account_id: int, order_id: int, quantity: str | None = None,
              price: str | None = None) -> list[AnyEvent]:
        return self.handle(
            AmendOrder(
                account_id=account_id,
                order_id=order_id,
                quantity=None if quantity is None else qty(quantity),
                price=None if price is None else px(price),
            )
        )

    def expire(self, ts: int) -> list[AnyEvent]:
        return self.handle(ExpireOrders(ts=ts))

    # -- INSPECTION --

    def balance(self, account_id: int, asset: str) -> tuple[int, int]:
        return self.engine.balance(account_id, asset)

    def depth(self, symbol: str = SYMBOL) -> tuple[
        list[tuple[int, int, int]], list[tuple[int, int, int]]
    ]:
        return self.engine.depth(symbol)

    def assert_conserved(self) -> None:
        """Every asset's totals over all accounts (fee account 0 included) equal what was
        deposited minus what was withdrawn, and no balance is negative or over-held."""
        assets = set(self.supply)
        for asset in assets:
            totals = 0
            for account_id in self.accounts:
                total, held = self.balance(account_id, asset)
                assert 0 <= held <= total, (account_id, asset, total, held)
                totals += total
            assert totals == self.supply[asset], (asset, totals, self.supply[asset])


def make_sim(*, max_open_orders: int | None = None) -> Sim:
    """BTC-USD (tick 0.01, lot 0.001, maker 0.001, taker 0.002) and three accounts, ALICE,
    BOB and CAROL, each with 1,000,000 USD and 100 BTC."""
    engine = Engine() if max_open_orders is None else Engine(max_open_orders=max_open_orders)
    sim = Sim(engine)
    sim.add_instrument()
    for expected in (ALICE, BOB, CAROL):
        account_id = sim.new_account(USD=START_USD, BTC=START_BTC)
        assert account_id == expected
    return sim
