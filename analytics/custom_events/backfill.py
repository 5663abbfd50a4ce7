"""Backfill a dimension declared after its events arrived: count the retained raw events one local
day at a time, oldest first, each day in its own transaction under the tenant's rollup lock.

While it runs, ``event_dimensions.backfill_through`` is the last day done: the rollup counts the
dimension for days up to it and leaves later days to the backfill, which skips events still waiting
in the outbox (their rollup counts them). So every event is counted once, whichever comes first.
The last step takes every day from today on (events may carry times slightly ahead) and marks the
dimension done. Progress (``processed`` of ``total`` events) is on the row, and so on the definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.custom_events.rollup import write_dimensions
from analytics.db import lock_tenant, tenant_transaction
from analytics.periods import local_midnight
from analytics.rollups.aggregate import RawEvent, raw_event_columns

_WAITING = text("SELECT name, dimension FROM event_dimensions WHERE tenant_id = :tenant "
                "AND status <> 'done' ORDER BY declared_at, name, dimension")
_START = text(
    """
    SELECT t.timezone, min(e.occurred_at) AS first, count(e.id) AS total
    FROM tenants t LEFT JOIN events e ON e.tenant_id = t.id AND e.type = 'Custom' AND e.name = :name
        AND e.occurred_at >= coalesce(t.raw_events_from, '-infinity')
    WHERE t.id = :tenant GROUP BY t.timezone
    """
)
_STATE = text("SELECT status, backfill_through, declared_at FROM event_dimensions WHERE tenant_id = :tenant "
              "AND name = :name AND dimension = :dimension FOR UPDATE")
_DAY_EVENTS = text(
    f"""
    WITH pending AS MATERIALIZED (
        SELECT p.id, p.at FROM outbox o, unnest(o.event_ids, o.occurred_ats) AS p(id, at)
        WHERE o.tenant_id = :tenant AND p.at >= :start AND p.at < :end)
    SELECT {raw_event_columns('events')}, coalesce(s.excluded, false)
    FROM events LEFT JOIN sessions s ON s.tenant_id = events.tenant_id AND s.id = events.session_key
    WHERE events.tenant_id = :tenant AND events.type = 'Custom' AND events.name = :name
      AND events.occurred_at >= :start AND events.occurred_at < :end
      AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.id = events.id AND p.at = events.occurred_at)
    """
)
_CLEAR = [
    text("DELETE FROM custom_event_values WHERE tenant_id = :tenant AND name = :name "
         "AND dimension = :dimension AND day >= :first AND day <= :last"),
    text("DELETE FROM custom_event_admitted WHERE tenant_id = :tenant AND name = :name "
         "AND dimension = :dimension AND day >= :first AND day <= :last"),
]
# Done: the total becomes what was counted (events still in the outbox when their day was reached
# are the rollup's, so the estimate taken at the start may have been higher).
_PROGRESS = text(
    "UPDATE event_dimensions SET status = :status, backfill_through = :through, "
    "processed = processed + :processed, total = CASE WHEN :status = 'done' THEN processed + :processed "
    "ELSE greatest(total, processed + :processed) END "
    "WHERE tenant_id = :tenant AND name = :name AND dimension = :dimension"
)
_BEGIN = text("UPDATE event_dimensions SET status = 'running', processed = 0, total = :total, "
              "backfill_through = :through "
              "WHERE tenant_id = :tenant AND name = :name AND dimension = :dimension")
FAR = date(9999, 12, 30)
THE_END = datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BackfillRun:
    dimensions: int
    events: int


async def backfill_dimension(engine: AsyncEngine, tenant_id: int, name: str, dimension: str,
                             *, now: datetime) -> int:
    """Count one dimension's retained events; returns the events counted. Resumes where a killed
    run stopped (``backfill_through``)."""
    key = {"tenant": tenant_id, "name": name, "dimension": dimension}
    async with tenant_transaction(engine, tenant_id) as conn:
        start = (await conn.execute(_START, {"tenant": tenant_id, "name": name})).one()
        state = (await conn.execute(_STATE, key)).one_or_none()
        if state is None or state.status == "done":
            return 0
        tz = ZoneInfo(start.timezone)
        today = now.astimezone(tz).date()
        first = start.first.astimezone(tz).date() if start.first is not None else today
        if state.status == "pending" or state.backfill_through is None:
            # Nothing counted yet: the rollup leaves the dimension alone until the day before the first.
            await conn.execute(_BEGIN, {**key, "total": int(start.total),
                                        "through": min(first, today) - timedelta(days=1)})
            through = min(first, today) - timedelta(days=1)
        else:
            through = state.backfill_through
    counted = 0
    day = through + timedelta(days=1)
    while True:
        last = FAR if day >= today else day
        step = await _backfill_days(engine, tenant_id, name, dimension, day, last, done=last == FAR,
                                    declared_at=state.declared_at)
        if step is None:  # removed, or removed and declared again: the next run starts afresh
            return counted
        counted += step
        if last == FAR:
            return counted
        day += timedelta(days=1)


async def _backfill_days(engine: AsyncEngine, tenant_id: int, name: str, dimension: str, first: date,
                         last: date, *, done: bool, declared_at: datetime) -> int | None:
    key = {"tenant": tenant_id, "name": name, "dimension": dimension}
    async with tenant_transaction(engine, tenant_id) as conn:
        await lock_tenant(conn, tenant_id)
        tz = ZoneInfo((await conn.execute(text("SELECT timezone FROM tenants WHERE id = :tenant"),
                                          {"tenant": tenant_id})).scalar_one())
        state = (await conn.execute(_STATE, key)).one_or_none()
        if state is None or state.declared_at != declared_at:
            return None
        for statement in _CLEAR:
            await conn.execute(statement, {**key, "first": first, "last": last})
        window = {"tenant": tenant_id, "name": name, "start": local_midnight(first, tz),
                  "end": local_midnight(last + timedelta(days=1), tz) if last != FAR else THE_END}
        rows = (await conn.execute(_DAY_EVENTS, window)).all()
        events = [(RawEvent(*row[:-1]), bool(row[-1])) for row in rows]
        await write_dimensions(conn, tenant_id, tz, events, {name: [(dimension, None)]})
        await conn.execute(_PROGRESS, {**key, "status": "done" if done else "running",
                                       "through": None if done else last, "processed": len(events)})
    return len(events)


async def backfill_tenant(engine: AsyncEngine, tenant_id: int, *, now: datetime) -> BackfillRun:
    """Run every waiting dimension backfill of the tenant, oldest declaration first."""
    async with tenant_transaction(engine, tenant_id) as conn:
        waiting = [(r.name, r.dimension) for r in await conn.execute(_WAITING, {"tenant": tenant_id})]
    counted = 0
    for name, dimension in waiting:
        counted += await backfill_dimension(engine, tenant_id, name, dimension, now=now)
    return BackfillRun(len(waiting), counted)


async def tenants_with_backfills(engine: AsyncEngine) -> list[int]:
    """Tenants with a dimension backfill waiting or interrupted (for the sweeper)."""
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT tenant_id FROM analytics_event_backfills()"))
        return [int(r[0]) for r in rows]
