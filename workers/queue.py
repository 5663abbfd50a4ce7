"""Enqueueing rollup work: one coalesced job per tenant (``_job_id``), safe to call after every write."""

from __future__ import annotations

import asyncio
import logging
import time

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.exceptions import RedisError

ROLLUP_JOB = "roll_up_tenant"
EXPORT_JOB = "run_export"
SESSIONS_JOB = "maintain_sessions"
BOT_RULE_JOB = "apply_bot_rule"
SEGMENTS_JOB = "assign_segments"
FEATURE_BACKFILL_JOB = "backfill_feature"
EVENT_BACKFILL_JOB = "backfill_event_dimensions"
FUNNEL_JOB = "build_funnel"
IDENTITY_JOB = "rederive_identity"
ERASURE_JOB = "erase_user"
USER_EXPORT_JOB = "export_user"
EXPERIMENT_BACKFILL_JOB = "backfill_experiment"
SKETCHES_JOB = "build_sketches"
log = logging.getLogger("analytics.queue")


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


async def enqueue_export(redis: ArqRedis, tenant_id: int, job_id: str) -> bool:
    """Queue an export job (``export:<id>``: asking again while it is queued is a no-op)."""
    return await redis.enqueue_job(EXPORT_JOB, tenant_id, job_id, _job_id=f"export:{job_id}") is not None


# The sweeper's ids for session and rule jobs change every SWEEP_ID_SECONDS: a job whose worker was
# killed keeps arq's in-progress key for the longest job timeout (hours, because of exports), so a
# fixed id could not be queued again meanwhile. A job queued twice is harmless: the second one finds
# the first running (workers.jobs.single_run) and returns at once.
SWEEP_ID_SECONDS = 10


def _sweep_suffix(sweep: bool) -> str:
    return f":{int(time.time()) // SWEEP_ID_SECONDS}" if sweep else ""


async def enqueue_session_work(redis: ArqRedis, tenant_id: int, *, sweep: bool = False) -> bool:
    """Queue behavioural scoring and counter corrections for the tenant (coalesced per tenant)."""
    job_id = f"sessions:{tenant_id}{_sweep_suffix(sweep)}"
    return await redis.enqueue_job(SESSIONS_JOB, tenant_id, _job_id=job_id) is not None


async def enqueue_bot_rule(redis: ArqRedis, tenant_id: int, rule_id: int, *, sweep: bool = False) -> bool:
    """Queue a bot rule's retroactive run (``botrule:<tenant>:<id>``: asking again is a no-op)."""
    job_id = f"botrule:{tenant_id}:{rule_id}{_sweep_suffix(sweep)}"
    return await redis.enqueue_job(BOT_RULE_JOB, tenant_id, rule_id, _job_id=job_id) is not None


async def enqueue_segments(redis: ArqRedis, tenant_id: int, *, sweep: bool = False,
                           later: float | None = None) -> bool:
    """Queue the re-evaluation of the tenant's marked users (and its daily run when due); ``later``:
    in that many seconds, under an id of its own (asking again while one waits is a no-op)."""
    if later is not None:
        return await redis.enqueue_job(SEGMENTS_JOB, tenant_id, _job_id=f"segments:{tenant_id}:later",
                                       _defer_by=later) is not None
    job_id = f"segments:{tenant_id}{_sweep_suffix(sweep)}"
    return await redis.enqueue_job(SEGMENTS_JOB, tenant_id, _job_id=job_id) is not None


async def enqueue_sketches(redis: ArqRedis, tenant_id: int, *, later: float | None = None) -> bool:
    """Queue the sketching of the tenant's changed days (``sketches:<tenant>``: asking again while one
    is queued or running is a no-op); ``later``: in that many seconds."""
    return await redis.enqueue_job(SKETCHES_JOB, tenant_id, _job_id=f"sketches:{tenant_id}",
                                   _defer_by=later) is not None


async def enqueue_feature_backfill(redis: ArqRedis, tenant_id: int, feature_id: int, *,
                                   sweep: bool = False) -> bool:
    """Queue a feature's backfill (``feature:<tenant>:<id>``: asking again while queued is a no-op)."""
    job_id = f"feature:{tenant_id}:{feature_id}{_sweep_suffix(sweep)}"
    return await redis.enqueue_job(FEATURE_BACKFILL_JOB, tenant_id, feature_id, _job_id=job_id) is not None


