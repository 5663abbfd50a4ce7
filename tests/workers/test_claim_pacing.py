"""Claim pacing (analytics.rollups.pacing): under load a tenant's small claims are spaced so one
transaction folds many events, a trickle and a backlog are not, one run folds a tenant per process,
and a paced run folds everything, announces each claim and stops at its budget. Also the per-process
leases of rate-limit tokens (api.ratelimit), shared by requests that arrive together."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ingest.events import EventIn
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.rollups.pacing import ClaimPacer
from analytics.rollups.recompute import verify_rollups
from analytics.rollups.service import roll_up
from analytics.settings import Settings
from api.ratelimit import Bucket, RateLimiter
from tests.conftest import Servers, TenantKeys, outbox_rows
from workers.jobs import roll_up_tenant
from workers.queue import connect, data_version_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_busy_claims_of_many_events_are_spaced_by_the_interval() -> None:
    clock = Clock()
    pacer = ClaimPacer(0.25, clock=clock)
    pacer.claimed(1, 100.0, 80, full=False)  # the first claim: nothing to compare with
    assert pacer.delay(1) == 0.0
    clock.now = 100.16  # the next one began at 100.1 and took 60 of the 100 ms since: busy
    pacer.claimed(1, 100.1, 80, full=False)
    assert pacer.delay(1) == pytest.approx(0.19)  # until 0.25 s after that claim began
    clock.now = 100.5
    assert pacer.delay(1) == 0.0  # the interval has passed


def test_a_trickle_tiny_claims_a_backlog_and_no_interval_are_not_paced() -> None:
    clock = Clock()
    pacer = ClaimPacer(0.25, clock=clock)
    pacer.claimed(1, 100.0, 80, full=False)
    clock.now = 101.01  # a claim of 10 ms a second after the one before: the worker is mostly idle
    pacer.claimed(1, 101.0, 80, full=False)
    assert pacer.delay(1) == 0.0
    pacer.claimed(2, 100.0, 20, full=False)
    clock.now = 100.1  # busy, but 20 events: a client waiting for each small batch to show
    pacer.claimed(2, 100.02, 20, full=False)
    assert pacer.delay(2) == 0.0
    pacer.claimed(3, 100.0, 80, full=False)
    pacer.claimed(3, 100.02, 20_000, full=True)  # a full claim: rows are waiting, claim at once
    assert pacer.delay(3) == 0.0
    off = ClaimPacer(0, clock=clock)
    off.claimed(4, 100.0, 80, full=False)
    off.claimed(4, 100.02, 80, full=False)
    assert off.delay(4) == 0.0


def test_one_run_folds_a_tenant_and_another_asks_it_to_claim_again() -> None:
    pacer = ClaimPacer(0.25)
    assert pacer.begin(7)
    assert pacer.begin(8)  # another tenant runs beside it
    assert not pacer.asked_again(7)
    assert not pacer.begin(7)  # a second run of tenant 7 returns ...
    assert pacer.asked_again(7)  # ... and the first claims once more
    assert not pacer.asked_again(7)
    pacer.end(7)
    assert pacer.begin(7)


def _event(user: str) -> EventIn:
    return EventIn(id=str(uuid.uuid4()), type="TourStarted", timestamp="2025-05-01T10:00:00Z",
                   user_id=user, tour_id="t1")


async def _rows(app_engine: AsyncEngine, tenant_id: int, count: int) -> None:
    partitions = PartitionCache()
    for i in range(count):  # one outbox row each (no group commit)
        await ingest_batch(app_engine, partitions, tenant_id=tenant_id, events=[_event(f"u{i}")],
                           retention_days=3650, max_future_seconds=86_400)


async def test_a_paced_run_folds_everything_and_announces_each_claim(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    await _rows(app_engine, tenant.id, 5)
    announced: list[int] = []

    async def after_claim() -> None:
        announced.append(await outbox_rows(owner_engine, tenant.id))

    result = await roll_up(app_engine, tenant.id, claim_batches=2, pacer=ClaimPacer(0.01),
                           after_claim=after_claim)
    assert (result.batches, result.events, result.more) == (5, 5, False)
    assert announced == [3, 1, 0]  # after each committed claim: 2 + 2 + 1 rows
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_a_paced_run_stops_at_its_budget_and_says_so(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    await _rows(app_engine, tenant.id, 5)
    pacer = ClaimPacer(0.01, budget=0.0)
    first = await roll_up(app_engine, tenant.id, claim_batches=4, pacer=pacer)
    # The full claim of 4 rows went on at once; the small claim after it ended the run at the budget.
    assert (first.batches, first.more) == (5, True)
    again = await roll_up(app_engine, tenant.id, claim_batches=4, pacer=pacer)
    assert (again.batches, again.more) == (0, False)
    assert await outbox_rows(owner_engine, tenant.id) == 0


async def test_the_rollup_job_folds_announces_and_steps_aside_for_a_run_going(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, make_tenant: Any, settings: Settings) -> None:
    tenant: TenantKeys = await make_tenant()
    await _rows(app_engine, tenant.id, 3)
    redis = await connect(settings.redis_url or "")
    try:
        ctx = {"engine": app_engine, "settings": settings, "redis": redis, "pacer": ClaimPacer(0.25)}

        async def version() -> int:
            return int(await redis.get(data_version_key(tenant.id)) or 0)

        assert ctx["pacer"].begin(tenant.id)  # a run of this tenant is going in this process
        assert await roll_up_tenant(ctx, tenant.id) == {"batches": 0, "events": 0}
        assert await outbox_rows(owner_engine, tenant.id) == 3 and await version() == 0  # nothing ran
        assert ctx["pacer"].asked_again(tenant.id)  # ... and the run going was asked to claim again
        assert not ctx["pacer"].end(tenant.id)
        assert await roll_up_tenant(ctx, tenant.id) == {"batches": 3, "events": 3}
        assert await outbox_rows(owner_engine, tenant.id) == 0
        assert await version() == 2  # after the claim, and once the job ended
    finally:
        await redis.aclose()


async def test_requests_arriving_together_share_one_lease(servers: Servers) -> None:
    redis = Redis.from_url(servers.redis_url)
    try:
        limiter = RateLimiter(redis, read=(0.001, 40_000), ingest=(0.001, 100_000))  # read leases of 400
        who = f"key:{uuid.uuid4().hex}"
        verdicts = await asyncio.gather(*(limiter.spend(Bucket.READ, who, 50) for _ in range(12)))
        assert all(v.allowed for v in verdicts)
        # 600 tokens of reads took two leases (800), not one lease each (4,800).
        assert round(float(await redis.hget(f"analytics:rate:read:{who}", "tokens") or 0)) == 40_000 - 800
    finally:
        await redis.aclose()
