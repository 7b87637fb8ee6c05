"""Random command streams for the store's tests, deterministic from a seed.

Every feature whose state recovery must bring back appears: limit, market, stop, stop-limit,
take-profit market and take-profit limit orders with every time in force (GTD with expiries),
post-only, each self-trade prevention mode, brackets (take-profit and stop-loss pairs sharing a
hold), amends that keep or lose priority, cancels, cancel-alls, deposits and withdrawals with
(repeated) transfer ids, halts, late accounts and instruments. Cancels and amends target live
orders, found with a scratch engine that runs the stream as it is drawn (as a client would learn
them from events).

`engine_state` describes an engine completely enough to compare a recovered one with the
original: every level's orders in queue order with their holds and fees, stops, expiries,
balances, counters and transfer ids.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import msgspec

from exchange.engine import Engine
from exchange.engine.codes import TRIGGERS, OrderType, SelfTradePrevention, Side, TimeInForce
from exchange.engine.commands import (
    AddInstrument,
    AmendOrder,
    AnyCommand,
    CancelAllOrders,
    CancelOrder,
    CreateAccount,
    Deposit,
    ExpireOrders,
    HaltInstrument,
    PlaceOrder,
    ResumeInstrument,
    Withdraw,
)
from exchange.engine.events import AnyEvent, FundsDeposited, FundsWithdrawn

INSTRUMENTS = (
    AddInstrument(
        symbol="AAA-USD", base="AAA", quote="USD", tick_size=Decimal("0.01"),
        lot_size=Decimal("0.01"), maker_fee_rate=Decimal("0.001"),
        taker_fee_rate=Decimal("0.002"),
    ),
    AddInstrument(
        symbol="BBB-USD", base="BBB", quote="USD", tick_size=Decimal("1"),
        lot_size=Decimal("0.1"), min_quantity=2, maker_fee_rate=Decimal("0.003"),
        taker_fee_rate=Decimal("0"),
    ),
)
# With filters (about a third of its orders break one), so recovery must restore them.
LATE_INSTRUMENT = AddInstrument(
    symbol="CCC-AAA", base="CCC", quote="AAA", tick_size=Decimal("0.5"),
    lot_size=Decimal("1"), maker_fee_rate=Decimal("0"), taker_fee_rate=Decimal("0.0005"),
    min_notional=30 * 10**12, max_quantity=10,
)
ASSETS = ("USD", "AAA", "BBB", "CCC")
RICH = 10**17
POOR = 3 * 10**13


class StreamMaker:
    """Draws commands one at a time, running them through a scratch engine."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.engine = Engine()
        self.ts = 1_000_000
        self.accounts: list[int] = []
        self.symbols = [inst.symbol for inst in INSTRUMENTS]

    def setup(self) -> list[AnyCommand]:
        commands: list[AnyCommand] = [*INSTRUMENTS]
        for _ in range(4):
            commands.append(CreateAccount(ts=self.ts))
        for account in range(1, 5):
            for asset in ASSETS:
                amount = RICH if self.rng.random() < 0.7 else self.rng.randint(1, POOR)
                commands.append(Deposit(ts=self.ts, account_id=account, asset=asset,
                                        amount=amount, transfer_id=f"open-{account}-{asset}"))
        for command in commands:
            self._run(command)
        return commands

    def _run(self, command: AnyCommand) -> list[AnyEvent]:
        events = self.engine.handle(command)
        for event in events:
            if type(event).__name__ == "AccountCreated":
                self.accounts.append(event.account_id)  # type: ignore[union-attr]
        return events

    def commands(self, count: int) -> list[AnyCommand]:
        out = []
        for _ in range(count):
            command = self._draw()
            self._run(command)
            out.append(command)
        return out

    # -- DRAWING --

    def _draw(self) -> AnyCommand:
        rng = self.rng
        self.ts += rng.choice((0, 1, 1, 2, 3, 7))
        halted = [s for s in self.symbols if self.engine.instruments[s].halted]
        if halted and rng.random() < 0.1:
            return ResumeInstrument(ts=self.ts, symbol=rng.choice(halted))
        roll = rng.random()
        if roll < 0.70:
            return self._place()
        if roll < 0.78:
            return self._cancel()
        if roll < 0.88:
            return self._amend()
        if roll < 0.882:
            return CancelAllOrders(ts=self.ts, account_id=self._account(),
                                   symbol=rng.choice([None, *self.symbols]))
        if roll < 0.91:
            return ExpireOrders(ts=self.ts)
        if roll < 0.97:
            return self._transfer()
        if roll < 0.975:
            return HaltInstrument(ts=self.ts, symbol=rng.choice(self.symbols))
        if roll < 0.99:
            return CreateAccount(ts=self.ts)
        if LATE_INSTRUMENT.symbol not in self.engine.instruments:
            self.symbols.append(LATE_INSTRUMENT.symbol)
            return msgspec.structs.replace(LATE_INSTRUMENT, ts=self.ts)
        return ExpireOrders(ts=self.ts)

    def _account(self) -> int:
        """Mostly one of the four funded accounts, sometimes a later (unfunded) one."""
        if self.rng.random() < 0.9:
            return self.rng.choice(self.accounts[:4])
        return self.rng.choice(self.accounts)

    def _price(self, symbol: str, side: Side | None = None) -> int:
        """Near the middle of a narrow band: on the order's own side mostly (it rests), across
        now and then (it trades)."""
        rng = self.rng
        mid, spread = (100, 8) if symbol != "CCC-AAA" else (20, 2)
        if side is None or rng.random() < 0.3:
            return rng.randint(mid - spread // 2, mid + spread // 2)
        offset = rng.randint(0, spread)
        return mid - offset if side == Side.BUY else mid + offset

    def _place(self) -> PlaceOrder:
        rng = self.rng
        symbol = rng.choice(self.symbols)
        kind = rng.choice([OrderType.LIMIT] * 10 + [OrderType.MARKET] * 2
                          + [OrderType.STOP_MARKET] * 2 + [OrderType.STOP_LIMIT] * 2
                          + [OrderType.TAKE_PROFIT_MARKET, OrderType.TAKE_PROFIT_LIMIT])
        fields: dict[str, Any] = {
            "ts": self.ts,
            "account_id": self._account(),
            "symbol": symbol,
            "side": rng.choice([Side.BUY, Side.SELL]),
            "type": kind,
            "self_trade_prevention": rng.choice(list(SelfTradePrevention)),
        }
        if rng.random() < 0.3:
            fields["client_order_id"] = f"c{rng.randrange(10**6)}"
        if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT):
            fields["price"] = self._price(symbol, fields["side"])
            fields["quantity"] = rng.randint(1, 12)
            tif = rng.choice([TimeInForce.GTC] * 5 + [TimeInForce.IOC, TimeInForce.FOK]
                             + [TimeInForce.GTD] * 2)
            fields["time_in_force"] = tif
            if tif == TimeInForce.GTD:
                fields["expire_time"] = self.ts + rng.choice((5, 40, 3_000, 10**6))
            if tif in (TimeInForce.GTC, TimeInForce.GTD) and rng.random() < 0.15:
                fields["post_only"] = True
        else:
            fields["time_in_force"] = rng.choice([TimeInForce.GTC, TimeInForce.IOC])
            if kind == OrderType.MARKET and rng.random() < 0.3:
                fields["quote_quantity"] = rng.randint(1, 3000) * 10**10
            else:
                fields["quantity"] = rng.randint(1, 12)
        if kind in TRIGGERS:
            fields["stop_price"] = self._price(symbol) + rng.choice((-8, -4, 0, 4, 8))
        if rng.random() < 0.25:
            # Mostly a sensible bracket (profit above a buy, loss below), now and then not.
            which = rng.choice(["tp", "sl", "both", "both", "both"])
            mid = 100 if symbol != "CCC-AAA" else 20
            up = 1 if fields["side"] == Side.BUY else -1
            if rng.random() < 0.2:
                up = -up
            if which != "sl":
                fields["take_profit_price"] = mid + up * rng.randint(2, 8)
            if which != "tp":
                fields["stop_loss_price"] = mid - up * rng.randint(3, 9)
        return PlaceOrder(**fields)

    def _target(self) -> tuple[int, int]:
        orders = list(self.engine.orders.values())
        rng = self.rng
        if orders and rng.random() < 0.9:
            order = rng.choice(orders)
            account = order.account.account_id
            if rng.random() < 0.05:
                account = self._account()
            return account, order.order_id
        return self._account(), rng.randint(0, self.engine.next_order_id + 1)

    def _cancel(self) -> CancelOrder:
        account, order_id = self._target()
        return CancelOrder(ts=self.ts, account_id=account, order_id=order_id)

    def _amend(self) -> AmendOrder:
        account, order_id = self._target()
        rng = self.rng
        order = self.engine.orders.get(order_id)
        symbol = order.instrument.symbol if order is not None else self.symbols[0]
        change = rng.choice(["down", "up", "price", "both"])
        quantity = price = None
        if order is not None and change == "down" and order.quantity - order.filled > 1:
            quantity = order.quantity - 1
        elif change in ("up", "both"):
            quantity = rng.randint(1, 14)
        if change in ("price", "both") or (quantity is None):
            price = self._price(symbol)
        return AmendOrder(ts=self.ts, account_id=account, order_id=order_id, quantity=quantity,
                          price=price)

    def _transfer(self) -> Deposit | Withdraw:
        rng = self.rng
        kind = rng.choice([Deposit, Withdraw])
        transfer_id = rng.choice([None, None, f"t{rng.randrange(20)}"])
        return kind(ts=self.ts, account_id=self._account(), asset=rng.choice(ASSETS),
                    amount=rng.randint(1, POOR), transfer_id=transfer_id)


