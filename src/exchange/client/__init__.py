"""A small async client for the exchange's REST API (httpx; works under Trio and asyncio).

    async with ExchangeClient("http://127.0.0.1:8000", api_key=key) as client:
        order = await client.place_order("BTC-USD", "buy", "limit", quantity="0.1",
                                         price="50000")

Every failure answered by the server raises `ExchangeError` with the contract's `code`
(`insufficient_funds`, `rate_limited`, ...), the HTTP `status` and `retry_after` when given.
Decimals are sent as strings; responses are the contract's JSON objects.
"""

from exchange.client.client import ExchangeClient, ExchangeError

__all__ = ["ExchangeClient", "ExchangeError"]
