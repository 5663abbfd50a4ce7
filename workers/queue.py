"""Enqueueing rollup work: one coalesced job per tenant (``_job_id``), safe to call after every write."""

from __future__ import annotations

import time

from arq.connections import ArqRedis, RedisSettings, create_pool

ROLLUP_JOB = "roll_up_tenant"


def redis_settings(url: str) -> RedisSettings:
    return RedisSettings.from_dsn(url)


async def connect(url: str) -> ArqRedis:
    return await create_pool(redis_settings(url))


async def enqueue_rollup(redis: ArqRedis, tenant_id: int, *, sweep: bool = False) -> bool:
    """Queue a rollup for the tenant unless one is already queued; True when newly queued.

    Ingest coalesces on ``rollup:<tenant>``. The sweeper uses a per-second id instead, so a job
    stuck behind a killed worker's in-progress key cannot hold a tenant back: the outbox rows are
    claimed with SKIP LOCKED, so two jobs for one tenant never fold the same batch twice.
    """
    job_id = f"rollup:{tenant_id}:{int(time.time())}" if sweep else f"rollup:{tenant_id}"
    return await redis.enqueue_job(ROLLUP_JOB, tenant_id, _job_id=job_id) is not None
