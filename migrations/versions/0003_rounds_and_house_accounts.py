"""Competitions: the rounds table, and the house flag on accounts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Existing accounts are not house accounts.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("house", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "rounds",
        sa.Column("round_id", ID, autoincrement=False, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("starting_balances", sa.Text(), nullable=False),
        sa.Column("account_ids", sa.Text(), nullable=False),
        sa.Column("start_ts", sa.BigInteger(), nullable=False),
        sa.Column("end_ts", sa.BigInteger(), nullable=False),
        sa.Column("first_trade_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("round_id", name="pk_rounds"),
    )


def downgrade() -> None:
    op.drop_table("rounds")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("house")
