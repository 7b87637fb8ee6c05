"""The `/sapi/v1` wallet and margin routes that ccxt's `load_markets` calls on Binance unless its
options say not to (`fetchCurrencies`, `fetchMargins`), so that a bot configured for Binance
with only its URLs changed loads the markets here too (freqtrade stops at "Could not load
markets" otherwise). They answer what a spot-only venue has: its assets, with no network to
deposit or withdraw through (transfers are the admin API's), and no margin pairs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quart import Response
from quart_trio import QuartTrio

from exchange.web.app import Services, json_response
from exchange.web.render import units


def register(app: QuartTrio, services: Services, signed: Callable[..., Any]) -> None:
    readmodel = services.readmodel

    @app.get("/sapi/v1/capital/config/getall")
    async def binance_all_coins() -> Response:
        account, _ = await signed()
        assets = {asset for inst in readmodel.instruments.values()
                  for asset in (inst.base, inst.quote)} | set(account.balances)
        coins: list[dict[str, Any]] = []
        for asset in sorted(assets):
            total, held = account.balances.get(asset) or (0, 0)
            coins.append({
                "coin": asset, "name": asset, "free": units(total - held),
                "locked": units(held), "freeze": "0", "withdrawing": "0", "ipoing": "0",
                "ipoable": "0", "storage": "0", "isLegalMoney": False, "trading": True,
                "depositAllEnable": False, "withdrawAllEnable": False, "networkList": [],
            })
        return json_response(coins)

    @app.get("/sapi/v1/margin/allPairs")
    @app.get("/sapi/v1/margin/isolated/allPairs")
    async def binance_margin_pairs() -> Response:
        await signed()
        return json_response([])  # spot only: nothing trades on margin here
