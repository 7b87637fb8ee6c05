"""`exchange bench peer`: the stream's translation onto the peer's API, checked against a
tiny fake of the peer's module (the real peer is not a dependency), and the clear line when
the peer is missing. The real peer runs too when it is installed (Python 3.12 or later)."""

import json
import sys
import textwrap

import pytest

from exchange.bench import engine as engine_bench
from exchange.bench import peer as peer_bench
from exchange.cli import main

# The shape of matching-engine 0.1.1's API that the adapter uses, nothing more: every order
# rests (no matching), a post-only order is always rejected, every command is logged.
FAKE_PEER = {
    "__init__.py": """
        import enum

        import msgspec

        __version__ = "0.0.fake"

        class Side(enum.StrEnum):
            BUY = "buy"
            SELL = "sell"

        class OrderType(enum.StrEnum):
            LIMIT = "limit"
            MARKET = "market"

        class TimeInForce(enum.StrEnum):
            GTC = "gtc"
            IOC = "ioc"
            FOK = "fok"

        class SelfTradePrevention(enum.StrEnum):
            NONE = "none"
            CANCEL_TAKER = "cancel_taker"
            CANCEL_MAKER = "cancel_maker"
            CANCEL_BOTH = "cancel_both"

        class NewOrder(msgspec.Struct, frozen=True):
            order_id: int
            account: int
            side: Side
            price: int
            qty: int
            order_type: OrderType = OrderType.LIMIT
            tif: TimeInForce = TimeInForce.GTC
            post_only: bool = False
            stp: SelfTradePrevention = SelfTradePrevention.CANCEL_TAKER

        class CancelOrder(msgspec.Struct, frozen=True):
            order_id: int
            account: int

        class SequencedCommand(msgspec.Struct, frozen=True):
            seq: int
            ts: int
            command: NewOrder | CancelOrder
    """,
    "events.py": """
        import msgspec

        class OrderAccepted(msgspec.Struct):
            order_id: int

        class OrderCancelled(msgspec.Struct):
            order_id: int

        class OrderRejected(msgspec.Struct):
            order_id: int

        class Trade(msgspec.Struct):
            trade_id: int
    """,
    "engine.py": """
        from matching_engine import CancelOrder, NewOrder
        from matching_engine.events import OrderAccepted, OrderCancelled, OrderRejected

        LOG = []

        class Resting:
            def __init__(self, order):
                self.side, self.price, self.remaining = order.side, order.price, order.qty

        class Book:
            def __init__(self):
                self.orders = {}

        class MatchingEngine:
            def __init__(self):
                self.book = Book()
                self.last_seq = 0

            def process(self, sc):
                assert sc.seq > self.last_seq
                self.last_seq = sc.seq
                LOG.append(sc)
                cmd = sc.command
                if type(cmd) is CancelOrder:
                    if self.book.orders.pop(cmd.order_id, None) is None:
                        return [OrderRejected(cmd.order_id)]
                    return [OrderCancelled(cmd.order_id)]
                assert type(cmd) is NewOrder
                if cmd.post_only or cmd.order_id in self.book.orders:
                    return [OrderRejected(cmd.order_id)]
                self.book.orders[cmd.order_id] = Resting(cmd)
                return [OrderAccepted(cmd.order_id)]
    """,
}

SETUP = [
    {"op": "add_instrument", "symbol": "X-USD", "base": "X", "quote": "USD",
     "tick_size": "0.01", "lot_size": "0.001"},
    {"op": "create_account"},
    {"op": "create_account"},
    {"op": "create_account"},
    *[{"op": "deposit", "account_id": account, "asset": asset, "amount": 10**15}
      for account in (1, 2) for asset in ("USD", "X")],
]
HEADER = {"format": "exchange-workload", "version": 1, "warmup": len(SETUP)}
TS = 1_700_000_000_000_000
STREAM = [
    # Our ids: 1, 2 (the stop), 3 (post-only: the fake peer refuses it), none (account 3
    # has no funds: we refuse it), 4.
    {"op": "place", "account_id": 1, "symbol": "X-USD", "side": "buy", "price": 90,
     "quantity": 10},
    {"op": "place", "account_id": 1, "symbol": "X-USD", "side": "buy", "type": "stop_market",
     "stop_price": 120, "quantity": 5},
    {"op": "place", "account_id": 2, "symbol": "X-USD", "side": "sell", "price": 110,
     "quantity": 4, "post_only": True},
    {"op": "place", "account_id": 3, "symbol": "X-USD", "side": "sell", "price": 112,
     "quantity": 1},
    {"op": "place", "account_id": 2, "symbol": "X-USD", "side": "sell", "price": 111,
     "quantity": 6, "time_in_force": "gtd", "expire_time": TS + 10**9},
    {"op": "cancel", "account_id": 2, "order_id": 4},
    {"op": "amend", "account_id": 1, "order_id": 1, "quantity": 4},
    {"op": "amend", "account_id": 1, "order_id": 1, "price": 89},
    {"op": "cancel", "account_id": 1, "order_id": 2},
]


@pytest.fixture
def fake_peer(tmp_path, monkeypatch):
    package = tmp_path / "fake" / "matching_engine"
    package.mkdir(parents=True)
    for name, source in FAKE_PEER.items():
        (package / name).write_text(textwrap.dedent(source))
    for name in [n for n in sys.modules if n.split(".")[0] == "matching_engine"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path / "fake"))
    yield peer_bench.load_peer()
    for name in [n for n in sys.modules if n.split(".")[0] == "matching_engine"]:
        del sys.modules[name]