async def enqueue_event_backfill(redis: ArqRedis, tenant_id: int, *, sweep: bool = False) -> bool:
    """Queue the tenant's dimension backfills (``eventdims:<tenant>``: coalesced per tenant)."""
    job_id = f"eventdims:{tenant_id}{_sweep_suffix(sweep)}"
    return await redis.enqueue_job(EVENT_BACKFILL_JOB, tenant_id, _job_id=job_id) is not None


async def enqueue_funnel_backfill(redis: ArqRedis, tenant_id: int, funnel_id: int, *,
                                  sweep: bool = False) -> bool:
    """Queue a funnel's backfill (``funnel:<tenant>:<id>``: asking again is a no-op)."""
    job_id = f"funnel:{tenant_id}:{funnel_id}{_sweep_suffix(sweep)}"
    return await redis.enqueue_job(FUNNEL_JOB, tenant_id, funnel_id, _job_id=job_id) is not None


async def enqueue_identity(redis: ArqRedis, tenant_id: int, *, sweep: bool = False) -> bool:
    """Queue the tenant's identity re-derivation (``identity:<tenant>``: asking again is a no-op)."""
    job_id = f"identity:{tenant_id}{_sweep_suffix(sweep)}"
    return await redis.enqueue_job(IDENTITY_JOB, tenant_id, _job_id=job_id) is not None


async def enqueue_erasure(redis: ArqRedis, tenant_id: int, erasure_id: str, *, sweep: bool = False) -> bool:
    """Queue an erasure (``erasure:<id>``; the sweeper's ids change, see SWEEP_ID_SECONDS)."""
    job_id = f"erasure:{erasure_id}{_sweep_suffix(sweep)}"
    return await redis.enqueue_job(ERASURE_JOB, tenant_id, erasure_id, _job_id=job_id) is not None


async def enqueue_user_export(redis: ArqRedis, tenant_id: int, export_id: str, *,
                              sweep: bool = False) -> bool:
    """Queue a person's access export (``userexport:<id>``)."""
    job_id = f"userexport:{export_id}{_sweep_suffix(sweep)}"
    return await redis.enqueue_job(USER_EXPORT_JOB, tenant_id, export_id, _job_id=job_id) is not None


async def enqueue_experiment_backfill(redis: ArqRedis, tenant_id: int, key: str) -> bool:
    """Queue the rebuild of an experiment's aggregates from raw events (a metric was added to it)."""
    job_id = f"experiment:{tenant_id}:{key}:{time.time_ns()}"
    return await redis.enqueue_job(EXPERIMENT_BACKFILL_JOB, tenant_id, key, _job_id=job_id) is not None


class RollupNotifier:
    """Queues a tenant's rollup off the request path, at most once per ``delay`` per tenant.

    Requests landing within ``delay`` of each other share one enqueue (one Redis round trip
    instead of one per request), and no request waits on Redis. If this process dies first, the
    outbox still holds the work and the sweeper queues it.
    """

    def __init__(self, redis: ArqRedis, delay: float = 0.01) -> None:
        self.redis, self.delay = redis, delay
        self._pending: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, tenant_id: int) -> None:
        if tenant_id in self._pending:
            return
        self._pending.add(tenant_id)
        task = asyncio.get_running_loop().create_task(self._enqueue(tenant_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _enqueue(self, tenant_id: int) -> None:
        await asyncio.sleep(self.delay)
        self._pending.discard(tenant_id)
        try:
            await enqueue_rollup(self.redis, tenant_id)
        except (OSError, RedisError) as exc:
            log.warning("could not queue the rollup of tenant %s (the sweeper will): %s", tenant_id, exc)

    async def drain(self) -> None:
        """Wait for queued notifications (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


# --- data versions: what a GET's answer may be reused under (api/answers.py) -----------------------

EVERY_TENANT = 0  # the version that jobs over all tenants (retention, daily segments) bump


def data_version_key(tenant_id: int) -> str:
    return f"analytics:data-version:{tenant_id}"


async def bump_data_version(redis: ArqRedis, tenant_id: int) -> None:
    """After a commit that may change the tenant's answers (``EVERY_TENANT``: every tenant's): GET
    answers remembered under the old version are no longer answered 304 without running."""
    try:
        await redis.incr(data_version_key(tenant_id))
    except (OSError, RedisError) as exc:  # the remembered answers also expire within a minute
        log.warning("could not bump the data version of tenant %s: %s", tenant_id, exc)
