"""Trades by order: an order's fills read from the database at any depth.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

The read model no longer keeps every fill in memory, so `GET /v1/fills?order_id=` of an old
order reads the trades table by the order's id, on the maker or the taker side.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_trades_maker_order_id", "trades", ["maker_order_id"])
    op.create_index("ix_trades_taker_order_id", "trades", ["taker_order_id"])


def downgrade() -> None:
    op.drop_index("ix_trades_taker_order_id", table_name="trades")
    op.drop_index("ix_trades_maker_order_id", table_name="trades")