def stream(seed: int, count: int) -> list[AnyCommand]:
    """Setup commands, then `count` random commands."""
    maker = StreamMaker(seed)
    return maker.setup() + maker.commands(count)


def supply(events: list[AnyEvent]) -> dict[str, int]:
    """Deposited minus withdrawn, per asset."""
    out: dict[str, int] = {}
    for event in events:
        if isinstance(event, FundsDeposited):
            out[event.asset] = out.get(event.asset, 0) + event.amount
        elif isinstance(event, FundsWithdrawn):
            out[event.asset] = out.get(event.asset, 0) - event.amount
    return out


# -- COMPARING ENGINES --


def _order_state(order: Any) -> tuple[Any, ...]:
    return (
        order.order_id, order.account.account_id, order.instrument.symbol, order.is_buy,
        order.price, order.stop_price, order.quantity, order.filled, order.hold,
        order.fee_num, order.fee_paid, order.priority, order.parent_order_id,
        None if order.sibling is None else order.sibling.order_id,
        order.holds_for_sibling if order.sibling is not None else None,
        order.pending, order.is_market, order.expire_time, order.quote_left,
        str(order.command.type), str(order.command.time_in_force), order.command.post_only,
        str(order.command.self_trade_prevention), order.command.client_order_id,
        order.command.take_profit_price, order.command.stop_loss_price,
    )


