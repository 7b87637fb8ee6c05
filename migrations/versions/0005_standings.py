"""Standings: each account's position, fees and trade count per symbol, kept by the writer.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

Start-up reads these instead of replaying every trade. Existing databases get them computed
once here, from their trades (keyset pages, so memory stays flat), as the read model used to
at every start: from each account's latest round's first trade on.
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from exchange.engine.events import TradeExecuted
from exchange.store.standings import Standing

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXACT_INT = sa.Numeric(38, 0).with_variant(sa.String(40), "sqlite")
PAGE = 10_000


def upgrade() -> None:
    standings = op.create_table(
        "standings",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("cost_num", sa.Text(), nullable=False),
        sa.Column("cost_den", sa.Text(), nullable=False),
        sa.Column("realized_num", sa.Text(), nullable=False),
        sa.Column("realized_den", sa.Text(), nullable=False),
        sa.Column("fees", EXACT_INT, nullable=False),
        sa.Column("trades", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "symbol", name="pk_standings"),
    )
    assert standings is not None
    _backfill(standings)


def _backfill(standings: sa.Table) -> None:
    bind = op.get_bind()
    epochs: dict[int, int] = {}
    for account_ids, first_trade_id in bind.execute(sa.text(
            "SELECT account_ids, first_trade_id FROM rounds ORDER BY round_id")):
        for account_id in json.loads(account_ids):
            epochs[int(account_id)] = int(first_trade_id)
    kept: dict[tuple[int, str], Standing] = {}
    last_ts = 0
    after = 0
    while True:
        rows = bind.execute(sa.text(
            "SELECT trade_id, symbol, price, quantity, taker_side, maker_order_id,"
            " taker_order_id, maker_account_id, taker_account_id, maker_fee, taker_fee, ts"
            " FROM trades WHERE trade_id > :after ORDER BY trade_id LIMIT :page"
        ), {"after": after, "page": PAGE}).all()
        if not rows:
            break
        for row in rows:
            trade = TradeExecuted(
                trade_id=int(row[0]), symbol=row[1], price=int(row[2]), quantity=int(row[3]),
                taker_side=row[4], maker_order_id=int(row[5]), taker_order_id=int(row[6]),
                maker_account_id=int(row[7]), taker_account_id=int(row[8]),
                maker_fee=int(row[9]), taker_fee=int(row[10]), ts=int(row[11]),
            )
            for account_id, maker in ((trade.maker_account_id, True),
                                      (trade.taker_account_id, False)):
                if trade.trade_id < epochs.get(account_id, 0):
                    continue
                key = (account_id, trade.symbol)
                standing = kept.get(key)
                if standing is None:
                    standing = kept[key] = Standing()
                standing.record(trade, maker)
            last_ts = trade.ts
        after = int(rows[-1][0])
    columns = [column.name for column in standings.columns]
    values = [dict(zip(columns, standing.as_tuple(key[0], key[1], last_ts), strict=True))
              for key, standing in sorted(kept.items())]
    for start in range(0, len(values), PAGE):
        op.bulk_insert(standings, values[start:start + PAGE])


def downgrade() -> None:
    op.drop_table("standings")
