"""Build a new or changed funnel's progress from the retained raw events, a batch of persons per
transaction, with its progress on the funnel row (``backfill_processed`` of ``backfill_total``).

Persons are walked in user-key order from ``user_days`` (everyone who ever sent an event, indexed
by key); each batch re-derives those persons exactly as the rollup's consumer does, under the
tenant's lock, and moves the cursor in the same transaction. A worker killed mid-job loses at most
its open batch; the sweeper queues the job again and it goes on from the cursor. A definition
changed meanwhile resets the cursor, so the job simply carries on with the new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import lock_tenant, tenant_transaction
from analytics.funnels.progress import rederive
from analytics.funnels.store import get_funnel

BATCH_PERSONS = 500

_PERSONS = text(
    "SELECT DISTINCT user_key FROM user_days WHERE tenant_id = :tenant AND user_key > :cursor "
    "ORDER BY user_key LIMIT :limit"
)
_TOTAL = text("SELECT count(DISTINCT user_key) FROM user_days WHERE tenant_id = :tenant")
_CURSOR = text(
    "SELECT backfill_status, backfill_cursor, backfill_total FROM funnels "
    "WHERE tenant_id = :tenant AND id = :id FOR UPDATE"
)
_ADVANCE = text(
    "UPDATE funnels SET backfill_status = :status, backfill_cursor = :cursor, "
    "backfill_processed = backfill_processed + :done, backfill_total = :total, "
    "backfill_finished_at = CASE WHEN :status = 'done' THEN now() END "
    "WHERE tenant_id = :tenant AND id = :id"
)


@dataclass(frozen=True)
class BackfillRun:
    batches: int
    persons: int
    finished: bool


async def run_backfill(
    engine: AsyncEngine,
    tenant_id: int,
    funnel_id: int,
    *,
    batch: int = BATCH_PERSONS,
    max_batches: int | None = None,
) -> BackfillRun:
    """Process the funnel's pending backfill to its end (or ``max_batches`` batches)."""
    batches = persons = 0
    while max_batches is None or batches < max_batches:
        async with tenant_transaction(engine, tenant_id) as conn:
            await lock_tenant(conn, tenant_id)
            state = (await conn.execute(_CURSOR, {"tenant": tenant_id, "id": funnel_id})).one_or_none()
            if state is None or state.backfill_status == "done":
                return BackfillRun(batches, persons, True)
            total = state.backfill_total
            if total is None:
                total = int((await conn.execute(_TOTAL, {"tenant": tenant_id})).scalar_one())
            people = list(
                (
                    await conn.execute(
                        _PERSONS, {"tenant": tenant_id, "cursor": state.backfill_cursor, "limit": batch}
                    )
                ).scalars()
            )
            funnel = await get_funnel(conn, tenant_id, funnel_id)
            assert funnel is not None
            if people:
                await rederive(conn, tenant_id, {funnel_id: (funnel, people)})
            finished = len(people) < batch
            await conn.execute(
                _ADVANCE,
                {
                    "tenant": tenant_id,
                    "id": funnel_id,
                    "status": "done" if finished else "running",
                    "cursor": people[-1] if people else state.backfill_cursor,
                    "done": len(people),
                    "total": max(total, 0),
                },
            )
        batches, persons = batches + 1, persons + len(people)
        if finished:
            return BackfillRun(batches, persons, True)
    return BackfillRun(batches, persons, False)


async def pending_backfills(engine: AsyncEngine) -> list[tuple[int, int]]:
    """(tenant id, funnel id) of every funnel whose backfill is not done, for the sweeper."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT tenant_id, funnel_id FROM analytics_pending_funnel_backfills()"))
        ).all()
    return [(int(r.tenant_id), int(r.funnel_id)) for r in rows]
