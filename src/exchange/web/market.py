"""Public market data: instruments, book, trades, ticker, candles (from the read model)."""

from __future__ import annotations

import time

from quart import Response
from quart_trio import QuartTrio

from exchange.pipeline.readmodel import InstrumentView
from exchange.web import render
from exchange.web.app import Services, json_response
from exchange.web.errors import ApiError
from exchange.web.params import (
    AFTER_TRADE,
    BEFORE_TRADE,
    CANDLE_LIMIT,
    DEPTH,
    END,
    INTERVAL,
    START,
    read_window,
)


def now_us() -> int:
    return time.time_ns() // 1000


def register(app: QuartTrio, services: Services) -> None:
    readmodel = services.readmodel

    def find(symbol: str) -> InstrumentView:
        inst = readmodel.instruments.get(symbol)
        if inst is None:
            raise ApiError(404, "not_found", f"no instrument {symbol[:40]!r}")
        return inst

    @app.get("/v1/time")
    async def server_time() -> Response:
        # The same instant twice: `ts` in the format of every other time of the API, and
        # `epoch_ms` for clock-offset arithmetic without parsing (and what Binance-style
        # bots expect).
        us = now_us()
        return json_response({"ts": render.time_us(us), "epoch_ms": us // 1000})

    @app.get("/v1/instruments")
    async def instruments() -> Response:
        return json_response(
            [render.instrument(inst) for inst in readmodel.instruments.values()]
        )

    @app.get("/v1/instruments/<symbol>")
    async def instrument(symbol: str) -> Response:
        return json_response(render.instrument(find(symbol)))

    @app.get("/v1/instruments/<symbol>/book")
    async def book(symbol: str) -> Response:
        inst = find(symbol)
        depth = DEPTH.count()
        bids, asks = inst.depth(depth)
        tick, lot = inst.tick_size, inst.lot_size
        dec = render.dec
        return json_response({
            "symbol": inst.symbol,
            "sequence": inst.sequence,
            "bids": [[dec(tick * p), dec(lot * q), n] for p, q, n in bids],
            "asks": [[dec(tick * p), dec(lot * q), n] for p, q, n in asks],
            "ts": render.time_us(now_us()),
        })

    @app.get("/v1/instruments/<symbol>/trades")
    async def trades(symbol: str) -> Response:
        inst = find(symbol)
        window = read_window(BEFORE_TRADE, AFTER_TRADE)
        return json_response(
            [render.trade(inst, item) for item in await services.history.trades(inst, window)]
        )

    @app.get("/v1/instruments/<symbol>/ticker")
    async def ticker(symbol: str) -> Response:
        inst = find(symbol)
        return json_response(render.ticker(inst, now_us(), inst.best_bid(), inst.best_ask(),
                                           inst.sequence))

    @app.get("/v1/instruments/<symbol>/candles")
    async def candles(symbol: str) -> Response:
        inst = find(symbol)
        interval = INTERVAL.read()
        start = START.read()
        end = END.read()
        limit = CANDLE_LIMIT.count()
        return json_response([
            render.candle(inst, c)
            for c in await services.history.candles(inst, interval, start, end, limit)
        ])
