"""Database plumbing: engines, tenant-scoped transactions (row-level security) and migrations."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Every tenant-data query filters on this as well as relying on row-level security: the
# transaction's tenant, set by tenant_transaction() from the API key; unset, it matches nothing.
CURRENT_TENANT = "tenant_id = CAST(NULLIF(current_setting('analytics.tenant_id', true), '') AS bigint)"

# Counter rows carry ``bot`` (the event's session is excluded as a bot): analytic reads keep humans
# only unless the caller passes ``include_bots`` true.
HUMANS_UNLESS_INCLUDE_BOTS = "(CAST(:include_bots AS boolean) OR NOT bot)"

_SCOPE = text(
    "SELECT set_config('analytics.tenant_id', :tenant, true), "
    "set_config('statement_timeout', :timeout, true)"
)


def create_engine(
    url: str, *, role: str | None, pool_size: int = 10, max_overflow: int = 10
) -> AsyncEngine:
    """An engine whose connections act as ``role`` (the row-level-security-bound app role).

    ``role=None`` keeps the connecting user: that is the owner, for migrations and admin commands.
    Size the pool for the concurrency you expect: overflow connections are closed when returned,
    so a pool smaller than the load keeps opening connections. No pre-ping (a round trip per
    checkout); stale connections are recycled and a failed statement invalidates its connection.
    """
    connect_args: dict[str, object] = {}
    if role:
        connect_args["server_settings"] = {"role": role}
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800,
        connect_args=connect_args,
    )


@asynccontextmanager
async def tenant_transaction(
    engine: AsyncEngine, tenant_id: int, *, timeout_ms: int = 0, snapshot: bool = False
) -> AsyncIterator[AsyncConnection]:
    """One transaction that sees only ``tenant_id``'s rows (``SET LOCAL`` for the policies).
    ``snapshot``: every statement sees the data as of the first one (REPEATABLE READ), so the
    figures of several statements of one read (a request's fields) agree while the worker commits."""
    async with engine.connect() as plain:
        conn = await plain.execution_options(isolation_level="REPEATABLE READ") if snapshot else plain
        async with conn.begin():
            await scope_to_tenant(conn, tenant_id, timeout_ms=timeout_ms)
            yield conn


async def scope_to_tenant(conn: AsyncConnection, tenant_id: int, *, timeout_ms: int = 0) -> None:
    """Scope the current transaction to one tenant (what ``CURRENT_TENANT`` reads)."""
    await conn.execute(_SCOPE, {"tenant": str(tenant_id), "timeout": str(timeout_ms)})


async def plan_for_values(conn: AsyncConnection) -> None:
    """Plan the rest of the transaction's statements for their own values. The driver prepares
    every statement, and from a statement's sixth execution PostgreSQL may switch to a generic plan
    that cannot see the parameters (a range's bounds, a segment): for skewed reads (a segment's
    per-actor rows, the few funnel attempts read one by one) that plan ran three to four times
    slower than the plan for the values."""
    await conn.execute(_CUSTOM_PLANS)


_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


async def lock_tenant(conn: AsyncConnection, tenant_id: int) -> None:
    """Hold the tenant's lock until the transaction ends: its rollups, session scoring, counter
    corrections and bot rules take turns, so sessions and counters never have two writers."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(CAST(:tenant AS bigint))"), {"tenant": tenant_id})


def _alembic_config(url: str) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = url
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (blocking; run in a thread from async code)."""
    from alembic import command

    command.upgrade(_alembic_config(url), revision)  # type: ignore[arg-type]


# SQLSTATEs of a server that is going away, starting, or a connection that broke (classes 08, 57P).
UNAVAILABLE_STATES = frozenset({"08000", "08001", "08003", "08004", "08006", "57P01", "57P02", "57P03"})


def storage_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means PostgreSQL cannot be reached right now (refused, restarting, the
    connection cut), as opposed to a statement that failed: the caller should retry later."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError):  # refused, reset, unreachable, a connect that timed out
            return True
        if getattr(current, "connection_invalidated", False):  # SQLAlchemy saw the connection break
            return True
        if getattr(current, "sqlstate", None) in UNAVAILABLE_STATES:  # asyncpg's errors carry it
            return True
        if isinstance(current, asyncpg.InterfaceError) and "connection is closed" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
