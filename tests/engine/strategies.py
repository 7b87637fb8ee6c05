"""Hypothesis strategies: random command sequences for the matching engine.

`command_sequences()` gives whole scenarios for the property tests: two instruments (with
fees, sharing the quote asset; one with a minimum notional and a maximum quantity), four
accounts funded by `Deposit` at the start, then a mix of every order type (stops and
take-profits among them), time in force, post-only, self-trade prevention mode and bracket,
with cancels, amends, cancel-alls, expiries, halts and resumes, later transfers, and round
resets (some ending soon, which refuses later placements). Prices stay in a narrow band so
that orders cross often, and `ts` never goes back.

Cancels and amends must name orders that exist to be interesting, and ids depend on which
placements were accepted, so each scenario is built step by step against a scratch engine:
a target is then "the k-th open order" (with its owner's account, mostly), or now and then any
id at all. The result is a plain list of commands, so a failing example prints as one and a
fresh engine replays it.

`plain_sequences()` gives the simpler scenarios of the differential test: one instrument
without fees, generous funds, limit (GTC/IOC) and market orders by quantity, and cancels;
`trigger_sequences()` adds stops and take-profits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from exchange.engine import Engine
from exchange.engine.codes import (
    TRIGGER_LIMITS,
    TRIGGER_MARKETS,
    TRIGGERS,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
)
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
    StartRound,
    Withdraw,
)

# -- THE WORLD OF THE PROPERTY TESTS --

ACCOUNTS = (1, 2, 3, 4)
INSTRUMENTS = (
    # Both fee rates set; the taker rate is the higher one.
    AddInstrument(
        symbol="AAA-USD", base="AAA", quote="USD", tick_size=Decimal("0.01"),
        lot_size=Decimal("0.01"), maker_fee_rate=Decimal("0.001"),
        taker_fee_rate=Decimal("0.002"),
    ),
    # A maker rate above a zero taker rate, a minimum quantity of two lots, and filters:
    # at least 30 USD (three lots at 100) and at most ten lots an order.
    AddInstrument(
        symbol="BBB-USD", base="BBB", quote="USD", tick_size=Decimal("1"),
        lot_size=Decimal("0.1"), min_quantity=2, maker_fee_rate=Decimal("0.003"),
        taker_fee_rate=Decimal("0"), min_notional=30 * 10**12, max_quantity=10,
    ),
)
SYMBOLS = tuple(inst.symbol for inst in INSTRUMENTS)
ASSETS = ("USD", "AAA", "BBB")
UNIT = Decimal("1e-12")
LOT_UNITS = {inst.symbol: int(inst.lot_size / UNIT) for inst in INSTRUMENTS}
INCREMENT_UNITS = {inst.symbol: int(inst.tick_size * inst.lot_size / UNIT) for inst in INSTRUMENTS}

PRICES = st.integers(97, 103)  # ticks: a narrow band, so orders cross often
STOP_PRICES = st.integers(95, 105)
QUANTITIES = st.integers(1, 12)  # lots

# A low open-order limit, so that `too_many_open_orders` happens now and then.
MAX_OPEN_ORDERS = 8


def new_engine() -> Engine:
    """A fresh engine as the property tests run it."""
    return Engine(max_open_orders=MAX_OPEN_ORDERS)


# Per asset: a rich account never runs short; a poor one soon does.
_RICH = {"USD": 10**17, "AAA": 10**15, "BBB": 10**16}
_POOR = {"USD": 2 * 10**15, "AAA": 60 * 10**10, "BBB": 60 * 10**11}

# Strategies are built once, here: building them inside the draw loop costs more than drawing.


def _weighted(*pairs: tuple[Any, int]) -> st.SearchStrategy[Any]:
    return st.sampled_from([value for value, weight in pairs for _ in range(weight)])


_poor = _weighted((False, 2), (True, 1))
_poor_amounts = {asset: st.integers(0, _POOR[asset]) for asset in ASSETS}
_kinds = _weighted(
    (OrderType.LIMIT, 12), (OrderType.MARKET, 3), (OrderType.STOP_MARKET, 2),
    (OrderType.STOP_LIMIT, 2), (OrderType.TAKE_PROFIT_MARKET, 2), (OrderType.TAKE_PROFIT_LIMIT, 2),
)
_symbols = _weighted((SYMBOLS[0], 2), (SYMBOLS[1], 1))
_accounts = st.sampled_from(ACCOUNTS)
_sides = st.sampled_from(Side)
# Who places what where, in one draw (drawing is what scenarios spend most of their time on).
_placers = st.sampled_from(
    [
        (symbol, account, side)
        for symbol in (SYMBOLS[0], SYMBOLS[0], SYMBOLS[1])
        for account in ACCOUNTS
        for side in Side
    ]
)
_stp = _weighted(
    (SelfTradePrevention.CANCEL_NEWEST, 3), (SelfTradePrevention.CANCEL_OLDEST, 2),
    (SelfTradePrevention.CANCEL_BOTH, 2), (SelfTradePrevention.NONE, 3),
)
_limit_tif = _weighted(
    (TimeInForce.GTC, 8), (TimeInForce.IOC, 2), (TimeInForce.FOK, 2), (TimeInForce.GTD, 2)
)
_market_tif = st.sampled_from([TimeInForce.GTC, TimeInForce.IOC])
_expire_in = st.integers(1, 30)
_one_in_2 = st.booleans()
_one_in_3 = _weighted((False, 2), (True, 1))
_one_in_6 = _weighted((False, 5), (True, 1))
_one_in_4 = _weighted((False, 3), (True, 1))
_quote_increments = st.integers(1, 2500)
_quote_odd = st.sampled_from([0, 0, 1, 2])  # times half an increment, plus one unit at 1
_bracket_kind = st.sampled_from(["tp", "sl", "both"])
_step_kinds = _weighted(
    ("place", 28), ("cancel", 3), ("amend", 4), ("cancel_all", 1), ("expire", 1),
    ("transfer", 1), ("status", 3), ("round", 1),
)
# Mostly resumes: an instrument is halted about a tenth of the time.
_statuses = _weighted((HaltInstrument, 1), (ResumeInstrument, 8))
_target_modes = _weighted(("open", 6), ("other", 1), ("any", 1))
_amend_changes = st.sampled_from(["quantity", "price", "both", "neither"])
_amend_quantities = st.integers(1, 14)
_cancel_all_symbols = st.sampled_from([None, *SYMBOLS])
_transfers = st.sampled_from([Deposit, Withdraw])
_assets = st.sampled_from(ASSETS)
_transfer_amounts = {
    asset: st.one_of(st.integers(1, _POOR[asset]), st.integers(1, _RICH[asset]))
    for asset in ASSETS
}
_transfer_ids = st.sampled_from([None, None, "t1", "t2"])
_round_accounts = st.lists(st.sampled_from(ACCOUNTS), max_size=4, unique=True)
_round_balances = st.dictionaries(
    st.sampled_from(ASSETS), st.sampled_from([0, 10**12, 10**15, 10**17]), max_size=3
)
_round_ends = _weighted((0, 3), (1, 1), (4, 1))  # open-ended, or ends soon after
_time_steps = _weighted((0, 2), (1, 3), (2, 2), (5, 1))
_indexes = st.integers(0, 10**6)
_other_account_offsets = st.integers(1, len(ACCOUNTS) - 1)


def setup_commands(funding: dict[tuple[int, str], int]) -> list[AnyCommand]:
    """Instruments, accounts 1-4 and their opening deposits, all at ts 0."""
    commands: list[AnyCommand] = [*INSTRUMENTS]
    commands += [CreateAccount() for _ in ACCOUNTS]
    for (account, asset), amount in funding.items():
        if amount > 0:
            commands.append(Deposit(account_id=account, asset=asset, amount=amount))
    return commands


# -- ORDERS --


def _place(draw: st.DrawFn, ts: int, number: int) -> PlaceOrder:
    kind = draw(_kinds)
    symbol, account, side = draw(_placers)
    fields: dict[str, Any] = {
        "ts": ts,
        "client_order_id": f"c{number}",  # tells a placement's rejection from a bracket's
        "account_id": account,
        "symbol": symbol,
        "side": side,
        "type": kind,
        "self_trade_prevention": draw(_stp),
    }
    if kind in (OrderType.LIMIT, *TRIGGER_LIMITS):
        fields["price"] = draw(PRICES)
        fields["quantity"] = draw(QUANTITIES)
        tif = fields["time_in_force"] = draw(_limit_tif)
        if tif == TimeInForce.GTD:
            fields["expire_time"] = ts + draw(_expire_in)
        # Post-only mostly where it is allowed (GTC, GTD), now and then where it is not.
        if draw(_one_in_6) and (tif in (TimeInForce.GTC, TimeInForce.GTD) or draw(_one_in_2)):
            fields["post_only"] = True
    else:
        fields["time_in_force"] = draw(_market_tif)
        if kind == OrderType.MARKET and draw(_one_in_3):
            increment = INCREMENT_UNITS[symbol]
            odd = draw(_quote_odd)
            fields["quote_quantity"] = (
                draw(_quote_increments) * increment + odd * (increment // 2) + (odd == 1)
            )
        else:
            fields["quantity"] = draw(QUANTITIES)
    if kind in TRIGGERS:
        fields["stop_price"] = draw(STOP_PRICES)
    if draw(_one_in_4):
        which = draw(_bracket_kind)
        if which != "sl":
            fields["take_profit_price"] = draw(PRICES)
        if which != "tp":
            fields["stop_loss_price"] = draw(STOP_PRICES)
    return PlaceOrder(**fields)


def _target(draw: st.DrawFn, sim: Engine | None, id_bound: int) -> tuple[int, int]:
    """`(account_id, order_id)`: mostly an open order and its owner; sometimes another
    account, a finished order or an id never given."""
    mode = draw(_target_modes)
    if sim is not None and sim.orders and mode != "any":
        open_ids = list(sim.orders)
        order = sim.orders[open_ids[draw(_indexes) % len(open_ids)]]
        account = order.account.account_id
        if mode == "other":
            account = (account - 1 + draw(_other_account_offsets)) % len(ACCOUNTS) + 1
        return account, order.order_id
    return draw(_accounts), draw(_indexes) % (id_bound + 2)


def _step(draw: st.DrawFn, ts: int, sim: Engine | None, places: int) -> AnyCommand:
    """One command at `ts`, after `places` placements."""
    kind = draw(_step_kinds)
    if kind == "place":
        return _place(draw, ts, places + 1)
    id_bound = places + places // 4 + 1  # bracket children take ids too
    if kind == "cancel":
        account, order_id = _target(draw, sim, id_bound)
        return CancelOrder(ts=ts, account_id=account, order_id=order_id)
    if kind == "amend":
        account, order_id = _target(draw, sim, id_bound)
        change = draw(_amend_changes)
        return AmendOrder(
            ts=ts, account_id=account, order_id=order_id,
            quantity=draw(_amend_quantities) if change in ("quantity", "both") else None,
            price=draw(PRICES) if change in ("price", "both") else None,
        )
    if kind == "cancel_all":
        return CancelAllOrders(ts=ts, account_id=draw(_accounts), symbol=draw(_cancel_all_symbols))
    if kind == "expire":
        return ExpireOrders(ts=ts)
    if kind == "status":
        return draw(_statuses)(ts=ts, symbol=draw(_symbols))
    if kind == "round":
        end = draw(_round_ends)
        return StartRound(
            ts=ts, name="r", balances=draw(_round_balances),
            account_ids=tuple(draw(_round_accounts)), end=ts + end if end else 0,
        )
    transfer = draw(_transfers)
    asset = draw(_assets)
    return transfer(
        ts=ts, account_id=draw(_accounts), asset=asset, amount=draw(_transfer_amounts[asset]),
        transfer_id=draw(_transfer_ids),
    )


@st.composite
def command_sequences(draw: st.DrawFn, max_steps: int = 64) -> list[AnyCommand]:
    """A whole scenario: setup, opening deposits, then up to `max_steps` random commands."""
    funding = {(account, asset): _RICH[asset] for account in ACCOUNTS for asset in ASSETS}
    if draw(_one_in_2):  # some poor balances
        for key in funding:
            if draw(_poor):
                funding[key] = draw(_poor_amounts[key[1]])
    commands = setup_commands(funding)
    sim: Engine | None = new_engine()
    try:
        assert sim is not None
        sim.process(commands)
    except Exception:
        sim = None  # the tests will meet the same error and report it
    ts = 1
    places = 0
    for _ in range(draw(st.integers(1, max_steps))):
        ts += draw(_time_steps)
        command = _step(draw, ts, sim, places)
        places += isinstance(command, PlaceOrder)
        commands.append(command)
        if sim is not None:
            try:
                sim.handle(command)
            except Exception:
                sim = None
    return commands


# -- THE DIFFERENTIAL TEST'S WORLD --

PLAIN_SYMBOL = "XYZ-USD"
PLAIN_INSTRUMENT = AddInstrument(
    symbol=PLAIN_SYMBOL, base="XYZ", quote="USD", tick_size=Decimal("1"),
    lot_size=Decimal("1"),
)
PLAIN_ACCOUNTS = (1, 2, 3)
PLAIN_STP = (SelfTradePrevention.NONE, SelfTradePrevention.CANCEL_NEWEST)


def plain_setup() -> list[AnyCommand]:
    """The instrument (no fees) and three accounts funded far beyond any order."""
    commands: list[AnyCommand] = [PLAIN_INSTRUMENT]
    for account in PLAIN_ACCOUNTS:
        commands.append(CreateAccount())
        commands.append(Deposit(account_id=account, asset="XYZ", amount=10**30))
        commands.append(Deposit(account_id=account, asset="USD", amount=10**30))
    return commands


_plain_kinds = _weighted(("limit", 6), ("market", 2), ("cancel", 2))
_plain_accounts = st.sampled_from(PLAIN_ACCOUNTS)
_plain_stp = st.sampled_from(PLAIN_STP)
_plain_quantities = st.integers(1, 10)
_plain_limit_tif = _weighted((TimeInForce.GTC, 3), (TimeInForce.IOC, 1))
_one_in_9 = _weighted((False, 8), (True, 1))
_plain_time_steps = st.integers(0, 2)


# With triggers: stops and take-profits (market or limit) among the plain orders.
_trigger_kinds = _weighted(
    ("limit", 6), ("market", 2), ("cancel", 2), (OrderType.STOP_MARKET, 1),
    (OrderType.STOP_LIMIT, 1), (OrderType.TAKE_PROFIT_MARKET, 1),
    (OrderType.TAKE_PROFIT_LIMIT, 1),
)


def _plain_step(draw: st.DrawFn, ts: int, owners: list[int],
                kinds: st.SearchStrategy[Any] = _plain_kinds) -> AnyCommand:
    kind = draw(kinds)
    if kind == "cancel":
        if owners and not draw(_one_in_6):
            order_id = draw(_indexes) % len(owners) + 1
            account = owners[order_id - 1]
            if draw(_one_in_9):
                account = draw(_plain_accounts)
        else:
            order_id = draw(_indexes) % (len(owners) + 3)
            account = draw(_plain_accounts)
        return CancelOrder(ts=ts, account_id=account, order_id=order_id)
    account = draw(_plain_accounts)
    owners.append(account)  # every plain placement is accepted and gets the next id
    common: dict[str, Any] = {
        "ts": ts,
        "account_id": account,
        "symbol": PLAIN_SYMBOL,
        "side": draw(_sides),
        "quantity": draw(_plain_quantities),
        "self_trade_prevention": draw(_plain_stp),
    }
    if kind == "market":
        return PlaceOrder(type=OrderType.MARKET, time_in_force=draw(_market_tif), **common)
    if kind in TRIGGER_MARKETS:
        return PlaceOrder(type=kind, stop_price=draw(STOP_PRICES),
                          time_in_force=draw(_market_tif), **common)
    if kind in TRIGGER_LIMITS:
        return PlaceOrder(type=kind, stop_price=draw(STOP_PRICES), price=draw(PRICES),
                          time_in_force=draw(_plain_limit_tif), **common)
    return PlaceOrder(
        type=OrderType.LIMIT, price=draw(PRICES), time_in_force=draw(_plain_limit_tif), **common
    )


@st.composite
def plain_sequences(draw: st.DrawFn, max_steps: int = 80, *,
                    triggers: bool = False) -> list[AnyCommand]:
    """Plain limit, market and cancel commands, to follow `plain_setup()`; with `triggers`,
    stops and take-profits too."""
    kinds = _trigger_kinds if triggers else _plain_kinds
    owners: list[int] = []
    commands: list[AnyCommand] = []
    ts = 1
    for _ in range(draw(st.integers(1, max_steps))):
        ts += draw(_plain_time_steps)
        commands.append(_plain_step(draw, ts, owners, kinds))
    return commands


def trigger_sequences(max_steps: int = 80) -> st.SearchStrategy[list[AnyCommand]]:
    """`plain_sequences()` with stops and take-profits (market and limit, GTC or IOC) too."""
    return plain_sequences(max_steps, triggers=True)
