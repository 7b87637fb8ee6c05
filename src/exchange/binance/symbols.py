"""Binance's symbols: base and quote run together (`BTC-USD` is `BTCUSD`)."""

from __future__ import annotations

from collections.abc import Mapping

from exchange.binance.errors import BAD_SYMBOL, BinanceError, missing
from exchange.pipeline.readmodel import InstrumentView


def binance_symbol(inst: InstrumentView) -> str:
    return inst.base + inst.quote


def instrument_of(instruments: Mapping[str, InstrumentView], symbol: str | None
                  ) -> InstrumentView:
    """The instrument a Binance symbol names, or -1102 (none given) / -1121 (unknown)."""
    if not symbol:
        raise missing("symbol")
    for inst in instruments.values():
        if binance_symbol(inst) == symbol:
            return inst
    raise BinanceError(400, -1121, BAD_SYMBOL)
