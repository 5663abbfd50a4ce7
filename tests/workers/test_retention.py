"""Retention: expired partitions dropped, raw events deleted per tenant to whole local days, counters kept."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.retention import enforce_retention
from analytics.rollups.recompute import verify_rollups
from analytics.sessions.correction import correct_dirty_days
from analytics.settings import Settings
from tests.conftest import GraphQLClient, Servers, TenantKeys, cli, event

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)  # New York: 07:00 EST; its cutoff day is still EDT
ROLLUP_DAYS = 760  # kept from local day 2024-10-16 on
RETENTION = "{ tenant { retention { rawDays rollupDays oldestRawEvent } } }"

# Per tenant: (time zone, final retention, tracked events, expected cutoff, events kept).
WEEK = ("UTC", 7, ["2026-10-20T10:00:00Z", "2026-11-06T23:30:00Z", "2026-11-07T00:30:00Z",
                   "2026-11-14T10:00:00Z"], datetime(2026, 11, 7, tzinfo=UTC), 2)
MONTH = ("America/New_York", 30, ["2026-10-15T03:30:00Z", "2026-10-15T04:30:00Z", "2026-11-10T12:00:00Z"],
         datetime(2026, 10, 15, 4, tzinfo=UTC), 2)  # local midnight of 2026-10-15 (EDT, UTC-4)
QUARTER = ("UTC", 90, ["2026-08-15T23:00:00Z", "2026-08-16T01:00:00Z", "2026-09-01T10:00:00Z"],
           datetime(2026, 8, 16, tzinfo=UTC), 2)
ANCIENT = datetime(2016, 3, 10, 10, 0, tzinfo=UTC)  # expired for every tenant: its partition goes


async def rows(engine: AsyncEngine, sql: str, tenant_id: int) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), {"t": tenant_id})).all())


async def partitions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'events'::regclass"))).scalars())


async def insert_old(owner_engine: AsyncEngine, tenant_id: int, at: datetime) -> None:
    """A raw event older than any retention (track would refuse it), written as the owner."""
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT analytics_ensure_event_partition(:at)"), {"at": at})
        await conn.execute(text("INSERT INTO events (tenant_id, occurred_at, id, type, user_id, tour_id) "
                                "VALUES (:t, :at, :id, 'TourStarted', 'old', 't1')"),
                           {"t": tenant_id, "at": at, "id": uuid.uuid4()})


async def insert_old_rollups(owner_engine: AsyncEngine, tenant_id: int) -> None:
    """Counters and content facts on both sides of the rollup cutoff (2024-10-16, UTC)."""
    async with owner_engine.begin() as conn:
        for day in (date(2024, 10, 15), date(2024, 10, 16)):
            await conn.execute(text(
                "INSERT INTO counters_daily (tenant_id, entity_type, entity_id, metric, day, value) "
                "VALUES (:t, 'tour', 't1', 'starts', :day, 5)"), {"t": tenant_id, "day": day})
        for at in (datetime(2024, 10, 15, 23, tzinfo=UTC), datetime(2024, 10, 16, tzinfo=UTC)):
            await conn.execute(text(
                "INSERT INTO counters_hourly (tenant_id, entity_type, entity_id, metric, bucket, value) "
                "VALUES (:t, 'tour', 't1', 'starts', :at, 5)"), {"t": tenant_id, "at": at})
            session = uuid.uuid4()
            await conn.execute(text(
                "INSERT INTO content_sessions (tenant_id, session_id, content_id, started_at) "
                "VALUES (:t, :s, 'c1', :at)"), {"t": tenant_id, "s": session, "at": at})
            await conn.execute(text(
                "INSERT INTO content_session_items (tenant_id, session_id, content_id, kind, key, count) "
                "VALUES (:t, :s, 'c1', 'cta_click', 'buy', 1)"), {"t": tenant_id, "s": session})


async def set_retention(owner_engine: AsyncEngine, tenant_id: int, days: int) -> None:
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE tenants SET raw_retention_days = :d WHERE id = :t"),
                           {"d": days, "t": tenant_id})


COUNTERS = "SELECT day, metric, step_index, bot, value FROM counters_daily WHERE tenant_id = :t ORDER BY 1, 2, 3, 4"
EVENTS = "SELECT occurred_at FROM events WHERE tenant_id = :t ORDER BY 1"


async def test_retention_keeps_whole_local_days_per_tenant_drops_expired_partitions_and_keeps_counters(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine,
        app_engine: AsyncEngine) -> None:
    tenants: list[tuple[TenantKeys, tuple[Any, ...]]] = []
    for case in (WEEK, MONTH, QUARTER):
        tenant = await make_tenant(timezone=case[0])  # long retention first, so everything is counted
        result = await gql.track(tenant.publishable, [event("TourStarted", at, tourId="t1") for at in case[2]])
        assert result["accepted"] == len(case[2])
        tenants.append((tenant, case))
    await run_worker()
    week, month, quarter = (t for t, _ in tenants)
    await insert_old(owner_engine, week.id, ANCIENT)
    await insert_old(owner_engine, month.id, ANCIENT.replace(day=20))
    await insert_old_rollups(owner_engine, quarter.id)
    counters_before = {t.id: await rows(owner_engine, COUNTERS, t.id) for t, _ in tenants}
    assert sum(r.value for r in counters_before[week.id] if r.step_index == -1) == 4
    for tenant, case in tenants:
        await set_retention(owner_engine, tenant.id, case[1])
    assert "events_2016_03" in await partitions(owner_engine)

    run = await enforce_retention(app_engine, now=NOW, rollup_days=ROLLUP_DAYS)

    assert "events_2016_03" in run.partitions_dropped
    assert "events_2016_03" not in await partitions(owner_engine)
    assert "events_2026_08" in await partitions(owner_engine)  # the 90-day tenant still has rows there
    done = {t.tenant_id: t for t in run.tenants}
    assert [(done[t.id].raw_events_from, done[t.id].events_dropped, done[t.id].events_deleted)
            for t in (week, month, quarter)] == [(WEEK[3], 1, 2), (MONTH[3], 1, 1), (QUARTER[3], 0, 1)]
    assert done[quarter.id].rollup_rows == {"counters_daily": 1, "counters_hourly": 1, "content_session_items": 1,
                                            "content_sessions": 1}
    assert [r.occurred_at for r in await rows(owner_engine, EVENTS, week.id)] == [
        datetime(2026, 11, 7, 0, 30, tzinfo=UTC), datetime(2026, 11, 14, 10, tzinfo=UTC)]
    assert [r.occurred_at for r in await rows(owner_engine, EVENTS, month.id)] == [
        datetime(2026, 10, 15, 4, 30, tzinfo=UTC), datetime(2026, 11, 10, 12, tzinfo=UTC)]
    assert [r.occurred_at for r in await rows(owner_engine, EVENTS, quarter.id)] == [
        datetime(2026, 8, 16, 1, tzinfo=UTC), datetime(2026, 9, 1, 10, tzinfo=UTC)]
    for tenant in (week, month):  # counters are the product: those of expired raw days stay
        assert await rows(owner_engine, COUNTERS, tenant.id) == counters_before[tenant.id]
    assert [r.day for r in await rows(owner_engine, COUNTERS, quarter.id)] == [
        r.day for r in counters_before[quarter.id] if r.day >= date(2024, 10, 16)]
    for tenant, _ in tenants:
        async with owner_engine.connect() as conn:
            assert await verify_rollups(conn, tenant.id) == []
        async with tenant_transaction(app_engine, tenant.id) as conn:
            assert await verify_rollups(conn, tenant.id) == []
    assert (await gql.data(week.secret, RETENTION))["tenant"]["retention"] == {
        "rawDays": 7, "rollupDays": 760, "oldestRawEvent": "2026-11-07T00:30:00+00:00"}

    again = await enforce_retention(app_engine, now=NOW, rollup_days=ROLLUP_DAYS)
    assert [(t.raw_events_from, t.removed) for t in again.tenants if t.tenant_id == week.id] == [(WEEK[3], 0)]


async def test_a_correction_of_a_day_before_raw_events_from_leaves_its_counters(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine,
        app_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    at = ["2026-11-06T10:00:00Z", "2026-11-06T11:00:00Z", "2026-11-14T10:00:00Z"]
    assert (await gql.track(tenant.publishable, [event("TourStarted", a, tourId="t1") for a in at]))[
        "accepted"] == 3
    await run_worker()
    await set_retention(owner_engine, tenant.id, 7)
    await enforce_retention(app_engine, now=NOW, rollup_days=ROLLUP_DAYS)
    before = await rows(owner_engine, COUNTERS, tenant.id)
    assert [(r.day, r.value) for r in before if r.metric == "starts" and r.step_index == -1] == [
        (date(2026, 11, 6), 2), (date(2026, 11, 14), 1)]
    async with tenant_transaction(app_engine, tenant.id) as conn:
        await conn.execute(text("INSERT INTO dirty_days (tenant_id, day) VALUES (:t, '2026-11-06'), "
                                "(:t, '2026-11-14')"), {"t": tenant.id})
        assert await correct_dirty_days(conn, tenant.id, ZoneInfo("UTC")) == [date(2026, 11, 6),
                                                                              date(2026, 11, 14)]
    assert await rows(owner_engine, COUNTERS, tenant.id) == before
    assert await rows(owner_engine, "SELECT day FROM dirty_days WHERE tenant_id = :t", tenant.id) == []
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_the_worker_job_enforces_retention_now_and_counts_what_it_removed(
        make_tenant: Any, owner_engine: AsyncEngine, app_engine: AsyncEngine, settings: Settings) -> None:
    from workers import jobs
    from workers.telemetry import RETENTION_REMOVED, job_metric_families

    tenant = await make_tenant(retention_days=30)
    await insert_old(owner_engine, tenant.id, datetime.now(UTC) - timedelta(days=400))
    redis = Redis.from_url(settings.redis_url or "")
    try:
        before = float(await redis.hget(RETENTION_REMOVED, "events") or 0)
        done = await jobs.enforce_retention_now({"engine": app_engine, "settings": settings, "redis": redis})
        assert done["events"] >= 1
        assert float(await redis.hget(RETENTION_REMOVED, "events") or 0) == before + done["events"]
        families = {f.name: f for f in await job_metric_families(redis)}
        samples = {s.labels.get("table"): s.value for s in families["analytics_retention_removed_rows"].samples}
        assert samples["events"] == before + done["events"]
    finally:
        await redis.aclose()
    assert await rows(owner_engine, EVENTS, tenant.id) == []


async def test_tenants_may_set_raw_retention_from_a_week_to_the_rollup_retention(
        gql: GraphQLClient, make_tenant: Any, servers: Servers) -> None:
    tenant = await make_tenant(retention_days=90)
    assert (await gql.data(tenant.secret, RETENTION))["tenant"]["retention"] == {
        "rawDays": 90, "rollupDays": 760, "oldestRawEvent": None}
    for days in ("6", "761"):
        refused = cli(servers, "tenants", "update", tenant.name, "--retention-days", days)
        assert refused.returncode == 2
        assert f"--retention-days: must be from 7 to 760 days (the rollup retention), not {days}" in " ".join(
            refused.stderr.split())
    done = cli(servers, "tenants", "update", tenant.name, "--retention-days", "30")
    assert done.returncode == 0, done.stderr
    assert f"{tenant.name}: raw events kept 30 days" in done.stdout
    assert (await gql.data(tenant.secret, RETENTION))["tenant"]["retention"]["rawDays"] == 30
