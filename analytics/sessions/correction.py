"""Counter corrections: recompute whole local days from the raw events and today's session flags.

A day is marked in ``dirty_days`` when events already counted there changed side (human/bot):
a session flagged by the behavioural scorer, a retroactive bot rule, a later scanner request or a
late event that merged sessions. The correction replaces that day's rows of
every consumer that splits them human/bot (counters, distinct users, selectors, user days...:
``Consumer.day_clears``) with a fresh fold of its events through the same consumers as the rollup,
so they equal a recomputation again. Events still waiting in the outbox are left out: their own
rollup counts them, with the flags of that moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.periods import local_midnight
from analytics.rollups.aggregate import RawEvent, raw_event_columns
from analytics.rollups.consumers import Claim
from analytics.rollups.registry import CONSUMERS

STREAM_ROWS = 10_000

# The day's events, less those still waiting in the outbox (a hashed anti-join on the day's pending
# ids only), each with its session's bot flag as it is now.
_DAY_EVENTS = text(
    f"""
    WITH pending AS MATERIALIZED (
        SELECT p.id, p.at FROM outbox o, unnest(o.event_ids, o.occurred_ats) AS p(id, at)
        WHERE o.tenant_id = :tenant AND p.at >= :start AND p.at < :end)
    SELECT {raw_event_columns('events')}, coalesce(s.excluded, false)
    FROM events LEFT JOIN sessions s ON s.tenant_id = events.tenant_id AND s.id = events.session_key
    WHERE events.tenant_id = :tenant AND events.occurred_at >= :start AND events.occurred_at < :end
      AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.id = events.id AND p.at = events.occurred_at)
    """
)
_MARK = text(
    "INSERT INTO dirty_days (tenant_id, day) SELECT :tenant, unnest(CAST(:days AS date[])) "
    "ON CONFLICT DO NOTHING"
)
# The consumers whose rows are split human/bot per day, and the DELETEs of one day's rows.
_DAY_CONSUMERS = tuple(c for c in CONSUMERS if c.day_clears)
_CLEAR = [text(statement) for c in _DAY_CONSUMERS for statement in c.day_clears]
# Stored bot flags set again from the sessions: no raw events needed, so every marked day.
_RESYNC = [text(statement) for c in CONSUMERS for statement in c.day_resyncs]
# Days whose first mark is at least ``delay`` old (a mark on a marked day keeps the first time).
_TAKE_DIRTY = text(
    "DELETE FROM dirty_days WHERE tenant_id = :tenant AND day IN "
    "(SELECT day FROM dirty_days WHERE tenant_id = :tenant AND marked_at <= now() - CAST(:delay AS interval) "
    "ORDER BY day LIMIT :limit) RETURNING day"
)


async def mark_days(conn: AsyncConnection, tenant_id: int, days: Iterable[date]) -> None:
    """Mark tenant-local days for correction (in the caller's transaction, with what changed)."""
    await conn.execute(_MARK, {"tenant": tenant_id, "days": sorted(set(days))})


# The first local day whose raw events retention kept whole (NULL: all of them).
_FIRST_RAW_DAY = text("SELECT (raw_events_from AT TIME ZONE timezone)::date FROM tenants WHERE id = :tenant")


async def correct_days(conn: AsyncConnection, tenant_id: int, days: Sequence[date],
                       tz: ZoneInfo) -> list[date]:
    """Replace the counters of ``days`` (tenant-local) by a recomputation; the caller holds the lock.
    Days before the tenant's ``raw_events_from`` keep their counters: retention deleted their raw
    events, so a recomputation would zero real counters; only the stored bot flags that follow the
    sessions (``Consumer.day_resyncs``) are set again there. Returns the days recomputed."""
    first = (await conn.execute(_FIRST_RAW_DAY, {"tenant": tenant_id})).scalar_one_or_none()
    kept = []
    for day in sorted(set(days)):
        window = {"tenant": tenant_id, "day": day, "start": local_midnight(day, tz),
                  "end": local_midnight(day + timedelta(days=1), tz)}
        for statement in _RESYNC:
            await conn.execute(statement, window)
        if first is not None and day < first:
            continue
        kept.append(day)
        for statement in _CLEAR:
            await conn.execute(statement, window)
        result = await conn.stream(_DAY_EVENTS, window)
        async for rows in result.partitions(STREAM_ROWS):
            events = [RawEvent(*row[:-1]) for row in rows]
            bots = frozenset(e.id for e, row in zip(events, rows, strict=True) if row[-1] and e.id)
            claim = Claim(tenant_id, tz, events, bots, correcting=True)
            for consumer in _DAY_CONSUMERS:
                await consumer.consume(conn, claim)
    return kept


async def correct_dirty_days(conn: AsyncConnection, tenant_id: int, tz: ZoneInfo, *, limit: int = 31,
                             delay: timedelta = timedelta(0)) -> list[date]:
    """Take up to ``limit`` days marked at least ``delay`` ago and correct them (same transaction:
    all or nothing). Returns the days taken; those before ``raw_events_from`` are only unmarked."""
    # RETURNING has no order of its own: sorted, so callers and logs see the days in calendar order.
    days = sorted(row.day for row in await conn.execute(_TAKE_DIRTY, {"tenant": tenant_id, "limit": limit,
                                                                      "delay": delay}))
    await correct_days(conn, tenant_id, days, tz)
    return days