def engine_state(engine: Engine) -> dict[str, Any]:
    """Everything that decides the engine's future events, in comparable form."""
    instruments = {}
    for symbol, inst in engine.instruments.items():
        sides = {}
        for name, side in (("bids", inst.bids), ("asks", inst.asks)):
            sides[name] = [
                (level.price, level.quantity, level.count,
                 [_order_state(order) for order in level.orders()])
                for level in (side.levels[key * side.sign] for key in reversed(side.keys))
            ]
        instruments[symbol] = {
            **sides,
            "buy_stops": list(inst.buy_stops),
            "sell_stops": list(inst.sell_stops),
            "halted": inst.halted,
            "sequence": inst.sequence,
            "last_price": inst.last_price,
            "rates": (inst.maker_rate, inst.taker_rate, inst.quote_mult, inst.base_mult),
            "filters": (inst.min_quantity, inst.min_notional, inst.max_quantity),
        }
    live_expiries = sorted(
        entry for entry in engine.expiries if entry[1] in engine.orders
    )
    return {
        "instruments": instruments,
        "orders": [_order_state(order) for order in engine.orders.values()],
        "account_orders": {
            account_id: list(account.orders) for account_id, account in engine.accounts.items()
        },
        "balances": {
            (account_id, asset): (bal.total, bal.held)
            for account_id, account in engine.accounts.items()
            for asset, bal in account.balances.items()
            if bal.total or bal.held
        },
        "expiries": live_expiries,
        "transfer_ids": sorted(engine.transfer_ids),
        "counters": (engine.next_order_id, engine.next_trade_id, engine.next_account_id,
                     engine.next_priority),
    }
