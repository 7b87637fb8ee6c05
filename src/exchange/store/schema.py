"""The database schema: SQLAlchemy Core tables on one `MetaData`, for PostgreSQL and SQLite.

Values are the engine's integers, stored exactly: prices in ticks and quantities in lots of
their instrument (BIGINT), asset amounts in units of 10**-12 and fee numerators as
`ExactInt` (NUMERIC(38,0); text on SQLite, whose NUMERIC silently turns integers beyond
64 bits into floats). Times are integer microseconds since the epoch, as the engine's `ts`.
Decimal conversion happens at the API edge, never here. Nothing is a float.

There are no foreign keys: the writer is the only writer, it derives every row from the
engine's events, and key checks on each insert would cost the group commit for nothing.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class ExactInt(TypeDecorator[int]):
    """An integer of up to 38 digits: NUMERIC(38,0), or text on SQLite."""

    impl = Numeric(38, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(38, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal of instrument definitions (tick size, fee rate): NUMERIC(38,18), or text on
    SQLite, so `Decimal("0.01")` comes back as it went in."""

    impl = Numeric(38, 18)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(48))
        return dialect.type_descriptor(Numeric(38, 18))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value).normalize()


# A 64-bit id; on SQLite the plain INTEGER primary key is the rowid (no second index), and
# only it autoincrements.
Id = BigInteger().with_variant(Integer(), "sqlite")

OPEN_STATUSES = ("pending", "new", "partially_filled")
OPEN_ORDER = text("status IN ('pending', 'new', 'partially_filled')")

# -- REFERENCE DATA --

