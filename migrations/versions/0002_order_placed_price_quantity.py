"""Orders keep the price and quantity as placed, for idempotent repeats after amends.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

Existing rows get their current price and quantity: the best that is known of them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("placed_price", sa.BigInteger(), nullable=True))
    op.add_column("orders", sa.Column("placed_quantity", sa.BigInteger(), nullable=True))
    op.execute("UPDATE orders SET placed_price = price, placed_quantity = quantity")


def downgrade() -> None:
    op.drop_column("orders", "placed_quantity")
    op.drop_column("orders", "placed_price")
