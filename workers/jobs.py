"""Jobs: the per-tenant rollup, session scoring and corrections, bot rules, erasures and access
exports, the sweeper, the partition keeper and retention."""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ai.sync import sync_all_tenants
from analytics.custom_events.backfill import backfill_tenant, tenants_with_backfills
from analytics.db import create_engine
from analytics.experiments.backfill import backfill_experiment as rebuild_experiment
from analytics.export_jobs import run_job
from analytics.features.backfill import pending_backfills, run_backfill
from analytics.funnels import backfill as funnel_backfill
from analytics.retention import enforce_retention
from analytics.rollups.pacing import ClaimPacer
from analytics.rollups.recompute import analyze_rollups
from analytics.rollups.service import RollupResult, outbox_waiting, pending_tenants, roll_up
from analytics.rollups.sketches import build_sketches as sketch_days
from analytics.rollups.sketches import pending_sketch_work
from analytics.segments.assign import assign_marked, pending_segment_work, start_daily
from analytics.sessions.identity import tenants_to_rederive
from analytics.sessions.service import maintain_sessions as maintain
from analytics.sessions.service import pending_session_work, run_bot_rule, run_identity_rederivation
from analytics.settings import load_settings
from analytics.users import access, erasure
from workers.business_metrics import refresh_business_metrics
from workers.queue import (
    EVERY_TENANT,
    bump_data_version,
    enqueue_bot_rule,
    enqueue_erasure,
    enqueue_event_backfill,
    enqueue_feature_backfill,
    enqueue_funnel_backfill,
    enqueue_identity,
    enqueue_rollup,
    enqueue_segments,
    enqueue_session_work,
    enqueue_sketches,
    enqueue_user_export,
)
from workers.telemetry import record_retention

log = logging.getLogger("analytics.worker")
Job = TypeVar("Job", bound=Callable[..., Awaitable[Any]])


def changes_answers(job: Job) -> Job:
    """A job ``(ctx, tenant_id, ...)`` that writes what reads answer: bump the tenant's data version
    once it has committed (whatever its outcome), so no GET is answered 304 from before it."""
    @functools.wraps(job)
    async def run(ctx: dict[str, Any], tenant_id: int, *args: Any, **kwargs: Any) -> Any:
        try:
            return await job(ctx, tenant_id, *args, **kwargs)
        finally:
            await bump_data_version(ctx["redis"], tenant_id)

    return cast(Job, run)


async def startup(ctx: dict[str, Any]) -> None:
    settings = load_settings()
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL is not set for the worker")
    ctx["settings"] = settings
    ctx["engine"] = create_engine(settings.database_url, role=settings.app_role, pool_size=4)
    # arq copies startup's ctx for each job (a shallow copy): what jobs share must be made here.
    ctx["pacer"] = ClaimPacer(settings.rollup_pace_seconds)
    ctx["folded_since_analyze"] = {}
    ctx["segments_started"] = {}  # tenant -> when its last segments run began (monotonic)


