"""Alembic environment: runs revisions on an async engine built from DATABASE_URL or the config."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from analytics.settings import load_settings

config = context.config


def _url() -> str:
    url = config.attributes.get("database_url") or load_settings().database_url
    if not url:
        raise SystemExit(
            "DATABASE_URL is not set (or run `analytics migrate`, which starts the embedded server)")
    return str(url)


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
