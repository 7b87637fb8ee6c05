"""The Binance-compatible surface's API keys in the database (`exchange.pipeline.keyring`
keeps them in memory). Keys are no engine state: the admin routes write them here directly,
each change in its own transaction, committed before it is answered."""

from __future__ import annotations

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from exchange.store.schema import api_keys


async def add_key(engine: AsyncEngine, api_key: str, account_id: int, kind: str,
                  secret: str | None, public_key: str | None, ts: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(api_keys).values(
            api_key=api_key, account_id=account_id, kind=kind, secret=secret,
            public_key=public_key, created_at=ts, revoked_at=None))


async def revoke_key(engine: AsyncEngine, api_key: str, ts: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(api_keys).where(api_keys.c.api_key == api_key)
                           .values(revoked_at=ts))


async def key_rows(engine: AsyncEngine) -> list[RowMapping]:
    """Every key, revoked ones included, oldest first."""
    async with engine.connect() as conn:
        return list((await conn.execute(
            select(api_keys).order_by(api_keys.c.created_at, api_keys.c.api_key))).mappings())
