"""`--demo`: instruments, funded accounts with published keys, and a demo admin token."""

from __future__ import annotations

import trio

from exchange.app.demo import ACCOUNTS, DEMO_ADMIN_TOKEN
from exchange.client import ExchangeClient
from web.support import start_exchange


async def test_a_demo_without_an_admin_token_gets_the_published_one(
        nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, demo=True, admin_token=None)
    async with ExchangeClient(running.url, admin_token=DEMO_ADMIN_TOKEN) as admin:
        created = await admin.create_account("sim")
        assert created["account_id"] > len(ACCOUNTS)
        symbols = {inst["symbol"] for inst in await admin.instruments()}
        assert symbols == {"BTC-USD", "ETH-USD"}
    async with ExchangeClient(running.url, api_key=ACCOUNTS[0][1]) as alice:
        balances = {b["asset"]: b["total"] for b in (await alice.account())["balances"]}
        assert balances["USD"] == "1000000"
    await running.admin.aclose()


async def test_a_configured_admin_token_is_kept(nursery: trio.Nursery) -> None:
    running = await start_exchange(nursery, demo=True)  # the tests' own token
    assert running.server.services.settings.admin_token != DEMO_ADMIN_TOKEN
    await running.admin.create_account("still-works")
    await running.admin.aclose()
