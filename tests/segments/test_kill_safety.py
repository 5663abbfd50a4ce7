"""Segment assignments after a worker SIGKILL in the middle of the segments job equal a
re-evaluation (analytics rollups verify), and the restarted worker finishes the rest exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ingest.events import EventIn
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.rollups.recompute import verify_rollups
from analytics.rollups.service import roll_up
from tests.conftest import Servers, TenantKeys

USERS = 16_000


def _worker(servers: Servers, redis_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": redis_url,
           "ANALYTICS_SWEEP_SECONDS": "1", "ANALYTICS_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _count(engine: AsyncEngine, sql: str, tenant_id: int) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), {"t": tenant_id})).scalar_one())


async def _wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


DIRTY = "SELECT count(*) FROM segment_dirty_users WHERE tenant_id = :t"


async def test_a_worker_killed_mid_assignment_leaves_consistent_assignments(
        servers: Servers, make_tenant: Any, app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    partitions = PartitionCache()
    start = datetime.now(UTC) - timedelta(days=20)
    for b in range(0, USERS, 1000):
        events = [EventIn(id=str(uuid.uuid4()), type="Custom", name="deploy",
                          timestamp=(start + timedelta(days=i % 19, seconds=i)).isoformat(),
                          user_id=f"u{i}") for i in range(b, b + 1000)]
        outcome = await ingest_batch(app_engine, partitions, tenant_id=tenant.id, events=events,
                                     retention_days=3650, max_future_seconds=86400)
        assert outcome.accepted == 1000
    await roll_up(app_engine, tenant.id, claim_batches=100)
    assert await _count(owner_engine, DIRTY, tenant.id) == USERS
    redis_url = servers.redis_url.rsplit("/", 1)[0] + "/4"
    worker = _worker(servers, redis_url)
    try:
        await _wait_for(lambda: _count_below(owner_engine, tenant.id, USERS), 90, "the segments job to start")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        left = await _count(owner_engine, DIRTY, tenant.id)
        assert 0 < left < USERS, "the worker must be killed in the middle of the work"
        async with owner_engine.connect() as conn:
            assert await verify_rollups(conn, tenant.id) == []  # done users equal, the rest still marked
        worker = _worker(servers, redis_url)
        await _wait_for(lambda: _count_below(owner_engine, tenant.id, 1), 120, "the restarted worker")
    finally:
        worker.send_signal(signal.SIGINT)
        worker.wait(15)
        redis = Redis.from_url(redis_url)
        await redis.flushdb()
        await redis.aclose()
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
        # Every user is in exactly one built-in segment, with one open row, and no history was doubled.
        rows = (await conn.execute(text(
            "SELECT count(*), count(DISTINCT user_key), count(*) FILTER (WHERE valid_to IS NOT NULL) "
            "FROM segment_members WHERE tenant_id = :t"), {"t": tenant.id})).one()
    assert tuple(rows) == (USERS, USERS, 0)


async def _count_below(engine: AsyncEngine, tenant_id: int, rows: int) -> bool:
    return await _count(engine, DIRTY, tenant_id) < rows
