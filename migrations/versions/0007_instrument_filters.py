"""Instrument filters: a minimum notional (quote units) and a maximum quantity (lots).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

Existing instruments get 0 for both: no filter, as they traded before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXACT_INT = sa.Numeric(38, 0).with_variant(sa.String(40), "sqlite")


def upgrade() -> None:
    # A plain ADD COLUMN with its default (SQLite too): existing rows read the default.
    op.add_column("instruments", sa.Column("min_notional", EXACT_INT, nullable=False,
                                           server_default=sa.text("'0'")))
    op.add_column("instruments", sa.Column("max_quantity", sa.BigInteger(), nullable=False,
                                           server_default=sa.text("0")))


def downgrade() -> None:
    with op.batch_alter_table("instruments") as batch:
        batch.drop_column("max_quantity")
        batch.drop_column("min_notional")
