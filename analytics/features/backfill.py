"""Backfilling a feature declared (or changed) after its events arrived: one tenant-local day per
transaction, from the first to the last day with a matching raw event still retained. Each day's rows
are replaced by a fold of that day's events (less those still waiting in the outbox: the rollup
counts them, with the feature in place), under the tenant's lock, so a day equals a recomputation
whatever the rollup did meanwhile. Progress is on the feature (processed / total days); a run that
stops part way is queued again by the sweeper and goes on from the day it reached."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import lock_tenant, tenant_transaction
from analytics.features.service import Feature, list_features
from analytics.features.upkeep import FeatureDays, by_event, fold_feature_days, named, write_feature_days
from analytics.periods import local_midnight
from analytics.rollups.aggregate import RawEvent, raw_event_columns

log = logging.getLogger("analytics.features")

_DAY_EVENTS = """
    WITH pending AS MATERIALIZED (
        SELECT p.id, p.at FROM outbox o, unnest(o.event_ids, o.occurred_ats) AS p(id, at)
        WHERE o.tenant_id = :tenant AND p.at >= :start AND p.at < :end)
    SELECT {columns}, coalesce(s.excluded, false)
    FROM events e LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_key
    WHERE e.tenant_id = :tenant AND e.occurred_at >= :start AND e.occurred_at < :end AND {named}
      AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.id = e.id AND p.at = e.occurred_at)
"""


async def _tenant_zone(conn: AsyncConnection, tenant_id: int) -> tuple[ZoneInfo, datetime | None]:
    row = (await conn.execute(text("SELECT timezone, raw_events_from FROM tenants WHERE id = :tenant"),
                              {"tenant": tenant_id})).one()
    return ZoneInfo(row.timezone), row.raw_events_from


async def _start(conn: AsyncConnection, tenant_id: int, feature: Feature) -> Feature:
    """Find the days to fold (first to last local day with a matching retained event) and mark it running."""
    tz, kept_from = await _tenant_zone(conn, tenant_id)
    where, params = named([feature.matcher.event])
    first, last = (await conn.execute(text(
        f"SELECT min(e.occurred_at), max(e.occurred_at) FROM events e WHERE e.tenant_id = :tenant "
        f"AND e.occurred_at >= coalesce(CAST(:kept AS timestamptz), '-infinity') AND {where}"),
        {"tenant": tenant_id, "kept": kept_from, **params})).one()
    first_day = first.astimezone(tz).date() if first else None
    total = (last.astimezone(tz).date() - first_day).days + 1 if first and first_day else 0
    await conn.execute(text(
        "UPDATE features SET backfill_status = 'running', backfill_from = :first, backfill_total = :total, "
        "backfill_processed = 0 WHERE tenant_id = :tenant AND id = :id"),
        {"tenant": tenant_id, "id": feature.id, "first": first_day, "total": total})
    return (await list_features(conn, feature_id=feature.id))[0]


async def _fold_day(conn: AsyncConnection, tenant_id: int, feature: Feature, day: date, tz: ZoneInfo) -> None:
    window = {"tenant": tenant_id, "start": local_midnight(day, tz),
              "end": local_midnight(day + timedelta(days=1), tz)}
    await conn.execute(text("DELETE FROM feature_user_days WHERE tenant_id = :tenant AND feature_id = :id "
                            "AND day = :day"), {"tenant": tenant_id, "id": feature.id, "day": day})
    where, params = named([feature.matcher.event])
    result = await conn.stream(text(_DAY_EVENTS.format(columns=raw_event_columns("e"), named=where)),
                               {**window, **params})
    matchers = by_event([(feature.id, feature.matcher)])
    days: FeatureDays = {}
    async for rows in result.partitions(10_000):
        fold_feature_days(((RawEvent(*row[:-1]), bool(row[-1])) for row in rows), tz, matchers, days)
    await write_feature_days(conn, tenant_id, days)


async def run_backfill(engine: AsyncEngine, tenant_id: int, feature_id: int) -> Feature | None:
    """Fold the feature's retained raw events day by day; None when the feature is gone or was changed
    meanwhile (the new definition's own run takes over)."""
    try:
        async with tenant_transaction(engine, tenant_id) as conn:
            found = await list_features(conn, feature_id=feature_id)
            if not found or found[0].backfill.status in ("done", "failed"):
                return found[0] if found else None
            feature = found[0]
            if feature.backfill.status == "queued" or feature.backfill.total_days is None:
                feature = await _start(conn, tenant_id, feature)
        while feature.backfill.processed_days < (feature.backfill.total_days or 0):
            async with tenant_transaction(engine, tenant_id) as conn:
                await lock_tenant(conn, tenant_id)
                current = (await conn.execute(text(
                    "SELECT updated_at FROM features WHERE tenant_id = :tenant AND id = :id FOR UPDATE"),
                    {"tenant": tenant_id, "id": feature_id})).scalar_one_or_none()
                if current != feature.updated_at:
                    return None
                tz, _ = await _tenant_zone(conn, tenant_id)
                assert feature.backfill.first_day is not None
                day = feature.backfill.first_day + timedelta(days=feature.backfill.processed_days)
                await _fold_day(conn, tenant_id, feature, day, tz)
                await conn.execute(text("UPDATE features SET backfill_processed = backfill_processed + 1 "
                                        "WHERE tenant_id = :tenant AND id = :id"),
                                   {"tenant": tenant_id, "id": feature_id})
                feature = (await list_features(conn, feature_id=feature_id))[0]
        async with tenant_transaction(engine, tenant_id) as conn:
            await conn.execute(text(
                "UPDATE features SET backfill_status = 'done', backfill_finished_at = now() "
                "WHERE tenant_id = :tenant AND id = :id AND updated_at = :updated"),
                {"tenant": tenant_id, "id": feature_id, "updated": feature.updated_at})
            found = await list_features(conn, feature_id=feature_id)
        return found[0] if found else None
    except Exception:
        log.exception("backfill of feature %s of tenant %s failed", feature_id, tenant_id)
        async with tenant_transaction(engine, tenant_id) as conn:
            await conn.execute(text(
                "UPDATE features SET backfill_status = 'failed', backfill_finished_at = now(), "
                "backfill_error = :error WHERE tenant_id = :tenant AND id = :id"),
                {"tenant": tenant_id, "id": feature_id,
                 "error": "the backfill failed; the worker log has the details (define the feature "
                          "again to retry)"})
        raise


async def pending_backfills(engine: AsyncEngine) -> list[tuple[int, int]]:
    """(tenant id, feature id) of every feature whose backfill is queued or running."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT tenant_id, feature_id FROM analytics_feature_backfills()"))
                ).all()
    return [(int(r.tenant_id), int(r.feature_id)) for r in rows]
