"""The rollup transaction: claim outbox rows, fold their events in, delete the rows, commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import tenant_transaction
from analytics.rollups.aggregate import RAW_EVENT_COLUMNS, Aggregate, RawEvent, aggregate
from analytics.sessions.upkeep import keep_sessions


@dataclass(frozen=True)
class RollupResult:
    batches: int
    events: int


_CLAIM = text(
    "SELECT id, event_ids, occurred_ats FROM outbox WHERE tenant_id = :tenant "
    "ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_LOAD = text(
    f"""
    SELECT {RAW_EVENT_COLUMNS}
    FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[])) AS k(key_id, key_at)
    JOIN events e ON e.tenant_id = :tenant AND e.occurred_at = k.key_at AND e.id = k.key_id
    """
)
# Rollups, session scoring and counter corrections of one tenant take turns (transaction-scoped).
TENANT_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('analytics.tenant'), CAST(:tenant AS integer))")
_TENANT = text("SELECT timezone, ARRAY(SELECT pattern FROM bot_rules WHERE tenant_id = :tenant "
               "ORDER BY id) AS patterns FROM tenants WHERE id = :tenant")
_UPSERT_HOURLY = text(
    """
    INSERT INTO counters_hourly (tenant_id, entity_type, entity_id, metric, step_index, bucket, bot,
                                 value)
    SELECT :tenant, * FROM unnest(CAST(:entity_type AS text[]), CAST(:entity_id AS text[]),
        CAST(:metric AS text[]), CAST(:step_index AS integer[]), CAST(:bucket AS timestamptz[]),
        CAST(:bot AS boolean[]), CAST(:value AS bigint[]))
    ON CONFLICT (tenant_id, entity_type, entity_id, metric, step_index, bucket, bot)
    DO UPDATE SET value = counters_hourly.value + EXCLUDED.value
    """
)
_UPSERT_DAILY = text(
    """
    INSERT INTO counters_daily (tenant_id, entity_type, entity_id, metric, step_index, day, bot, value)
    SELECT :tenant, * FROM unnest(CAST(:entity_type AS text[]), CAST(:entity_id AS text[]),
        CAST(:metric AS text[]), CAST(:step_index AS integer[]), CAST(:day AS date[]),
        CAST(:bot AS boolean[]), CAST(:value AS bigint[]))
    ON CONFLICT (tenant_id, entity_type, entity_id, metric, step_index, day, bot)
    DO UPDATE SET value = counters_daily.value + EXCLUDED.value
    """
)
_INSERT_USERS = text(
    """
    INSERT INTO daily_users (tenant_id, entity_type, entity_id, metric, step_index, day, bot, user_key)
    SELECT :tenant, * FROM unnest(CAST(:entity_type AS text[]), CAST(:entity_id AS text[]),
        CAST(:metric AS text[]), CAST(:step_index AS integer[]), CAST(:day AS date[]),
        CAST(:bot AS boolean[]), CAST(:user_key AS text[]))
    ON CONFLICT DO NOTHING
    """
)
_UPSERT_SELECTORS = text(
    """
    INSERT INTO selector_failures_daily
        (tenant_id, entity_type, entity_id, selector, url, day, bot, failures, last_seen_at)
    SELECT :tenant, * FROM unnest(CAST(:entity_type AS text[]), CAST(:entity_id AS text[]),
        CAST(:selector AS text[]), CAST(:url AS text[]), CAST(:day AS date[]), CAST(:bot AS boolean[]),
        CAST(:failures AS bigint[]), CAST(:last_seen_at AS timestamptz[]))
    ON CONFLICT (tenant_id, entity_type, entity_id, selector, url, day, bot)
    DO UPDATE SET failures = selector_failures_daily.failures + EXCLUDED.failures,
                  last_seen_at = greatest(selector_failures_daily.last_seen_at, EXCLUDED.last_seen_at)
    """
)
_UPSERT_TOURS = text(
    """
    INSERT INTO tours (tenant_id, id, first_seen_at, last_seen_at)
    SELECT :tenant, * FROM unnest(CAST(:id AS text[]), CAST(:first_seen_at AS timestamptz[]),
        CAST(:last_seen_at AS timestamptz[]))
    ON CONFLICT (tenant_id, id) DO UPDATE SET
        first_seen_at = least(tours.first_seen_at, EXCLUDED.first_seen_at),
        last_seen_at = greatest(tours.last_seen_at, EXCLUDED.last_seen_at)
    """
)
_UPSERT_STEPS = text(
    """
    INSERT INTO tour_steps (tenant_id, tour_id, step_index, step_id)
    SELECT :tenant, * FROM unnest(CAST(:tour_id AS text[]), CAST(:step_index AS integer[]),
        CAST(:step_id AS text[]))
    ON CONFLICT (tenant_id, tour_id, step_index)
    DO UPDATE SET step_id = coalesce(tour_steps.step_id, EXCLUDED.step_id)
    """
)


def _columns(names: tuple[str, ...], rows: Sequence[Sequence[object]]) -> dict[str, object]:
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


async def write_counters(conn: AsyncConnection, tenant_id: int, agg: Aggregate) -> None:
    """Upserts in sorted key order, one statement per table, so concurrent jobs never deadlock."""
    key_names = ("entity_type", "entity_id", "metric", "step_index")
    writes: list[tuple[TextClause, tuple[str, ...], list[tuple[object, ...]]]] = [
        (_UPSERT_TOURS, ("id", "first_seen_at", "last_seen_at"),
         [(tour, *seen) for tour, seen in sorted(agg.tours_seen.items())]),
        (_UPSERT_STEPS, ("tour_id", "step_index", "step_id"),
         [(*key, step_id) for key, step_id in sorted(agg.steps_seen.items())]),
        (_UPSERT_HOURLY, (*key_names, "bucket", "bot", "value"),
         [(*key, value) for key, value in sorted(agg.hourly.items())]),
        (_UPSERT_DAILY, (*key_names, "day", "bot", "value"),
         [(*key, value) for key, value in sorted(agg.daily.items())]),
        (_INSERT_USERS, (*key_names, "day", "bot", "user_key"), [tuple(row) for row in sorted(agg.users)]),
        (_UPSERT_SELECTORS,
         ("entity_type", "entity_id", "selector", "url", "day", "bot", "failures", "last_seen_at"),
         [(*key, *seen) for key, seen in sorted(agg.selector_failures.items())]),
    ]
    for statement, names, rows in writes:
        if rows:
            await conn.execute(statement, {"tenant": tenant_id, **_columns(names, rows)})


async def roll_up_once(engine: AsyncEngine, tenant_id: int, *, claim_batches: int) -> RollupResult:
    """Fold up to ``claim_batches`` outbox rows into the counters, all or nothing."""
    async with tenant_transaction(engine, tenant_id) as conn:
        claimed = (await conn.execute(_CLAIM, {"tenant": tenant_id, "limit": claim_batches})).all()
        if not claimed:
            return RollupResult(0, 0)
        await conn.execute(TENANT_LOCK, {"tenant": tenant_id})
        tenant = (await conn.execute(_TENANT, {"tenant": tenant_id})).one()
        tz = ZoneInfo(tenant.timezone)
        ids = [event_id for row in claimed for event_id in row.event_ids]
        ats = [at for row in claimed for at in row.occurred_ats]
        result = await conn.execute(_LOAD, {"tenant": tenant_id, "ids": ids, "ats": ats})
        events = [RawEvent(*row) for row in result]
        upkeep = await keep_sessions(conn, tenant_id, events, tz, tenant.patterns)
        await write_counters(conn, tenant_id,
                             aggregate(((e, e.id in upkeep.bot_events) for e in events), tz))
        await conn.execute(text("DELETE FROM outbox WHERE tenant_id = :tenant AND id = ANY(:ids)"),
                           {"tenant": tenant_id, "ids": [row.id for row in claimed]})
    return RollupResult(len(claimed), len(events))


async def roll_up(engine: AsyncEngine, tenant_id: int, *, claim_batches: int,
                  max_rounds: int = 50) -> RollupResult:
    """Drain the tenant's outbox (bounded), so batches that arrive during a run are not left behind."""
    batches = events = 0
    for _ in range(max_rounds):
        step = await roll_up_once(engine, tenant_id, claim_batches=claim_batches)
        if step.batches == 0:
            break
        batches, events = batches + step.batches, events + step.events
    return RollupResult(batches, events)


async def pending_tenants(engine: AsyncEngine) -> list[tuple[int, int]]:
    """(tenant id, outbox rows) for every tenant with rollup work waiting."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT tenant_id, batches FROM analytics_pending_tenants()"))).all()
    return [(int(r[0]), int(r[1])) for r in rows]
