"""`--demo`: two instruments and two funded accounts, created through the pipeline if absent.

The demo accounts have fixed, published API keys (printed at every start), so a demo
exchange restarted on the same database keeps working with the same keys. Never use
`--demo` on an exchange that holds anything of value.
"""

from __future__ import annotations

from decimal import Decimal

from exchange.engine.commands import AddInstrument, CreateAccount, Deposit
from exchange.engine.units import to_units
from exchange.pipeline.journal import AccountInfo
from exchange.web.app import Services
from exchange.web.auth import hash_secret, split_key

INSTRUMENTS = (
    ("BTC-USD", "BTC", "USD", Decimal("0.01"), Decimal("0.00001")),
    ("ETH-USD", "ETH", "USD", Decimal("0.01"), Decimal("0.0001")),
)
ACCOUNTS = (
    ("demo-alice", "demo-alice.alice-demo-secret-not-for-real-money"),
    ("demo-bob", "demo-bob.bob-demo-secret-not-for-real-money"),
)
# Their keys for the Binance-compatible surface (HMAC), published likewise.
BINANCE_KEYS = {
    "demo-alice": ("demoAliceBinanceKey", "demoAliceBinanceSecretNotForRealMoney"),
    "demo-bob": ("demoBobBinanceKey", "demoBobBinanceSecretNotForRealMoney"),
}
FUNDS = (("USD", Decimal(1_000_000)), ("BTC", Decimal(100)), ("ETH", Decimal(1_000)))
# The admin token of a demo started without one, so that `exchange simulate` can run
# against it; published like the demo keys.
DEMO_ADMIN_TOKEN = "demo-admin-token"


async def setup_demo(services: Services, *, echo: bool = True) -> dict[str, str]:
    """Creates what is missing and returns {account name: api key}."""
    sequencer = services.engine()
    readmodel = services.readmodel
    for symbol, base, quote, tick, lot in INSTRUMENTS:
        if symbol not in readmodel.instruments:
            await sequencer.execute(AddInstrument(
                symbol=symbol, base=base, quote=quote, tick_size=tick, lot_size=lot,
                maker_fee_rate=Decimal("0.001"), taker_fee_rate=Decimal("0.002"),
            ))
    keys = {}
    if echo and services.settings.admin_token == DEMO_ADMIN_TOKEN:
        print(f"demo admin token: {DEMO_ADMIN_TOKEN} (try: exchange simulate --admin-token "
              f"{DEMO_ADMIN_TOKEN})", flush=True)
    for name, api_key in ACCOUNTS:
        key_id, secret = split_key(api_key) or ("", "")
        account = readmodel.account_for_key(key_id)
        if account is None:
            events = await sequencer.execute(
                CreateAccount(), account=AccountInfo(0, name, key_id, hash_secret(secret))
            )
            account_id = events[0].account_id  # type: ignore[union-attr]
            for asset, amount in FUNDS:
                await sequencer.execute(Deposit(
                    account_id=account_id, asset=asset, amount=to_units(amount) or 0,
                    transfer_id=f"demo-{asset}",
                ))
            account = readmodel.account_for_key(key_id)
        keys[name] = api_key
        binance_key, binance_secret = BINANCE_KEYS[name]
        if services.keys.get(binance_key) is None and account is not None:
            await services.keys.add_hmac(account.account_id, binance_key, binance_secret)
        if echo:
            print(f"demo account {name}: api key {api_key}; Binance API key {binance_key} "
                  f"secret {binance_secret}", flush=True)
    return keys