async def startup_and_sweep(ctx: dict[str, Any]) -> None:
    """Startup for burst workers: queue every tenant with outbox rows, then drain the queue."""
    await startup(ctx)
    ctx["burst"] = True
    await sweep_outbox(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    await ctx["engine"].dispose()


async def roll_up_tenant(ctx: dict[str, Any], tenant_id: int) -> dict[str, int]:
    """Fold the tenant's outbox into its counters (each claim is one all-or-nothing transaction).
    One run per tenant per process: a job that finds one going asks it to claim once more and
    returns at once (nothing ran, so nothing is announced)."""
    pacer: ClaimPacer = ctx["pacer"]
    if not pacer.begin(tenant_id):
        return {"batches": 0, "events": 0}
    return await _fold_tenant(ctx, tenant_id)


@changes_answers
async def _fold_tenant(ctx: dict[str, Any], tenant_id: int) -> dict[str, int]:
    settings = ctx["settings"]
    pacer: ClaimPacer = ctx["pacer"]

    async def claimed() -> None:  # reads follow each claim, not only the end of a paced run
        await bump_data_version(ctx["redis"], tenant_id)

    result, began, finished = RollupResult(0, 0), pacer.clock(), False
    try:
        while True:
            step = await roll_up(ctx["engine"], tenant_id, claim_batches=settings.rollup_claim_batches,
                                 claim_events=settings.rollup_claim_events, pacer=pacer,
                                 after_claim=claimed)
            result = RollupResult(result.batches + step.batches, result.events + step.events, step.more)
            if step.more or not pacer.asked_again(tenant_id):
                break
            if pacer.clock() - began >= pacer.budget:  # asked again and again: one budget a job
                result = replace(result, more=True)
                break
        finished = True
    finally:
        if pacer.end(tenant_id) and not finished:  # a job stepped aside for a run that failed
            await _enqueue_quietly(ctx, tenant_id)
    if result.more:  # stopped at its bound under steady load: the next run goes on (own job id)
        await _enqueue_quietly(ctx, tenant_id)
    if result.batches:
        log.info("rolled up tenant=%s batches=%s events=%s", tenant_id, result.batches, result.events)
        await enqueue_session_work(ctx["redis"], tenant_id)
        await enqueue_segments(ctx["redis"], tenant_id)
        await _analyze_after_bulk(ctx, tenant_id, result.events)
    return {"batches": result.batches, "events": result.events}


async def _enqueue_quietly(ctx: dict[str, Any], tenant_id: int) -> None:
    try:
        await enqueue_rollup(ctx["redis"], tenant_id, sweep=True)
    except (OSError, RedisError) as exc:  # the sweeper queues it within a second
        log.warning("could not queue the rollup of tenant %s again: %s", tenant_id, exc)


ANALYZE_AFTER_EVENTS = 50_000


async def _analyze_after_bulk(ctx: dict[str, Any], tenant_id: int, events: int) -> None:
    """Once a bulk load (``analytics dev --demo``, an import) is folded, refresh the planner statistics
    of the rollup tables: autovacuum's analyze comes a minute or more later, and until then plans
    made for empty tables (nested loops over "one row") made reads such as segments(range) time out.
    Counted per worker process: every ANALYZE_AFTER_EVENTS events folded for a tenant whose outbox is
    then empty. Only the owner may ANALYZE: a second, short-lived owner engine does it."""
    folded = ctx.setdefault("folded_since_analyze", {})
    folded[tenant_id] = folded.get(tenant_id, 0) + events
    if folded[tenant_id] < ANALYZE_AFTER_EVENTS or await outbox_waiting(ctx["engine"], tenant_id):
        return
    folded[tenant_id] = 0
    await analyze_rollups(ctx["settings"].database_url)
    log.info("analyzed the rollup tables after a bulk load tenant=%s", tenant_id)


@asynccontextmanager
async def single_run(engine: AsyncEngine, kind: int, key: int) -> AsyncIterator[bool]:
    """Whether this job is the only one doing (kind, key) now: a PostgreSQL session lock held on a
    connection of its own for the job's length. A killed worker's connection dies with it, so the
    lock goes too and the sweeper's next copy of the job runs; a copy queued while the first one
    still runs gets False and returns at once."""
    key = key % 2**31  # the two-int4 form; a rare collision only makes a copy wait for the sweeper
    async with engine.connect() as conn:
        taken = bool((await conn.execute(text("SELECT pg_try_advisory_lock(:kind, :key)"),
                                         {"kind": kind, "key": key})).scalar())
        await conn.commit()
        try:
            yield taken
        finally:
            if taken:
                await conn.execute(text("SELECT pg_advisory_unlock(:kind, :key)"), {"kind": kind, "key": key})
                await conn.commit()


# Lock kinds: two int4 keys never meet the tenant lock's bigint.
SESSIONS_LOCK, BOT_RULE_LOCK, SEGMENTS_LOCK, FEATURE_LOCK, EVENT_BACKFILL_LOCK, FUNNEL_LOCK = 1, 2, 3, 4, 5, 6
IDENTITY_LOCK, USER_JOB_LOCK = 7, 8
PRICE_SYNC_LOCK, SKETCH_LOCK = 10, 11


# A changed past day is sketched again this long after the sweeper first finds it (one queued job per
# tenant meanwhile): while a backfill or a late drain keeps changing a day, it is rebuilt about twice a
# minute instead of after every claim (each rebuild reads the whole day); until then it is read exactly.
SKETCH_DELAY_SECONDS = 30.0


@changes_answers
async def maintain_sessions(ctx: dict[str, Any], tenant_id: int) -> dict[str, int]:
    """Tier 3: score the sessions the rollup changed; then correct days whose counts changed side."""
    async with single_run(ctx["engine"], SESSIONS_LOCK, tenant_id) as alone:
        if not alone:
            return {"scored": 0, "flag_changes": 0, "corrected_days": 0}
        done = await maintain(ctx["engine"], tenant_id, correction_delay=correction_delay(ctx))
    if done.flag_changes or done.corrected_days:
        log.info("sessions tenant=%s scored=%s flag_changes=%s corrected_days=%s", tenant_id,
                 done.scored, done.flag_changes, len(done.corrected_days))
    return {"scored": done.scored, "flag_changes": done.flag_changes,
            "corrected_days": len(done.corrected_days)}


def correction_delay(ctx: dict[str, Any]) -> timedelta:
    return timedelta(seconds=ctx["settings"].correction_delay_seconds)


@changes_answers
async def apply_bot_rule(ctx: dict[str, Any], tenant_id: int, rule_id: int) -> dict[str, Any]:
    """Flag existing sessions by a tenant bot rule and correct the affected days' counters."""
    async with single_run(ctx["engine"], BOT_RULE_LOCK, rule_id) as alone:
        if not alone:
            return {"sessions_flagged": None}
        rule = await run_bot_rule(ctx["engine"], tenant_id, rule_id)
    return {"sessions_flagged": rule.sessions_flagged if rule else None}


async def build_sketches(ctx: dict[str, Any], tenant_id: int) -> dict[str, int]:
    """Sketch the people of the tenant's past days whose people changed since their sketches
    (analytics.rollups.sketches): distinct visitors over long ranges then merge them. Answers change
    (estimates instead of exact counts) only when sketches were stored."""
    async with single_run(ctx["engine"], SKETCH_LOCK, tenant_id) as alone:
        if not alone:
            return {"days": 0, "sketches": 0}
        run = await sketch_days(ctx["engine"], tenant_id, min_people=ctx["settings"].sketch_min_people)
    if run.sketches:
        await bump_data_version(ctx["redis"], tenant_id)
    if run.days:
        log.info("sketches tenant=%s days=%s sketches=%s", tenant_id, run.days, run.sketches)
    return {"days": run.days, "sketches": run.sketches}


SEGMENTS_EVERY_SECONDS = 5.0  # a tenant's marked users are re-evaluated at most this often (per process)


async def assign_segments(ctx: dict[str, Any], tenant_id: int) -> dict[str, int]:
    """Re-evaluate the users the rollup marked (and, once a local day, every known user) and move
    their segment memberships (analytics.segments.assign). At most once per
    ``SEGMENTS_EVERY_SECONDS`` per tenant and process: each batch holds the tenant's lock, so under
    steady ingest a re-evaluation after every rollup kept the rollup's claims waiting (ack -> visible
    p99 3.1 s at 4,000 tour events/s, 0.39 s without it). A job that comes sooner queues one for
    when the interval ends; the users marked meanwhile are re-evaluated together then."""
    started: dict[int, float] = ctx["segments_started"]
    wait = started.get(tenant_id, -SEGMENTS_EVERY_SECONDS) + SEGMENTS_EVERY_SECONDS - time.monotonic()
    if wait > 0:
        await enqueue_segments(ctx["redis"], tenant_id, later=wait)
        return {"users": 0, "joined": 0, "left": 0}
    return await _assign_segments(ctx, tenant_id)


@changes_answers
async def _assign_segments(ctx: dict[str, Any], tenant_id: int) -> dict[str, int]:
    async with single_run(ctx["engine"], SEGMENTS_LOCK, tenant_id) as alone:
        if not alone:
            return {"users": 0, "joined": 0, "left": 0}
        ctx["segments_started"][tenant_id] = time.monotonic()
        await start_daily(ctx["engine"], tenant_id)
        run = await assign_marked(ctx["engine"], tenant_id)
    if run.joined or run.left:
        log.info("segments tenant=%s users=%s joined=%s left=%s", tenant_id, run.users, run.joined, run.left)
    return {"users": run.users, "joined": run.joined, "left": run.left}


async def segments_daily(ctx: dict[str, Any]) -> int:
    """Queue the segments job of every tenant whose daily re-evaluation is due (time alone moves
    people: silence makes them at risk, new users age, rule windows slide)."""
    due = [tenant_id for tenant_id, _, daily in await pending_segment_work(ctx["engine"]) if daily]
    for tenant_id in due:
        await enqueue_segments(ctx["redis"], tenant_id, sweep=True)
    return len(due)


@changes_answers
async def backfill_feature(ctx: dict[str, Any], tenant_id: int, feature_id: int) -> dict[str, Any]:
    """Fold a new or changed feature's retained raw events (analytics.features.backfill)."""
    async with single_run(ctx["engine"], FEATURE_LOCK, feature_id) as alone:
        if not alone:
            return {"status": None}
        feature = await run_backfill(ctx["engine"], tenant_id, feature_id)
    if feature is not None:
        log.info("feature backfill tenant=%s feature=%s status=%s days=%s", tenant_id, feature_id,
                 feature.backfill.status, feature.backfill.processed_days)
    return {"status": feature.backfill.status if feature else None}


async def sync_model_prices(ctx: dict[str, Any]) -> int:
    """Bring every tenant's copy of the library's prices up to the installed genai-prices release
    (analytics.ai.sync) and queue the correction of the days it re-prices; the tenants changed."""
    async with single_run(ctx["engine"], PRICE_SYNC_LOCK, 0) as alone:
        if not alone:
            return 0
        changed = await sync_all_tenants(ctx["engine"])
    for tenant_id, run in changed.items():
        log.info("prices tenant=%s added=%s changed=%s removed=%s days=%s", tenant_id, run.added, run.changed,
                 run.removed, len(run.days))
        await enqueue_session_work(ctx["redis"], tenant_id)
    return len(changed)


async def refresh_business_gauges(ctx: dict[str, Any]) -> int:
    """Reference 001's business gauges of the tenants that turned them on, into Redis for /metrics."""
    return await refresh_business_metrics(ctx)


@changes_answers
async def backfill_event_dimensions(ctx: dict[str, Any], tenant_id: int) -> dict[str, Any]:
    """Count newly declared event dimensions over the retained raw events (analytics.custom_events)."""
    async with single_run(ctx["engine"], EVENT_BACKFILL_LOCK, tenant_id) as alone:
        if not alone:
            return {"dimensions": None}
        run = await backfill_tenant(ctx["engine"], tenant_id, now=datetime.now(UTC))
    if run.dimensions:
        log.info("event dimensions tenant=%s dimensions=%s events=%s", tenant_id, run.dimensions, run.events)
    return {"dimensions": run.dimensions, "events": run.events}


@changes_answers
async def build_funnel(ctx: dict[str, Any], tenant_id: int, funnel_id: int) -> dict[str, Any]:
    """Build a new or changed funnel's progress from the retained raw events (analytics.funnels.backfill)."""
    async with single_run(ctx["engine"], FUNNEL_LOCK, funnel_id) as alone:
        if not alone:
            return {"persons": None}
        run = await funnel_backfill.run_backfill(ctx["engine"], tenant_id, funnel_id)
    log.info("funnel backfill tenant=%s funnel=%s persons=%s", tenant_id, funnel_id, run.persons)
    return {"persons": run.persons, "finished": run.finished}


@changes_answers
async def rederive_identity(ctx: dict[str, Any], tenant_id: int) -> dict[str, Any]:
    """Re-derive sessions stored before the identity rule (migration 0020) and correct their days."""
    async with single_run(ctx["engine"], IDENTITY_LOCK, tenant_id) as alone:
        if not alone:
            return {"events_rekeyed": None}
        run = await run_identity_rederivation(ctx["engine"], tenant_id)
    if run.events_rekeyed:
        log.info("identity tenant=%s events=%s sessions_written=%s removed=%s days=%s", tenant_id,
                 run.events_rekeyed, run.sessions_written, run.sessions_removed, run.days_marked)
    return {"events_rekeyed": run.events_rekeyed, "days_marked": run.days_marked}


@changes_answers
async def backfill_experiment(ctx: dict[str, Any], tenant_id: int, key: str) -> dict[str, Any]:
    """Rebuild an experiment's aggregates from the retained raw events (a metric was added to it)."""
    return {"rows": await rebuild_experiment(ctx["engine"], tenant_id, key)}


async def run_export(ctx: dict[str, Any], tenant_id: int, job_id: str) -> dict[str, Any]:
    """Write an export job's file (analytics.export_jobs); the job row holds progress and the result."""
    job = await run_job(ctx["engine"], tenant_id, uuid.UUID(job_id), ctx["settings"].data_dir)
    return {"status": job.status if job else "failed", "rows": job.rows if job else None}


@changes_answers
async def erase_user(ctx: dict[str, Any], tenant_id: int, erasure_id: str) -> dict[str, Any]:
    """Erase a person (analytics.users.erasure); the erasure row holds the status and the counts."""
    job_id = uuid.UUID(erasure_id)
    async with single_run(ctx["engine"], USER_JOB_LOCK, job_id.int) as alone:
        if not alone:
            return {"status": "running elsewhere"}
        done = await erasure.run_erasure(ctx["engine"], tenant_id, job_id, ctx["settings"].data_dir)
    return {"status": done.status if done else "failed"}


async def export_user(ctx: dict[str, Any], tenant_id: int, export_id: str) -> dict[str, Any]:
    """Write a person's access export (analytics.users.access)."""
    job_id = uuid.UUID(export_id)
    async with single_run(ctx["engine"], USER_JOB_LOCK, job_id.int) as alone:
        if not alone:
            return {"status": "running elsewhere"}
        done = await access.run_export(ctx["engine"], tenant_id, job_id, ctx["settings"].data_dir)
    return {"status": done.status if done else "failed", "rows": done.rows if done else None}


_PENDING_USER_JOBS = text("SELECT tenant_id, kind, id FROM analytics_pending_user_jobs()")


async def sweep_user_jobs(ctx: dict[str, Any]) -> int:
    """Queue again every erasure and user export still queued or running (a lost or killed job)."""
    async with ctx["engine"].connect() as conn:
        rows = (await conn.execute(_PENDING_USER_JOBS)).all()
    for tenant_id, kind, job_id in rows:
        enqueue = enqueue_erasure if kind == "erasure" else enqueue_user_export
        await enqueue(ctx["redis"], int(tenant_id), str(job_id), sweep=True)
    return len(rows)


async def sweep_outbox(ctx: dict[str, Any]) -> int:
    """Re-enqueue every tenant with outbox rows: a lost or flushed Redis job only delays counters."""
    pending = await pending_tenants(ctx["engine"])
    for tenant_id, _ in pending:
        await enqueue_rollup(ctx["redis"], tenant_id, sweep=True)
    for tenant_id, work, rules in await pending_session_work(ctx["engine"],
                                                             correction_delay=correction_delay(ctx)):
        if work:
            await enqueue_session_work(ctx["redis"], tenant_id, sweep=True)
        for rule_id in rules:
            await enqueue_bot_rule(ctx["redis"], tenant_id, rule_id, sweep=True)
    for tenant_id, _, _ in await pending_segment_work(ctx["engine"]):
        await enqueue_segments(ctx["redis"], tenant_id, sweep=True)
    for tenant_id, feature_id in await pending_backfills(ctx["engine"]):
        await enqueue_feature_backfill(ctx["redis"], tenant_id, feature_id, sweep=True)
    for tenant_id in await tenants_with_backfills(ctx["engine"]):
        await enqueue_event_backfill(ctx["redis"], tenant_id, sweep=True)
    for tenant_id, funnel_id in await funnel_backfill.pending_backfills(ctx["engine"]):
        await enqueue_funnel_backfill(ctx["redis"], tenant_id, funnel_id, sweep=True)
    for tenant_id in await pending_sketch_work(ctx["engine"]):
        # A burst worker sweeps once and must not wait for a deferred job.
        later = None if ctx.get("burst") else SKETCH_DELAY_SECONDS
        await enqueue_sketches(ctx["redis"], tenant_id, later=later)
    for tenant_id in await tenants_to_rederive(ctx["engine"]):
        await enqueue_identity(ctx["redis"], tenant_id, sweep=True)
    await sweep_user_jobs(ctx)
    return len(pending)


async def ensure_partitions(ctx: dict[str, Any]) -> None:
    """Create next months' raw-event partitions ahead of time (ingest also creates them on demand)."""
    now = datetime.now(UTC)
    async with ctx["engine"].begin() as conn:
        for days_ahead in (0, 32, 64):
            await conn.execute(text("SELECT analytics_ensure_event_partition(:at)"),
                               {"at": now + timedelta(days=days_ahead)})


async def forget_salts(ctx: dict[str, Any]) -> int:
    """Delete visitor salts older than yesterday (UTC): ids of two days ago can no longer be recomputed.
    The API's salt look-up deletes them too; this covers days on which nothing was tracked."""
    async with ctx["engine"].begin() as conn:
        forgotten = int((await conn.execute(text("SELECT analytics_forget_salts()"))).scalar_one())
    if forgotten:
        log.info("forgot %d visitor salts", forgotten)
    return forgotten


async def enforce_retention_now(ctx: dict[str, Any]) -> dict[str, int]:
    """Delete raw events past each tenant's retention (whole expired partitions dropped first), and
    rollups, sessions and content facts past ANALYTICS_ROLLUP_RETENTION_DAYS (analytics.retention)."""
    run = await enforce_retention(ctx["engine"], now=datetime.now(UTC),
                                  rollup_days=ctx["settings"].rollup_retention_days)
    for name in run.partitions_dropped:
        log.info("retention dropped partition %s", name)
    for tenant in run.tenants:
        if tenant.removed:
            log.info("retention tenant=%s raw_events_from=%s events_dropped=%s events_deleted=%s rollups=%s",
                     tenant.tenant_id, tenant.raw_events_from.isoformat() if tenant.raw_events_from else None,
                     tenant.events_dropped, tenant.events_deleted,
                     " ".join(f"{table}={rows}" for table, rows in sorted(tenant.rollup_rows.items())) or "0")
    removed = run.removed_rows()
    await record_retention(ctx["redis"], removed, partitions=len(run.partitions_dropped))
    await bump_data_version(ctx["redis"], EVERY_TENANT)
    return {"partitions_dropped": len(run.partitions_dropped), **removed}
