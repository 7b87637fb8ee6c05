"""`/api/v3`: the Binance Spot REST API over the read model (market data, the account).

Symbols are base and quote run together (`BTC-USD` is `BTCUSD`); decimals are strings, times
milliseconds. Signed endpoints verify the request first (`exchange.binance.signing`).
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from quart import Response, g, request
from quart_trio import QuartTrio

from exchange.binance import listenkey, orders, replace, sapi, usage
from exchange.binance.errors import bad_parameter
from exchange.binance.signing import (
    KEY_HEADER,
    api_key_of,
    is_digits,
    parameters,
    verify_request,
)
from exchange.binance.streams import agg_trade, aggregate
from exchange.binance.symbols import binance_symbol, instrument_of
from exchange.binance.tickers import ticker_24hr
from exchange.engine.events import TradeExecuted
from exchange.pipeline.candles import INTERVALS, Interval
from exchange.pipeline.history import Window
from exchange.pipeline.readmodel import AccountView, InstrumentView
from exchange.web.app import Services, json_response, request_body
from exchange.web.render import dec, units

PREFIX = "/api/v3"
_MAX_PRICE = "1000000000"
_MAX_QTY = "1000000000"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _filters(inst: InstrumentView) -> list[dict[str, Any]]:
    """The instrument's rules as Binance's filters. A market order by quantity is valued at
    the last trade price (Binance's `avgPriceMins` 0), one by `quoteOrderQty` at that amount;
    the maximum quantity bounds market orders by quantity too (`MARKET_LOT_SIZE`)."""
    tick, lot = dec(inst.tick_size), dec(inst.lot_size)
    min_qty = dec(inst.lot_size * inst.min_quantity)
    max_qty = dec(inst.lot_size * inst.max_quantity) if inst.max_quantity else _MAX_QTY
    return [
        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": _MAX_PRICE,
         "tickSize": tick},
        {"filterType": "LOT_SIZE", "minQty": min_qty, "maxQty": max_qty, "stepSize": lot},
        {"filterType": "MARKET_LOT_SIZE", "minQty": min_qty, "maxQty": max_qty,
         "stepSize": lot},
        {"filterType": "NOTIONAL", "minNotional": units(inst.min_notional),
         "applyMinToMarket": True, "maxNotional": "9000000000000000",
         "applyMaxToMarket": False, "avgPriceMins": 0},
    ]


def _precision(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 8


def kline_row(inst: InstrumentView, interval: Interval, c: list[int]) -> list[Any]:
    """A candle as `klines` lists it (no quote or taker volumes: "0")."""
    tick, lot = inst.tick_size, inst.lot_size
    return [c[0] // 1000, dec(tick * c[1]), dec(tick * c[2]), dec(tick * c[3]),
            dec(tick * c[4]), dec(lot * c[5]), interval.next(c[0]) // 1000 - 1, "0", c[6],
            "0", "0", "0"]


def trade_row(inst: InstrumentView, t: TradeExecuted) -> dict[str, Any]:
    tick, lot = inst.tick_size, inst.lot_size
    return {"id": t.trade_id, "price": dec(tick * t.price), "qty": dec(lot * t.quantity),
            "quoteQty": dec(tick * lot * t.price * t.quantity), "time": t.ts // 1000,
            "isBuyerMaker": t.taker_side == "sell", "isBestMatch": True}


def symbol_info(inst: InstrumentView) -> dict[str, Any]:
    return {
        "symbol": binance_symbol(inst),
        "status": "HALT" if inst.halted else "TRADING",
        "baseAsset": inst.base,
        "baseAssetPrecision": _precision(inst.lot_size),
        "quoteAsset": inst.quote,
        "quotePrecision": _precision(inst.tick_size),
        "quoteAssetPrecision": _precision(inst.tick_size),
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(orders.ORDER_TYPES),  # exactly those the order entry takes
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": _filters(inst),
        "permissions": ["SPOT"],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_TAKER",
        "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER",
                                            "EXPIRE_BOTH"],
    }


def account_info(account: AccountView, services: Services) -> dict[str, Any]:
    instruments = list(services.readmodel.instruments.values())
    maker = instruments[0].maker_fee_rate if instruments else Decimal(0)
    taker = instruments[0].taker_fee_rate if instruments else Decimal(0)
    return {
        "makerCommission": int(maker * 10_000), "takerCommission": int(taker * 10_000),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": dec(maker), "taker": dec(taker), "buyer": "0",
                            "seller": "0"},
        "canTrade": True, "canWithdraw": False, "canDeposit": False, "brokered": False,
        "requireSelfTradePrevention": False, "preventSor": False,
        "updateTime": now_ms(), "accountType": "SPOT",
        "balances": [{"asset": asset, "free": units(total - held), "locked": units(held)}
                     for asset, (total, held) in sorted(account.balances.items())],
        "permissions": ["SPOT"], "uid": account.account_id,
    }


def register(app: QuartTrio, services: Services) -> None:
    readmodel = services.readmodel

    def params() -> dict[str, str]:
        return parameters(request.query_string, b"")

    def instrument(symbol: str | None) -> InstrumentView:
        return instrument_of(readmodel.instruments, symbol)

    def selected(given: dict[str, str]) -> list[InstrumentView] | None:
        """`symbol=` or `symbols=["A","B"]`: those instruments; neither: None (all)."""
        if "symbol" in given:
            return [instrument(given["symbol"])]
        if "symbols" in given:
            try:
                names = json.loads(given["symbols"])
            except (ValueError, RecursionError):
                names = None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise bad_parameter("Illegal characters found in parameter 'symbols'.", -1100)
            return [instrument(name) for name in names]
        return None

    def count(given: dict[str, str], name: str, default: int, most: int) -> int:
        raw = given.get(name)
        if raw is None or raw == "":
            return default
        if not is_digits(raw, 10) or not 1 <= int(raw) <= most:
            raise bad_parameter(f"Illegal characters found in parameter '{name}'; legal "
                                f"range is '1..{most}'.", -1100)
        return int(raw)

    def millis(given: dict[str, str], name: str) -> int | None:
        raw = given.get(name)
        if raw is None or raw == "":
            return None
        if not is_digits(raw, 15):
            raise bad_parameter(f"Illegal characters found in parameter '{name}'.", -1100)
        return int(raw)

    async def signed() -> tuple[AccountView, dict[str, str]]:
        """The account that signed this request, and the request's parameters."""
        body = await request_body()  # python-binance sends a DELETE's parameters there
        key, given = verify_request(services.keys, request.headers.get(KEY_HEADER),
                                    request.query_string, body, now_ms())
        g.binance_account = key.account_id  # its order counts go in the answer's headers
        return readmodel.accounts[key.account_id], given

    @app.get(PREFIX + "/ping")
    async def binance_ping() -> Response:
        return json_response({})

    @app.get(PREFIX + "/time")
    async def binance_server_time() -> Response:
        return json_response({"serverTime": now_ms()})

    @app.get(PREFIX + "/exchangeInfo")
    async def binance_exchange_info() -> Response:
        chosen = selected(params())
        insts = list(readmodel.instruments.values()) if chosen is None else chosen
        return json_response({
            "timezone": "UTC", "serverTime": now_ms(),
            "rateLimits": [{"rateLimitType": "ORDERS", "interval": "SECOND",
                            "intervalNum": 1,
                            "limit": int(services.settings.rate_limit) or 1_000_000}],
            "exchangeFilters": [],
            "symbols": [symbol_info(inst) for inst in insts],
        })

    @app.get(PREFIX + "/depth")
    async def binance_depth() -> Response:
        given = params()
        inst = instrument(given.get("symbol"))
        limit = count(given, "limit", 100, 5000)
        bids, asks = inst.depth(limit)
        tick, lot = inst.tick_size, inst.lot_size
        return json_response({
            "lastUpdateId": inst.sequence,
            "bids": [[dec(tick * p), dec(lot * q)] for p, q, _ in bids],
            "asks": [[dec(tick * p), dec(lot * q)] for p, q, _ in asks],
        })

    @app.get(PREFIX + "/trades")
    async def binance_trades() -> Response:
        given = params()
        inst = instrument(given.get("symbol"))
        limit = count(given, "limit", 500, 1000)
        recent = await services.history.trades(inst, Window(limit=limit))
        recent.reverse()  # Binance lists them oldest first
        return json_response([trade_row(inst, t) for t in recent])

    @app.get(PREFIX + "/aggTrades")
    async def binance_agg_trades() -> Response:
        given = params()
        inst = instrument(given.get("symbol"))
        limit = count(given, "limit", 500, 1000)
        first, start, end = (millis(given, "fromId"), millis(given, "startTime"),
                             millis(given, "endTime"))
        if start is not None and end is not None and not 0 <= end - start <= 3_600_000:
            raise bad_parameter("startTime and endTime must be at most 1 hour apart.", -1127)
        # From `fromId` or `startTime` on: the oldest first (as Binance, for paging
        # forward); else the newest.
        forward = first is not None or start is not None
        window = Window(after=(first - 1 if first is not None else 0) if forward else None,
                        start=None if start is None else start * 1000,
                        end=None if end is None else end * 1000 + 1000,
                        limit=min(1000, 2 * limit + 1))
        trades = await services.history.trades(inst, window)
        trades.reverse()  # oldest first
        groups = aggregate(trades)
        # A group at the far edge of what was read may go on beyond it: cut it off, unless
        # the read reached the end there (fewer trades than asked for), or it is the only
        # one (then it is answered as far as it was read).
        if len(trades) == window.limit and len(groups) > 1:
            groups = groups[:-1] if forward else groups[1:]
        groups = groups[:limit] if forward else groups[-limit:]
        return json_response([agg_trade(inst, group) for group in groups])

    @app.get(PREFIX + "/klines")
    @app.get(PREFIX + "/uiKlines")
    async def binance_klines() -> Response:
        given = params()
        inst = instrument(given.get("symbol"))
        interval = given.get("interval")
        if interval is None:
            raise bad_parameter("Mandatory parameter 'interval' was not sent, was "
                                "empty/null, or malformed.")
        chosen = INTERVALS.get(interval)
        if chosen is None:
            raise bad_parameter("Invalid interval.", -1120)
        limit = count(given, "limit", 500, 1000)
        start, end = millis(given, "startTime"), millis(given, "endTime")
        # Klines are named by their open time: those opening in [startTime, endTime].
        first = None
        if start is not None:
            first = chosen.start(start * 1000)
            if first < start * 1000:
                first = chosen.next(first)
        candles = await services.history.candles(
            inst, interval, first, None if end is None else end * 1000 + 1, limit,
            oldest=start is not None)  # from startTime on, as Binance pages forward
        return json_response([kline_row(inst, chosen, c) for c in candles])

    @app.get(PREFIX + "/ticker/24hr")
    async def binance_ticker() -> Response:
        given = params()
        chosen = selected(given)
        now = time.time_ns() // 1000
        if chosen is not None and "symbol" in given:
            return json_response(ticker_24hr(chosen[0], now))
        insts = list(readmodel.instruments.values()) if chosen is None else chosen
        return json_response([ticker_24hr(inst, now) for inst in insts])

    @app.get(PREFIX + "/ticker/price")
    async def binance_price() -> Response:
        given = params()
        chosen = selected(given)
        insts = list(readmodel.instruments.values()) if chosen is None else chosen
        rows = [{"symbol": binance_symbol(inst),
                 "price": "0" if inst.last_price is None
                 else dec(inst.tick_size * inst.last_price)} for inst in insts]
        return json_response(rows[0] if "symbol" in given else rows)

    @app.get(PREFIX + "/ticker/bookTicker")
    async def binance_book_ticker() -> Response:
        given = params()
        chosen = selected(given)
        insts = list(readmodel.instruments.values()) if chosen is None else chosen
        rows = []
        for inst in insts:
            bid, ask = inst.best_bid(), inst.best_ask()
            tick, lot = inst.tick_size, inst.lot_size
            rows.append({
                "symbol": binance_symbol(inst),
                "bidPrice": "0" if bid is None else dec(tick * bid),
                "bidQty": "0" if bid is None else dec(lot * inst.bids[bid][0]),
                "askPrice": "0" if ask is None else dec(tick * ask),
                "askQty": "0" if ask is None else dec(lot * inst.asks[ask][0]),
            })
        return json_response(rows[0] if "symbol" in given else rows)

    @app.get(PREFIX + "/historicalTrades")
    async def binance_historical_trades() -> Response:
        api_key_of(services.keys, request.headers.get(KEY_HEADER))  # the key, no signature
        given = params()
        inst = instrument(given.get("symbol"))
        limit = count(given, "limit", 500, 1000)
        first = millis(given, "fromId")
        window = Window(after=None if first is None else first - 1, limit=limit)
        found = await services.history.trades(inst, window)
        found.reverse()
        return json_response([trade_row(inst, t) for t in found])

    @app.get(PREFIX + "/avgPrice")
    async def binance_avg_price() -> Response:
        inst = instrument(params().get("symbol"))
        now = time.time_ns() // 1000
        recent = [t for t in inst.trades if t.ts >= now - 300_000_000]
        lots = sum(t.quantity for t in recent)
        if lots:
            price = dec(inst.tick_size * Decimal(sum(t.price * t.quantity for t in recent))
                        / lots)
        else:
            price = "0" if inst.last_price is None else dec(inst.tick_size * inst.last_price)
        return json_response({"mins": 5, "price": price, "closeTime": now // 1000})

    @app.get(PREFIX + "/account/commission")
    async def binance_commission() -> Response:
        _, given = await signed()
        inst = instrument(given.get("symbol"))
        zero = {"maker": "0", "taker": "0", "buyer": "0", "seller": "0"}
        return json_response({
            "symbol": binance_symbol(inst),
            "standardCommission": {**zero, "maker": dec(inst.maker_fee_rate),
                                   "taker": dec(inst.taker_fee_rate)},
            "specialCommission": zero, "taxCommission": zero,
            "discount": {"enabledForAccount": False, "enabledForSymbol": False,
                         "discountAsset": "BNB", "discount": "0"},
        })

    @app.get(PREFIX + "/rateLimit/order")
    async def binance_order_rate() -> Response:
        account, _ = await signed()
        limiter = services.limiter
        state = limiter.headers(account.account_id)
        if not state:  # the rate limit is off
            return json_response([])
        limit = int(state["X-RateLimit-Limit"])
        return json_response([{
            "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1,
            "limit": limit, "count": limit - int(state["X-RateLimit-Remaining"]),
        }])

    @app.get("/sapi/v1/asset/tradeFee")
    async def binance_trade_fee() -> Response:
        _, given = await signed()
        chosen = selected(given)
        insts = list(readmodel.instruments.values()) if chosen is None else chosen
        return json_response([{"symbol": binance_symbol(inst),
                               "makerCommission": dec(inst.maker_fee_rate),
                               "takerCommission": dec(inst.taker_fee_rate)}
                              for inst in insts])

    @app.get("/sapi/v1/spot/delist-schedule")
    async def binance_delist_schedule() -> Response:
        await signed()
        return json_response([])  # nothing is ever delisted here

    @app.get(PREFIX + "/account")
    async def binance_account() -> Response:
        account, _ = await signed()
        return json_response(account_info(account, services))

    orders.register(app, services, signed)
    replace.register(app, services, signed)
    sapi.register(app, services, signed)
    listenkey.register(app, services)
    usage.register(app, services)