def write_stream(path, lines, *, commands=None):
    header = {**HEADER, "commands": len(lines) if commands is None else commands}
    with open(path, "w") as out:
        for line in [header, *[{**line, "ts": TS} for line in [*SETUP, *lines]]]:
            out.write(json.dumps(line) + "\n")


def test_commands_are_translated_onto_the_peer_api(fake_peer, tmp_path) -> None:
    path = tmp_path / "stream.jsonl"
    write_stream(path, STREAM)
    result = peer_bench.measure(workload_file=str(path))
    p = fake_peer
    log = [(sc.seq, sc.ts, sc.command) for sc in fake_peer.engine.LOG]
    ts = TS * 1000
    assert log == [
        (1, ts, p.NewOrder(1, 1, p.Side.BUY, 90, 10, p.OrderType.LIMIT, p.TimeInForce.GTC,
                           False, p.SelfTradePrevention.CANCEL_TAKER)),
        # The stop (our 2) is not sent; the post-only order is, and the fake refuses it.
        (2, ts, p.NewOrder(3, 2, p.Side.SELL, 110, 4, p.OrderType.LIMIT, p.TimeInForce.GTC,
                           True, p.SelfTradePrevention.CANCEL_TAKER)),
        # The order we refused goes under an id nothing refers to (minus its placement's rank).
        (3, ts, p.NewOrder(-4, 3, p.Side.SELL, 112, 1, p.OrderType.LIMIT, p.TimeInForce.GTC,
                           False, p.SelfTradePrevention.CANCEL_TAKER)),
        # GTD rests as GTC.
        (4, ts, p.NewOrder(4, 2, p.Side.SELL, 111, 6, p.OrderType.LIMIT, p.TimeInForce.GTC,
                           False, p.SelfTradePrevention.CANCEL_TAKER)),
        (5, ts, p.CancelOrder(4, 2)),
        # An amend is a cancel and a new order with the new total, then with the new price.
        (6, ts, p.CancelOrder(1, 1)),
        (7, ts, p.NewOrder(1, 1, p.Side.BUY, 90, 4)),
        (8, ts, p.CancelOrder(1, 1)),
        (9, ts, p.NewOrder(1, 1, p.Side.BUY, 89, 4)),
        # A cancel of the stop: the peer never had it, and rejects it as unknown.
        (10, ts, p.CancelOrder(2, 1)),
    ]
    assert result["commands"] == 9
    assert (result["sent"], result["skipped"], result["amends"]) == (8, 1, 2)
    assert result["rejects"] == 2
    assert result["open_orders"] == 2
    assert result["peer_version"] == "0.0.fake"


def test_an_amend_after_a_partial_fill_keeps_what_was_filled(fake_peer, tmp_path) -> None:
    adapter = peer_bench.Adapter(fake_peer, iter([1]))
    place = peer_bench.PlaceOrder(ts=TS, account_id=7, symbol="X-USD", side="buy", price=90,
                                  quantity=10)
    adapter.run(adapter.prepare(place))
    adapter.engines["X-USD"].book.orders[1].remaining = 7  # 3 filled
    amend = peer_bench.AmendOrder(ts=TS, account_id=7, order_id=1, quantity=5)
    adapter.run(adapter.prepare(amend))
    assert fake_peer.engine.LOG[-1].command.qty == 2  # a total of 5, 3 of them filled


def test_the_cli_prints_a_table_and_json(fake_peer, tmp_path, capsys) -> None:
    path = tmp_path / "stream.jsonl"
    write_stream(path, STREAM)
    assert main(["bench", "peer", "--workload-file", str(path), "--json",
                 "--no-progress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "commands/s" in lines[2]
    assert json.loads(lines[-1])["bench"] == "peer"


def test_a_missing_peer_is_one_clear_line(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "matching_engine", None)  # import raises ImportError
    path = tmp_path / "stream.jsonl"
    write_stream(path, STREAM)
    assert main(["bench", "peer", "--workload-file", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"exchange bench peer: {peer_bench.NOT_INSTALLED}"]
    assert "pip install matching-engine==0.1.1" in err


def test_a_peer_on_too_old_a_python_is_one_clear_line(tmp_path, monkeypatch, capsys) -> None:
    package = tmp_path / "old" / "matching_engine"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("type Command = int | str\n" if sys.version_info < (3, 12)
                                         else "raise SyntaxError('3.12 syntax')\n")
    for name in [n for n in sys.modules if n.split(".")[0] == "matching_engine"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(str(tmp_path / "old"))
    path = tmp_path / "stream.jsonl"
    write_stream(path, STREAM)
    assert main(["bench", "peer", "--workload-file", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "matching-engine needs Python 3.12 or later" in err[0]


def test_a_short_file_is_one_clear_line(fake_peer, tmp_path, capsys) -> None:
    path = tmp_path / "stream.jsonl"
    write_stream(path, STREAM, commands=50)
    assert main(["bench", "peer", "--workload-file", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"exchange bench peer: {path}: ends before the 50 commands its header "
                   "announces"]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="the peer needs Python 3.12")
def test_the_real_peer_replays_a_recorded_stream(tmp_path) -> None:
    pytest.importorskip("matching_engine.engine", reason="matching-engine is not installed")
    path = tmp_path / "mixed.jsonl"
    ours = engine_bench.measure(commands=3000, seed=3, record=str(path))
    peer = peer_bench.measure(workload_file=str(path))
    assert peer["commands"] == 3000
    assert peer["sent"] + peer["skipped"] == 3000
    # Stops and amends aside the books agree, so the trades do too, nearly, and every cancel
    # finds its order (but those of stops, and of orders the peer filled where we did not).
    assert abs(peer["trades"] - ours["trades"]) < ours["trades"] // 10
    assert peer["rejects"] < 3000 // 20
