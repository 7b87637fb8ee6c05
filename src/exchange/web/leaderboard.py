"""Leaderboards: a round's accounts ranked by equity marked to market in a reference asset.

Pure functions over the read model (no I/O, no clock: callers pass `now`), so the REST
route, the `leaderboard.<round>` channel and the drawdown sampler agree to the last digit.

- The mark of an asset is the mid of the instrument that quotes it in the reference asset
  (`<asset>-<reference>`), or its last trade price when a side of the book is empty, or none
  (the asset then counts as zero, and the answer says so).
- Equity is every balance (held included: it is still the account's) times its mark.
- PnL is equity now minus the round's starting balances valued at the same marks: what
  trading gained over holding the starting balances, zero right after the reset.
- Fees paid and trades count from the round's first trade on (`AccountView.epoch`).
- Max drawdown is the largest fall of equity from its running peak over the samples
  `sample` takes (once a minute in the server); two numbers per account, however long the
  round runs.

Figures are exact decimals: unit amounts times decimal prices, in a 60-digit context that
no product of a stored amount and a price can exceed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

from exchange.engine.units import ASSET_UNIT
from exchange.pipeline.readmodel import AccountView, ReadModel, RoundView
from exchange.web import render

_EXACT = Context(prec=60)
_TWO = Decimal(2)


@dataclass(frozen=True, slots=True)
class Mark:
    price: Decimal | None  # in the reference asset; None: no price known
    source: str  # "mid", "last" or "none"
    symbol: str | None  # the instrument it comes from


@dataclass(frozen=True, slots=True)
class Standing:
    account_id: int
    name: str | None
    equity: Decimal
    starting_equity: Decimal
    fees: dict[str, int]  # asset -> units since the round started
    trades: int
    max_drawdown: Decimal | None  # None: not sampled yet


def mark(model: ReadModel, asset: str, reference: str) -> Mark:
    """What one unit of `asset` is worth in `reference`, and where that comes from."""
    for symbol in sorted(model.instruments):
        inst = model.instruments[symbol]
        if inst.base != asset or inst.quote != reference:
            continue
        bid, ask = inst.best_bid(), inst.best_ask()
        if bid is not None and ask is not None:
            mid = _EXACT.divide(_EXACT.multiply(Decimal(bid + ask), inst.tick_size), _TWO)
            return Mark(mid, "mid", symbol)
        if inst.last_price is not None:
            return Mark(_EXACT.multiply(Decimal(inst.last_price), inst.tick_size), "last",
                        symbol)
        return Mark(None, "none", symbol)
    return Mark(None, "none", None)


def marks(model: ReadModel, assets: Iterable[str], reference: str) -> dict[str, Mark]:
    return {asset: mark(model, asset, reference) for asset in sorted(set(assets))
            if asset != reference}


def value(amounts: Mapping[str, int], prices: Mapping[str, Mark], reference: str) -> Decimal:
    """`amounts` (asset -> units) in the reference asset; an asset without a mark adds 0."""
    total = Decimal(0)
    for asset, units in amounts.items():
        if not units:
            continue
        amount = _EXACT.multiply(Decimal(units), ASSET_UNIT)
        if asset != reference:
            price = prices[asset].price
            if price is None:
                continue
            amount = _EXACT.multiply(amount, price)
        total = _EXACT.add(total, amount)
    return total


def members(model: ReadModel, view: RoundView) -> list[AccountView]:
    """The accounts the round ranks: those still in it (a later round moves an account on)
    that are not house accounts."""
    return [
        account for account in (model.accounts.get(i) for i in view.account_ids)
        if account is not None and not account.house and account.round_id == view.round_id
    ]


def _totals(account: AccountView) -> dict[str, int]:
    return {asset: total for asset, (total, _held) in account.balances.items()}


def standings(model: ReadModel, view: RoundView, reference: str
              ) -> tuple[list[Standing], dict[str, Mark]]:
    """The round's accounts best first (equity, then account id), and the marks used."""
    accounts = members(model, view)
    assets = set(view.balances)
    for account in accounts:
        assets.update(asset for asset, (total, _held) in account.balances.items() if total)
    prices = marks(model, assets, reference)
    starting = value(view.balances, prices, reference)
    sampled = view.drawdowns.get(reference, {})
    out = []
    for account in accounts:
        drawdown = sampled.get(account.account_id)
        out.append(Standing(
            account.account_id, account.name, value(_totals(account), prices, reference),
            starting, dict(account.fees), account.trades,
            None if drawdown is None else drawdown[1],
        ))
    out.sort(key=lambda item: (-item.equity, item.account_id))
    return out, prices


MAX_SAMPLED_ROUNDS = 16
"""Rounds the sampler follows: the newest ones (an older round's drawdowns stay as they
were when it dropped out)."""


def sample(model: ReadModel, now: int) -> None:
    """Takes one equity sample of every running round's accounts, in every asset that
    quotes an instrument, and updates their peaks and max drawdowns."""
    references = {inst.quote for inst in model.instruments.values()}
    running = [view for view in model.rounds.values()
               if view.start <= now and (not view.end or now < view.end)]
    for view in sorted(running, key=lambda v: v.round_id)[-MAX_SAMPLED_ROUNDS:]:
        for reference in sorted(references):
            found, _ = standings(model, view, reference)
            sampled = view.drawdowns.setdefault(reference, {})
            for item in found:
                state = sampled.get(item.account_id)
                if state is None:
                    sampled[item.account_id] = [item.equity, Decimal(0)]
                    continue
                if item.equity > state[0]:
                    state[0] = item.equity
                state[1] = max(state[1], _EXACT.subtract(state[0], item.equity))


def snapshot(model: ReadModel, view: RoundView, reference: str) -> dict[str, Any]:
    """The leaderboard as the API answers it (decimal strings, as `render` makes them)."""
    found, prices = standings(model, view, reference)
    entries = []
    for rank, item in enumerate(found, 1):
        entries.append({
            "rank": rank,
            "account_id": item.account_id,
            "name": item.name,
            "equity": render.dec(item.equity),
            "pnl": render.dec(_EXACT.subtract(item.equity, item.starting_equity)),
            "fees_paid": {asset: render.units(units)
                          for asset, units in sorted(item.fees.items())},
            "trades": item.trades,
            "max_drawdown": None if item.max_drawdown is None else render.dec(
                item.max_drawdown),
        })
    return {
        "round_id": view.round_id,
        "name": view.name,
        "asset": reference,
        "starting_equity": render.dec(value(view.balances, prices, reference)),
        "marks": {
            asset: {"price": None if m.price is None else render.dec(m.price),
                    "source": m.source, "symbol": m.symbol}
            for asset, m in prices.items()
        },
        "accounts": entries,
    }
