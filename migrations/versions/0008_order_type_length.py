"""Order types up to 24 characters: `take_profit_market` is 18, over the former 16.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

PostgreSQL enforces a varchar's length (SQLite does not, but its declared type is what a
schema comparison reads, so the table is copied there as batch mode does).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("type", existing_type=sa.String(16), type_=sa.String(24),
                           existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("type", existing_type=sa.String(24), type_=sa.String(16),
                           existing_nullable=False)
