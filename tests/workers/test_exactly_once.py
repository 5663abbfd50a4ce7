"""Exactly once: counters equal a recomputation from raw events after failures of every kind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ingest.events import EventIn
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.rollups.recompute import verify_rollups
from analytics.rollups.service import RollupResult, roll_up_once
from analytics.settings import Settings
from tests.conftest import GraphQLClient, Servers, TenantKeys, event, outbox_rows

STARTS = """{ tenant { tour(id: "t1") { stats(range: {from: "2025-05-01", to: "2025-05-31"}) {
    starts completions stepViews } } } }"""


async def counter_rows(engine: AsyncEngine, tenant_id: int) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(
            text("SELECT count(*) FROM counters_hourly WHERE tenant_id = :t"),
            {"t": tenant_id})).scalar_one())


async def assert_counters_match_raw_events(engine: AsyncEngine, tenant_id: int) -> None:
    async with engine.connect() as conn:
        assert await verify_rollups(conn, tenant_id) == []


def some_events(count: int, day: int = 1) -> list[dict[str, Any]]:
    return [event("TourStarted", f"2025-05-{day:02d}T10:{i % 60:02d}:00Z", f"u{i}", tourId="t1")
            for i in range(count)]


async def test_a_claim_stops_at_its_event_bound_but_takes_one_batch_at_least(
        gql: GraphQLClient, make_tenant: Any, app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    for day in (1, 2, 3, 4):  # four outbox rows: 3, 3, 3 and 5 events
        assert (await gql.track(tenant.publishable, some_events(5 if day == 4 else 3, day)))["rejected"] == 0
    # Two rows make 6 events, within 6; a third would make 9.
    assert await roll_up_once(app_engine, tenant.id, claim_batches=10, claim_events=6) == RollupResult(2, 6)
    assert await roll_up_once(app_engine, tenant.id, claim_batches=10, claim_events=5) == RollupResult(1, 3)
    assert await roll_up_once(app_engine, tenant.id, claim_batches=10, claim_events=1) == RollupResult(1, 5)
    assert await outbox_rows(owner_engine, tenant.id) == 0
    await assert_counters_match_raw_events(owner_engine, tenant.id)


async def test_a_failed_rollup_transaction_changes_nothing(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, settings: Settings,
        app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    batch = [*some_events(10), event("StepViewed", "2025-05-01T11:00:00Z", "u1", tourId="t1", stepIndex=0)]
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 11
    # Fail the transaction midway: after the hourly and daily counters, at the distinct users.
    async with owner_engine.begin() as conn:
        await conn.execute(text(f"""CREATE FUNCTION fail_for_tenant_{tenant.id}() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN IF NEW.tenant_id = {tenant.id} THEN
            RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$"""))
        await conn.execute(text(f"CREATE TRIGGER fail_{tenant.id} BEFORE INSERT ON daily_users FOR EACH ROW "
                                f"EXECUTE FUNCTION fail_for_tenant_{tenant.id}()"))
    try:
        with pytest.raises(Exception, match="injected failure"):
            await roll_up_once(app_engine, tenant.id, claim_batches=10)
        assert await counter_rows(owner_engine, tenant.id) == 0
        assert await outbox_rows(owner_engine, tenant.id) == 1
    finally:
        async with owner_engine.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER fail_{tenant.id} ON daily_users"))
            await conn.execute(text(f"DROP FUNCTION fail_for_tenant_{tenant.id}()"))
    await run_worker()
    assert await outbox_rows(owner_engine, tenant.id) == 0
    data = await gql.data(tenant.secret, STARTS)
    assert data["tenant"]["tour"]["stats"] == {"starts": 10, "completions": 0, "stepViews": 1}
    await assert_counters_match_raw_events(owner_engine, tenant.id)


def _worker(servers: Servers, redis_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": redis_url,
           "ANALYTICS_ROLLUP_CLAIM_BATCHES": "1", "ANALYTICS_SWEEP_SECONDS": "1",
           "ANALYTICS_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_a_worker_killed_mid_run_loses_and_doubles_nothing(
        servers: Servers, make_tenant: Any, app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    partitions, batches, per_batch = PartitionCache(), 120, 250
    start = datetime(2025, 5, 3, tzinfo=UTC)
    for b in range(batches):
        events = [EventIn(id=str(uuid.uuid4()), type="TourStarted" if i % 5 else "TourCompleted",
                          timestamp=(start + timedelta(minutes=b, seconds=i)).isoformat(),
                          user_id=f"u{i}", tour_id="t1") for i in range(per_batch)]
        outcome = await ingest_batch(app_engine, partitions, tenant_id=tenant.id, events=events,
                                     retention_days=3650, max_future_seconds=86400)
        assert outcome.accepted == per_batch
    # A Redis database of its own: the killed worker's job stays behind there, not in the suite's.
    redis_url = servers.redis_url.rsplit("/", 1)[0] + "/3"
    worker = _worker(servers, redis_url)
    try:
        await _wait_for(lambda: _below(owner_engine, tenant.id, batches - 5), 60, "the rollup to start")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        left = await outbox_rows(owner_engine, tenant.id)
        assert 0 < left < batches, "the worker must be killed in the middle of the work"
        worker = _worker(servers, redis_url)
        await _wait_for(lambda: _below(owner_engine, tenant.id, 1), 90, "the restarted worker")
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(15)
        redis = Redis.from_url(redis_url)
        await redis.flushdb()
        await redis.aclose()
    await assert_counters_match_raw_events(owner_engine, tenant.id)
    async with owner_engine.connect() as conn:
        totals = dict((await conn.execute(text(
            "SELECT metric, sum(value) FROM counters_daily WHERE tenant_id = :t AND step_index = -1 "
            "GROUP BY metric"), {"t": tenant.id})).all())
    assert totals == {"starts": batches * per_batch * 4 // 5, "completions": batches * per_batch // 5}


async def _below(engine: AsyncEngine, tenant_id: int, rows: int) -> bool:
    return await outbox_rows(engine, tenant_id) < rows


async def test_a_flushed_redis_only_delays_counters(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, settings: Settings,
        owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    assert (await gql.track(tenant.publishable, some_events(7, day=9)))["accepted"] == 7
    redis = Redis.from_url(settings.redis_url or "")
    await redis.flushdb()  # the queued job is gone; the outbox row is not
    await redis.aclose()
    assert await outbox_rows(owner_engine, tenant.id) == 1
    await run_worker()
    data = await gql.data(tenant.secret, STARTS)
    assert data["tenant"]["tour"]["stats"]["starts"] == 7
    await assert_counters_match_raw_events(owner_engine, tenant.id)
