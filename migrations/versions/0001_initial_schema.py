"""Initial schema: instruments, accounts, balances, transfers, orders, trades, counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

Types are spelled out here rather than imported from `exchange.store.schema`, so that this
revision keeps creating the same tables whatever the code becomes: `ExactInt` is
NUMERIC(38,0) on PostgreSQL and VARCHAR(40) on SQLite, `ExactDecimal` NUMERIC(38,18) and
VARCHAR(48).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EXACT_INT = sa.Numeric(38, 0).with_variant(sa.String(40), "sqlite")
EXACT_DECIMAL = sa.Numeric(38, 18).with_variant(sa.String(48), "sqlite")
OPEN = sa.text("status IN ('pending', 'new', 'partially_filled')")
HAS_CLIENT_ID = sa.text("client_order_id IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "instruments",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("base", sa.String(16), nullable=False),
        sa.Column("quote", sa.String(16), nullable=False),
        sa.Column("tick_size", EXACT_DECIMAL, nullable=False),
        sa.Column("lot_size", EXACT_DECIMAL, nullable=False),
        sa.Column("min_quantity", sa.BigInteger(), nullable=False),
        sa.Column("maker_fee_rate", EXACT_DECIMAL, nullable=False),
        sa.Column("taker_fee_rate", EXACT_DECIMAL, nullable=False),
        sa.Column("halted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", name="pk_instruments"),
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", ID, autoincrement=False, nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("api_key_id", sa.String(64), nullable=True),
        sa.Column("api_key_hash", sa.String(255), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_accounts"),
        sa.UniqueConstraint("api_key_id", name="uq_accounts_api_key_id"),
    )
    op.create_table(
        "balances",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("total", EXACT_INT, nullable=False),
        sa.Column("held", EXACT_INT, nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "asset", name="pk_balances"),
        postgresql_with={"fillfactor": 50},
    )
    op.create_table(
        "transfers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("asset", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", EXACT_INT, nullable=False),
        sa.Column("transfer_id", sa.String(64), nullable=True),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transfers"),
        sa.UniqueConstraint(
            "account_id", "transfer_id", name="uq_transfers_account_id_transfer_id"
        ),
    )
    op.create_table(
        "orders",
        sa.Column("order_id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("time_in_force", sa.String(8), nullable=False),
        sa.Column("post_only", sa.Boolean(), nullable=False),
        sa.Column("self_trade_prevention", sa.String(16), nullable=False),
        sa.Column("client_order_id", sa.String(36), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=True),
        sa.Column("stop_price", sa.BigInteger(), nullable=True),
        sa.Column("quantity", sa.BigInteger(), nullable=True),
        sa.Column("quote_quantity", EXACT_INT, nullable=True),
        sa.Column("expire_time", sa.BigInteger(), nullable=True),
        sa.Column("take_profit_price", sa.BigInteger(), nullable=True),
        sa.Column("stop_loss_price", sa.BigInteger(), nullable=True),
        sa.Column("parent_order_id", sa.BigInteger(), nullable=True),
        sa.Column("sibling_order_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("close_reason", sa.String(32), nullable=True),
        sa.Column("filled_quantity", sa.BigInteger(), nullable=False),
        sa.Column("notional", EXACT_INT, nullable=False),
        sa.Column("fee", EXACT_INT, nullable=False),
        sa.Column("fee_num", EXACT_INT, nullable=False),
        sa.Column("priority", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="pk_orders"),
    )
    op.create_index("ix_orders_account_id_order_id", "orders", ["account_id", "order_id"])
    op.create_index(
        "ix_orders_open", "orders", ["account_id", "order_id"],
        postgresql_where=OPEN, sqlite_where=OPEN,
    )
    op.create_index(
        "ix_orders_client_order_id", "orders", ["account_id", "client_order_id"],
        postgresql_where=HAS_CLIENT_ID, sqlite_where=HAS_CLIENT_ID,
    )
    op.create_table(
        "trades",
        sa.Column("trade_id", ID, autoincrement=False, nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("taker_side", sa.String(8), nullable=False),
        sa.Column("maker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_order_id", sa.BigInteger(), nullable=False),
        sa.Column("maker_account_id", sa.BigInteger(), nullable=False),
        sa.Column("taker_account_id", sa.BigInteger(), nullable=False),
        sa.Column("maker_fee", EXACT_INT, nullable=False),
        sa.Column("taker_fee", EXACT_INT, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("trade_id", name="pk_trades"),
    )
    op.create_index("ix_trades_symbol_trade_id", "trades", ["symbol", "trade_id"])
    op.create_index(
        "ix_trades_maker_account_id_trade_id", "trades", ["maker_account_id", "trade_id"]
    )
    op.create_index(
        "ix_trades_taker_account_id_trade_id", "trades", ["taker_account_id", "trade_id"]
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )


def downgrade() -> None:
    for table in ("counters", "trades", "orders", "transfers", "balances", "accounts",
                  "instruments"):
        op.drop_table(table)
