"""The Binance-compatible surface (`../shared/spec/binance.md`): the Binance Spot API's wire
format over the same engine, durability, accounts and rate limits as `/v1`, so that clients
written for Binance (ccxt, python-binance, freqtrade) trade here by changing their URLs.

Modules: `errors` (Binance's `{"code", "msg"}` envelope and how the venue's errors map to
it), `signing` (`X-MBX-APIKEY`, HMAC-SHA256 and Ed25519 signatures, `timestamp` and
`recvWindow`), `symbols` (`BTCUSD` for `BTC-USD`), `rest` (the `/api/v3` routes).
"""
