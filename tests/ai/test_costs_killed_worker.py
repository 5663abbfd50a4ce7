"""A worker SIGKILLed in the middle of rolling up AI requests: the restarted worker finishes the
work, and every cost figure equals the recomputation from the raw events (nothing lost or doubled)."""

from __future__ import annotations

import signal
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.ingest.details import AIDetails
from analytics.ingest.events import EventIn
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.rollups.recompute import verify_rollups
from tests.conftest import Servers, outbox_rows
from tests.workers.test_exactly_once import _below, _wait_for, _worker


async def test_a_worker_killed_mid_rollup_loses_and_doubles_no_cost(
    servers: Servers, make_tenant: Any, app_engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    partitions, batches, per_batch = PartitionCache(), 100, 200
    start = datetime(2026, 10, 3, tzinfo=UTC)
    for b in range(batches):
        events = [
            EventIn(
                id=str(uuid.uuid4()),
                type="AIRequest",
                user_id=f"u{i % 7}",
                timestamp=(start + timedelta(minutes=b, seconds=i)).isoformat(),
                ai=AIDetails(
                    provider="openai",
                    model="gpt-4o" if i % 4 else "private-1",
                    agent=f"agent-{i % 3}",
                    input_tokens=1000,
                    output_tokens=100,
                    latency_ms=100 + i,
                ),
            )
            for i in range(per_batch)
        ]
        outcome = await ingest_batch(
            app_engine,
            partitions,
            tenant_id=tenant.id,
            events=events,
            retention_days=3650,
            max_future_seconds=86400,
        )
        assert outcome.accepted == per_batch
    redis_url = servers.redis_url.rsplit("/", 1)[0] + "/4"
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
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert await verify_rollups(conn, tenant.id) == []
        totals = (
            await conn.execute(
                text(
                    "SELECT sum(tokens), sum(unpriced_tokens), sum(cost) FROM ai_usage_hourly WHERE tenant_id = :t"
                ),
                {"t": tenant.id},
            )
        ).one()
        requests = (
            await conn.execute(
                text("SELECT sum(requests) FROM ai_requests_hourly WHERE tenant_id = :t"), {"t": tenant.id}
            )
        ).scalar_one()
    # 20,000 requests of 1,100 tokens; a quarter on private-1 (no price); gpt-4o: $2.5 in, $10 out.
    assert requests == batches * per_batch
    assert totals == (22_000_000, 5_500_000, Decimal(15_000) * (Decimal("0.0025") + Decimal("0.001")))
