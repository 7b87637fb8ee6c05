"""Clients for the exchange: REST (`ExchangeClient`, httpx; works under Trio and asyncio) and
WebSocket (`open_exchange_socket`, trio-websocket; Trio only).

    async with ExchangeClient("http://127.0.0.1:8000", api_key=key) as client:
        order = await client.place_order("BTC-USD", "buy", "limit", quantity="0.1",
                                         price="50000")

    async with open_exchange_socket("http://127.0.0.1:8000", api_key=key) as socket:
        order = await socket.place({"symbol": "BTC-USD", "side": "buy", "type": "limit",
                                    "quantity": "0.1", "price": "50000"})

    async with watch_book("http://127.0.0.1:8000", "BTC-USD") as watcher:
        watcher.book.bids()  # a LocalBook kept from snapshot plus updates

Every failure answered by the server raises `ExchangeError` with the contract's `code`
(`insufficient_funds`, `rate_limited`, ...), the HTTP `status` (for WebSocket errors, the
status REST gives that code) and `retry_after` when given. Decimals are sent as strings;
responses are the contract's JSON objects.
"""

from exchange.client.book import LocalBook, SequenceGap, levels_of
from exchange.client.client import ExchangeClient, ExchangeError
from exchange.client.socket import (
    ExchangeSocket,
    SocketClosed,
    open_exchange_socket,
    websocket_url,
)
from exchange.client.watch import BookWatcher, watch_book

__all__ = [
    "BookWatcher",
    "ExchangeClient",
    "ExchangeError",
    "ExchangeSocket",
    "LocalBook",
    "SequenceGap",
    "SocketClosed",
    "levels_of",
    "open_exchange_socket",
    "watch_book",
    "websocket_url",
]