instruments = Table(
    "instruments",
    metadata,
    Column("symbol", String(32), primary_key=True),
    Column("base", String(16), nullable=False),
    Column("quote", String(16), nullable=False),
    Column("tick_size", ExactDecimal(), nullable=False),
    Column("lot_size", ExactDecimal(), nullable=False),
    Column("min_quantity", BigInteger, nullable=False),  # lots
    Column("maker_fee_rate", ExactDecimal(), nullable=False),
    Column("taker_fee_rate", ExactDecimal(), nullable=False),
    Column("halted", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Filters, 0 for none (rows from before them, migration 0007, have none).
    Column("min_notional", ExactInt(), nullable=False, server_default=text("'0'")),  # units
    Column("max_quantity", BigInteger, nullable=False, server_default=text("0")),  # lots
)

accounts = Table(
    "accounts",
    metadata,
    Column("account_id", Id, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=True),
    # `<key_id>.<secret>` keys: only the id and a hash of the secret are ever stored.
    Column("api_key_id", String(64), nullable=True, unique=True),
    Column("api_key_hash", String(255), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # A house account provides liquidity (the simulator's bots): off every leaderboard.
    Column("house", Boolean, nullable=False, server_default=false()),
)

# -- COMPETITIONS --

# One row per round; its reset (cancels, transfers) is in the same transaction. Starting
# balances are JSON `{asset: units}` (units as strings: exact), account ids a JSON list.
rounds = Table(
    "rounds",
    metadata,
    Column("round_id", Id, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("starting_balances", Text, nullable=False),
    Column("account_ids", Text, nullable=False),
    Column("start_ts", BigInteger, nullable=False),  # 0: none
    Column("end_ts", BigInteger, nullable=False),  # 0: none
    Column("first_trade_id", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# An account's standing in a symbol since its round began (`exchange.store.standings`):
# written by the writer as trades happen, read back at start instead of every trade. Cost
# and realized PnL are fractions (ticks x lots) under average cost: numerator, denominator,
# as decimal text, which holds any size (a fraction's terms can outgrow NUMERIC(38)).
standings = Table(
    "standings",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("symbol", String(32), primary_key=True),
    Column("quantity", BigInteger, nullable=False),  # signed lots
    Column("cost_num", Text, nullable=False),
    Column("cost_den", Text, nullable=False),
    Column("realized_num", Text, nullable=False),
    Column("realized_den", Text, nullable=False),
    Column("fees", ExactInt(), nullable=False),  # units of the symbol's quote
    Column("trades", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Keys for the Binance-compatible surface (`exchange.binance`), beside an account's `/v1`
# bearer key: an HMAC key keeps its secret encrypted with the server key (a Fernet token,
# never the secret itself); an Ed25519 key keeps only its public key (PEM). Revoked keys stay,
# with the time they were revoked.
api_keys = Table(
    "api_keys",
    metadata,
    Column("api_key", String(64), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("kind", String(8), nullable=False),  # hmac | ed25519
    Column("secret", Text, nullable=True),
    Column("public_key", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Index("ix_api_keys_account_id", "account_id"),
)

# -- MONEY --

balances = Table(
    "balances",
    metadata,
    Column("account_id", BigInteger, primary_key=True, autoincrement=False),
    Column("asset", String(16), primary_key=True),
    Column("total", ExactInt(), nullable=False),
    Column("held", ExactInt(), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Half-empty pages let PostgreSQL update a balance in place without touching its index
    # (a HOT update): balances are few and rewritten in nearly every transaction.
    postgresql_with={"fillfactor": 50},
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account_id", BigInteger, nullable=False),
    Column("asset", String(16), nullable=False),
    Column("kind", String(16), nullable=False),  # deposit | withdrawal
    Column("amount", ExactInt(), nullable=False),  # positive units
    Column("transfer_id", String(64), nullable=True),  # idempotency key, unique per account
    Column("ts", BigInteger, nullable=False),
    UniqueConstraint("account_id", "transfer_id"),
)

# -- TRADING --

orders = Table(
    "orders",
    metadata,
    Column("order_id", Id, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(8), nullable=False),
    Column("type", String(24), nullable=False),  # up to take_profit_market
    Column("time_in_force", String(8), nullable=False),
    Column("post_only", Boolean, nullable=False),
    Column("self_trade_prevention", String(16), nullable=False),
    Column("client_order_id", String(36), nullable=True),
    Column("price", BigInteger, nullable=True),  # ticks; the current (amended) price
    Column("stop_price", BigInteger, nullable=True),
    Column("quantity", BigInteger, nullable=True),  # lots; the current (amended) total
    Column("quote_quantity", ExactInt(), nullable=True),
    Column("expire_time", BigInteger, nullable=True),
    Column("take_profit_price", BigInteger, nullable=True),
    Column("stop_loss_price", BigInteger, nullable=True),
    Column("parent_order_id", BigInteger, nullable=True),
    # The other half of a live bracket pair (they share one hold); cleared when one ends.
    Column("sibling_order_id", BigInteger, nullable=True),
    Column("status", String(20), nullable=False),
    Column("close_reason", String(32), nullable=True),
    Column("filled_quantity", BigInteger, nullable=False),
    # Sum of price x quantity over fills (ticks x lots): average price = notional / filled.
    Column("notional", ExactInt(), nullable=False),
    Column("fee", ExactInt(), nullable=False),  # quote units charged so far
    # Sum of fill notional x fee rate (ticks x lots x 10**-8): the engine's unrounded fee.
    Column("fee_num", ExactInt(), nullable=False),
    # Time priority: a recovered book sorts every level by it.
    Column("priority", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # The price and quantity as placed (`price`, `quantity` follow amends): an idempotent
    # repeat of the POST is compared with the request as it was.
    Column("placed_price", BigInteger, nullable=True),
    Column("placed_quantity", BigInteger, nullable=True),
    # An account's orders newest first (order ids rise with time); its open ones (and
    # recovery's) from the partial index, which holds only open and pending orders.
    Index("ix_orders_account_id_order_id", "account_id", "order_id"),
    Index(
        "ix_orders_open",
        "account_id",
        "order_id",
        postgresql_where=OPEN_ORDER,
        sqlite_where=OPEN_ORDER,
    ),
    Index(
        "ix_orders_client_order_id",
        "account_id",
        "client_order_id",
        postgresql_where=text("client_order_id IS NOT NULL"),
        sqlite_where=text("client_order_id IS NOT NULL"),
    ),
)

trades = Table(
    "trades",
    metadata,
    Column("trade_id", Id, primary_key=True, autoincrement=False),
    Column("symbol", String(32), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("taker_side", String(8), nullable=False),
    Column("maker_order_id", BigInteger, nullable=False),
    Column("taker_order_id", BigInteger, nullable=False),
    Column("maker_account_id", BigInteger, nullable=False),
    Column("taker_account_id", BigInteger, nullable=False),
    Column("maker_fee", ExactInt(), nullable=False),  # quote units
    Column("taker_fee", ExactInt(), nullable=False),
    Column("ts", BigInteger, nullable=False),
    # Trade ids rise with time, so (symbol, trade_id) serves "a symbol's trades by time" and
    # the API's `before=<trade_id>` paging; fills are per account, newest first; an order's
    # fills (`GET /v1/fills?order_id=` of an order closed long ago) by its id on either
    # side. Every index costs each insert: no more than these.
    Index("ix_trades_symbol_trade_id", "symbol", "trade_id"),
    Index("ix_trades_maker_account_id_trade_id", "maker_account_id", "trade_id"),
    Index("ix_trades_taker_account_id_trade_id", "taker_account_id", "trade_id"),
    Index("ix_trades_maker_order_id", "maker_order_id"),
    Index("ix_trades_taker_order_id", "taker_order_id"),
)

# -- ENGINE COUNTERS --

# Named integers the engine resumes from: next ids, the priority counter, each symbol's book
# sequence (`sequence:<symbol>`) and last trade price (`last_price:<symbol>`), and the
# writer's own `writes` (transactions committed) and `batches` (batches made durable).
counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
