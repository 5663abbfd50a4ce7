"""Funnel progress under worker SIGKILLs: killed while the rollup folds events into a defined funnel,
and killed in the middle of a funnel's backfill; afterwards the progress rows equal the
recomputation from raw events (verify_rollups runs the funnel consumer's check)."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from analytics.rollups.recompute import verify_rollups
from tests.faults.harness import (
    TOUR,
    RetryingClient,
    Stack,
    Tally,
    http_client,
    kill_working_worker,
    make_tenant,
    scale,
    settle_and_check,
    sustained_ingest,
    tour_events,
    wait_for,
)
from tests.faults.test_faults import stack, worker_running  # noqa: F401  (the same stack fixtures)

pytestmark = pytest.mark.faults

DEFINE = ("mutation($input: DefineFunnelInput!) { defineFunnel(input: $input) { id backfill { status } } }")
FUNNEL = {"name": "tour", "windowSeconds": 3600, "steps": [
    {"matcher": {"event": "TourStarted", "where": [{"property": "tourId", "op": "EQ", "value": TOUR}]}},
    {"matcher": {"event": "StepViewed"}}, {"matcher": {"event": "TourCompleted"}}]}
BACKFILL = "query($id: ID!) { tenant { funnel(id: $id) { backfill { status processed total } } } }"


async def _define(http: Any, running: Stack, secret: str, body: dict[str, Any]) -> str:
    answer = await http.post(f"{running.api_url}/graphql", json={"query": DEFINE, "variables": {"input": body}},
                             headers={"Authorization": f"Bearer {secret}"})
    funnel_id: str = answer.json()["data"]["defineFunnel"]["id"]
    return funnel_id


async def test_funnel_progress_after_the_worker_is_killed_during_ingest_equals_the_recomputation(
        stack: Stack) -> None:  # noqa: F811
    kills, started = scale(2, 10), time.monotonic()
    tenant, tally, rng = await make_tenant(stack), Tally(), random.Random(31)
    stop = asyncio.Event()
    async with http_client() as http, stack.owner() as engine:
        await _define(http, stack, tenant.secret, FUNNEL)
        client = RetryingClient(http, stack.api_url, tenant.publishable, tally)
        ingest = asyncio.create_task(sustained_ingest(client, rng, stop, max_batches=scale(200, 2000)))
        try:
            for _ in range(kills):
                await kill_working_worker(stack, engine, tenant.id, rng)
                stack.worker.start()
        finally:
            stop.set()
            await asyncio.wait_for(ingest, 120)
        summary = await settle_and_check(stack, tenant, tally, http, fault=f"funnel: worker SIGKILLed {kills} times",
                                         started=started, notes="a funnel defined")
        async with engine.connect() as conn:
            attempts = (await conn.execute(text("SELECT count(*) FROM funnel_attempts WHERE tenant_id = :t"),
                                           {"t": tenant.id})).scalar_one()
    assert attempts > 0
    summary.assert_exactly_once()  # counters_equal covers funnel_attempts against the recomputation


async def test_a_funnel_backfill_killed_mid_run_is_finished_by_the_sweeper_and_equals_the_recomputation(
        stack: Stack) -> None:  # noqa: F811
    tenant = await make_tenant(stack)
    redis = Redis.from_url(stack.redis_url)
    async with http_client() as http, stack.owner() as engine:
        client = RetryingClient(http, stack.api_url, tenant.publishable, Tally())
        await client.send(tour_events(200, random.Random(32)))
        await wait_for(lambda: _idle(engine, tenant.id), 60, "the rollup and the segments job")
        headers = {"Authorization": f"Bearer {tenant.secret}"}
        stack.worker.pause()  # the backfill job is queued but not taken until the lock below is held
        funnel_id = await _define(http, stack, tenant.secret, FUNNEL)
        async with engine.connect() as holder:  # the tenant's lock: the backfill waits for it inside its batch
            await holder.execute(text("SELECT pg_advisory_lock(CAST(:t AS bigint))"), {"t": tenant.id})
            await holder.commit()
            stack.worker.resume()
            # The job queued by defineFunnel, or the sweeper's copy (its id ends in a time slot).
            key = f"arq:in-progress:funnel:{tenant.id}:{funnel_id}"
            await wait_for(lambda: _exists(redis, key), 30, "the backfill to start", every=0.02)
            await asyncio.sleep(0.3)
            stack.worker.kill()
            stack.worker.start()
            await holder.execute(text("SELECT pg_advisory_unlock(CAST(:t AS bigint))"), {"t": tenant.id})
            await holder.commit()

        async def finished() -> bool:
            answer = await http.post(f"{stack.api_url}/graphql", json={"query": BACKFILL, "variables": {
                "id": funnel_id}}, headers=headers)
            return bool(answer.json()["data"]["tenant"]["funnel"]["backfill"]["status"] == "done")

        try:
            await wait_for(finished, 30, "the sweeper to run the killed backfill again", every=0.5)
        finally:
            await redis.aclose()
        async with engine.connect() as conn:
            assert await verify_rollups(conn, tenant.id) == []
            attempts = (await conn.execute(text("SELECT count(*) FROM funnel_attempts WHERE tenant_id = :t"),
                                           {"t": tenant.id})).scalar_one()
    assert attempts > 0


async def _idle(engine: Any, tenant_id: int) -> bool:
    """The rollup and the jobs after it (segments) are done and nobody holds the tenant's lock: a worker
    paused now holds nothing that defineFunnel would wait for."""
    async with engine.connect() as conn:
        return bool((await conn.execute(text(
            "SELECT NOT EXISTS (SELECT 1 FROM outbox WHERE tenant_id = :t) "
            "AND NOT EXISTS (SELECT 1 FROM segment_dirty_users WHERE tenant_id = :t) "
            "AND NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
            "AND objid = CAST(:t AS bigint) % 4294967296)"), {"t": tenant_id})).scalar_one())


async def _exists(redis: Redis, key: str) -> bool:
    """``key`` or a sweeper's copy of it (``key:<time slot>``) is in Redis."""
    if await redis.exists(key):
        return True
    async for _ in redis.scan_iter(match=f"{key}:*", count=1000):
        return True
    return False
