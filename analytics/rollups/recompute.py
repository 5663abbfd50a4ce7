"""``analytics rollups verify``: every consumer's tables against a recomputation from raw events.

Days before the tenant's ``raw_events_from`` (retention deleted their raw events) are not compared:
their rollups stay, and nothing is left to recompute them from.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import create_engine
from analytics.rollups.consumers import Difference
from analytics.rollups.registry import CONSUMERS

ANALYZED = ("events", "sessions", *(t for c in CONSUMERS for t in c.tables))
# What the worker analyses after a bulk load: the consumers' tables and what reads join them.
AFTER_BULK = (*ANALYZED, "user_days", "segment_members", "segment_users")


async def analyze_rollups(database_url: str) -> None:
    """ANALYZE the rollup tables as the owner (a short-lived engine of the connecting user)."""
    engine = create_engine(database_url, role=None, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f"ANALYZE {', '.join(dict.fromkeys(AFTER_BULK))}"))
            await conn.commit()
    finally:
        await engine.dispose()


async def verify_rollups(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    """Tables whose rows differ from a recomputation over the tenant's raw events ([] when equal).

    Only meaningful once the outbox is drained: queued batches are not in the rollups yet.
    """
    # Fresh planner statistics first: after a bulk load (or for a tenant new since the last
    # autovacuum) stale ones made this take 56-103 s instead of 2-5 s. Only the owner may ANALYZE;
    # for anyone else PostgreSQL skips it with a warning, and the check still runs.
    await conn.execute(text(f"ANALYZE {', '.join(ANALYZED)}"))
    differences: list[Difference] = []
    for consumer in CONSUMERS:
        differences.extend(await consumer.verify(conn, tenant_id))
    return differences
