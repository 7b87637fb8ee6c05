"""Competitions: rounds (admin), the admin's view of accounts, and the public leaderboard.

A round is one engine command (`StartRound`): its cancels, transfers and row are one batch
and one transaction, so a crash leaves it done or not done. The leaderboard is computed from
the read model by `exchange.web.leaderboard`, as the `leaderboard.<round>` channel is.
"""

from __future__ import annotations

import time
from typing import Any

from quart import Response, request
from quart_trio import QuartTrio

from exchange.engine.commands import SetHouse, StartRound
from exchange.engine.events import RoundStarted
from exchange.engine.units import to_units
from exchange.pipeline.history import Window
from exchange.pipeline.readmodel import AccountView, RoundView
from exchange.web import leaderboard, render
from exchange.web.admin import MAX_DEPOSIT_UNITS, _refusal
from exchange.web.app import Services, json_response, request_body
from exchange.web.auth import authorize_admin
from exchange.web.errors import ApiError, invalid
from exchange.web.models import AccountFlagsBody, StartRoundBody, parse_body
from exchange.web.params import ACCOUNT_LIMIT, AFTER_ACCOUNT, ASSET, ROUND

RECENT_FILLS = 50
_ASSET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def now_us() -> int:
    return time.time_ns() // 1000


def render_round(view: RoundView, now: int) -> dict[str, Any]:
    if view.start and now < view.start:
        status = "scheduled"
    elif view.end and now >= view.end:
        status = "ended"
    else:
        status = "running"
    return {
        "round_id": view.round_id,
        "name": view.name,
        "starting_balances": {asset: render.units(units)
                              for asset, units in sorted(view.balances.items())},
        "accounts": list(view.account_ids),
        "start": render.time_us(view.start) if view.start else None,
        "end": render.time_us(view.end) if view.end else None,
        "status": status,
        "first_trade_id": view.first_trade_id,
        "created_at": render.time_us(view.ts),
    }


def register(app: QuartTrio, services: Services) -> None:
    readmodel = services.readmodel
    settings = services.settings
    timeout = settings.request_timeout

    def admin() -> None:
        authorize_admin(readmodel, settings.admin_token, request.headers.get("Authorization"))

    def find_account(account_id: int) -> AccountView:
        view = readmodel.accounts.get(account_id)
        if view is None:
            raise ApiError(404, "not_found", f"no account {account_id}")
        return view

    def find_round(round_id: int) -> RoundView:
        view = readmodel.rounds.get(round_id)
        if view is None:
            raise ApiError(404, "not_found", f"no round {round_id}")
        return view

    def summary(view: AccountView) -> dict[str, Any]:
        return {
            "account_id": view.account_id,
            "name": view.name,
            "house": view.house,
            "round_id": view.round_id or None,
            "balances": render.balances(view),
            "open_orders": len(view.open_ids),
        }

    # -- ROUNDS --

    @app.post("/v1/admin/rounds")
    async def start_round() -> Response:
        admin()
        body = parse_body(StartRoundBody, await request_body())
        known = {inst.base for inst in readmodel.instruments.values()}
        known |= {inst.quote for inst in readmodel.instruments.values()}
        balances: dict[str, int] = {}
        for asset, amount in body.starting_balances.items():
            units = to_units(amount)
            if units is None or units > MAX_DEPOSIT_UNITS:
                raise invalid("a starting balance must have at most 12 decimals and be below "
                              "10^15", f"$.starting_balances.{asset}")
            if asset not in known:
                raise ApiError(422, "unknown_asset",
                               f"no instrument trades {asset}: it cannot be a starting balance")
            balances[asset] = units
        account_ids: tuple[int, ...] = ()
        if body.accounts != "all":
            for account_id in body.accounts:
                if account_id == 0 or account_id not in readmodel.accounts:
                    raise ApiError(404, "not_found", f"no account {account_id}")
            account_ids = tuple(body.accounts)
        start = 0 if body.start is None else render.us_of(body.start)
        end = 0 if body.end is None else render.us_of(body.end)
        if end and end <= now_us():
            raise invalid("end must be in the future", "$.end")
        events = await services.engine().execute(
            StartRound(name=body.name, balances=balances, account_ids=account_ids,
                       start=start, end=end),
            deadline=timeout,
        )
        reason = _refusal(events)
        if reason is not None:
            raise ApiError.rejected(reason)
        started = next(e for e in events if type(e) is RoundStarted)
        assert isinstance(started, RoundStarted)
        return json_response(render_round(readmodel.rounds[started.round_id], now_us()), 201)

    @app.get("/v1/admin/rounds")
    async def list_rounds() -> Response:
        admin()
        now = now_us()
        return json_response([render_round(view, now)
                              for _, view in sorted(readmodel.rounds.items())])

    @app.get("/v1/admin/rounds/<int:round_id>")
    async def get_round(round_id: int) -> Response:
        admin()
        return json_response(render_round(find_round(round_id), now_us()))

    # -- ACCOUNTS --

    @app.get("/v1/admin/accounts")
    async def list_accounts() -> Response:
        admin()
        limit = ACCOUNT_LIMIT.count()
        after = AFTER_ACCOUNT.read()
        ids = sorted(i for i in readmodel.accounts if after is None or i > after)
        page = ids[:limit]
        return json_response({
            "accounts": [summary(readmodel.accounts[i]) for i in page],
            "next_after": page[-1] if len(ids) > limit else None,
        })

    @app.get("/v1/admin/accounts/<int:account_id>")
    async def get_account(account_id: int) -> Response:
        admin()
        view = find_account(account_id)
        instruments = readmodel.instruments
        out = summary(view)
        del out["open_orders"]
        out["positions"] = [
            render.position(instruments[symbol], symbol, position)
            for symbol, position in sorted(view.positions.items())
        ]
        out["open_orders"] = [
            render.order(instruments[order.symbol], order)
            for order in await services.history.orders(
                view, None, "open", Window(limit=len(view.open_ids) or 1))
        ]
        fills = [render.fill(instruments[item.symbol], item)
                 for item in await services.history.fills(view, None, None,
                                                          Window(limit=RECENT_FILLS))]
        out["recent_fills"] = fills
        return json_response(out)

    @app.patch("/v1/admin/accounts/<int:account_id>")
    async def set_flags(account_id: int) -> Response:
        admin()
        body = parse_body(AccountFlagsBody, await request_body())
        if account_id == 0:
            raise ApiError(404, "not_found", "the fee account has no flags")
        find_account(account_id)
        events = await services.engine().execute(
            SetHouse(account_id=account_id, house=body.house), deadline=timeout
        )
        reason = _refusal(events)
        if reason is not None:
            raise ApiError.rejected(reason)
        return json_response(summary(readmodel.accounts[account_id]))

    # -- THE LEADERBOARD (public) --

    @app.get("/v1/leaderboard")
    async def get_leaderboard() -> Response:
        round_id = ROUND.read()
        if round_id is None:
            if not readmodel.rounds:
                raise ApiError(404, "not_found", "no round has started")
            round_id = max(readmodel.rounds)
        view = find_round(round_id)
        asset = ASSET.read() or "USD"
        if not set(asset) <= _ASSET_CHARS:
            raise invalid("asset must be letters and digits, like USD", "$.asset")
        return json_response(leaderboard.snapshot(readmodel, view, asset))
