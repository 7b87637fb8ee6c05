"""The authenticated account: balances and positions."""

from __future__ import annotations

from quart import Response
from quart_trio import QuartTrio

from exchange.web import render
from exchange.web.app import Services, json_response, request_authorization
from exchange.web.auth import authenticate


def register(app: QuartTrio, services: Services) -> None:
    readmodel = services.readmodel

    @app.get("/v1/account")
    async def account() -> Response:
        view = authenticate(readmodel, request_authorization())
        return json_response({
            "account_id": view.account_id,
            "name": view.name,
            "balances": render.balances(view),
        })

    @app.get("/v1/positions")
    async def positions() -> Response:
        view = authenticate(readmodel, request_authorization())
        return json_response([
            render.position(readmodel.instruments[symbol], symbol, position)
            for symbol, position in sorted(view.positions.items())
        ])
