"""The segments job runs at most every SEGMENTS_EVERY_SECONDS per tenant and worker process: a job
that comes sooner re-evaluates nobody and queues one for the interval's end, which then takes every
user marked meanwhile (nothing is lost, the marks wait in segment_dirty_users)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.settings import Settings
from tests.conftest import GraphQLClient, TenantKeys
from tests.segments.test_segments import custom, load
from workers import jobs
from workers.queue import connect


async def marked(engine: AsyncEngine, tenant_id: int) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM segment_dirty_users WHERE tenant_id = :t"),
                                       {"t": tenant_id})).scalar_one())


async def test_a_segments_job_sooner_than_the_interval_waits_for_it(
        gql: GraphQLClient, app_engine: AsyncEngine, owner_engine: AsyncEngine, make_tenant: Any,
        settings: Settings) -> None:
    tenant: TenantKeys = await make_tenant()
    redis = await connect(settings.redis_url or "")
    try:
        ctx = {"engine": app_engine, "redis": redis, "segments_started": {}}
        await load(gql, tenant, custom("a", date(2025, 5, 1), "deploy", 3), app_engine)
        assert await marked(owner_engine, tenant.id) == 1
        first = await jobs.assign_segments(ctx, tenant.id)
        assert first["users"] == 1 and await marked(owner_engine, tenant.id) == 0
        await load(gql, tenant, custom("b", date(2025, 5, 2), "deploy", 3), app_engine)
        sooner = await jobs.assign_segments(ctx, tenant.id)
        assert sooner == {"users": 0, "joined": 0, "left": 0}
        assert await marked(owner_engine, tenant.id) == 1  # b waits for the next run, still marked
        assert await redis.exists(f"arq:job:segments:{tenant.id}:later")  # ... which is queued
        ctx["segments_started"][tenant.id] -= jobs.SEGMENTS_EVERY_SECONDS  # the interval has passed
        later = await jobs.assign_segments(ctx, tenant.id)
        assert later["users"] == 1 and await marked(owner_engine, tenant.id) == 0
    finally:
        await redis.zrem("arq:queue", f"segments:{tenant.id}:later")  # no other test's worker waits for it
        await redis.delete(f"arq:job:segments:{tenant.id}:later")
        await redis.aclose()
