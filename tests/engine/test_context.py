"""The per-command context: a changed balance is listed once, in the order first changed."""

from exchange.engine.accounts import Balance
from exchange.engine.context import Context


def test_touch_lists_each_balance_once_in_first_change_order() -> None:
    ctx = Context(7)
    usd, btc = Balance(1, "USD"), Balance(1, "BTC")
    for bal in (usd, btc, usd):
        ctx.touch(bal)
    assert ctx.touched == [usd, btc]
    assert ctx.ts == 7
    assert ctx.events == []
    assert usd.dirty
    assert btc.dirty
