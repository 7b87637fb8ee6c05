"""The ccxt configuration that points an unmodified `ccxt.binance` at this server: printed by
`exchange accounts create --binance` and the demo, shown in the README (and tested there)."""

from __future__ import annotations

TEMPLATE = """\
import ccxt

BASE = "{base}"  # the server; WebSockets on the same port
exchange = ccxt.binance({{
    "apiKey": "{key}",
    "secret": "{secret}",
    "options": {{"defaultType": "spot", "fetchMarkets": {{"types": ["spot"]}},
                "fetchCurrencies": False, "fetchMargins": False,
                "fetchOpenOrders": {{"warnWithoutSymbol": False}}}},
}})
WS = BASE.replace("http", "ws", 1)
exchange.urls["api"] = {{
    "public": BASE + "/api/v3", "private": BASE + "/api/v3", "v1": BASE + "/api/v1",
    "sapi": BASE + "/sapi/v1",
    "ws": {{"spot": WS + "/ws", "ws-api": {{"spot": WS + "/ws-api/v3"}}}},
}}
print(exchange.fetch_balance()["total"])
"""


def ccxt_snippet(base: str, key: str, secret: str) -> str:
    return TEMPLATE.format(base=base.rstrip("/"), key=key, secret=secret)
