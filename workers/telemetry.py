"""Job durations and failures, kept in Redis so the API's one /metrics shows every worker's jobs.

Each job function is wrapped (``instrument_jobs``): after a run it adds the duration to a
histogram bucket and, when the job raised, one to its failure count, in two Redis hashes. The
counts are cluster-wide and survive worker restarts; the API reads them at scrape time
(``job_metric_families``). arq's ``on_job_start``/``after_job_end`` hooks are not enough: their
``ctx`` names neither the function nor the outcome.

Layout: hash ``JOB_DURATIONS`` has fields ``<job> <le>`` (runs whose duration fell in that
bucket, not cumulative) and ``<job> sum``; hash ``JOB_FAILURES`` has ``<job>``; hash
``RETENTION_REMOVED`` has ``<table>`` (rows retention removed) and ``partitions`` (dropped).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import logging
import math
import time
from collections.abc import Iterable
from typing import Any

from arq import Retry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from redis.asyncio import Redis
from redis.exceptions import RedisError

JOB_DURATIONS = "analytics:telemetry:job_duration_seconds"
JOB_FAILURES = "analytics:telemetry:job_failures"
RETENTION_REMOVED = "analytics:telemetry:retention_removed"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, math.inf)

log = logging.getLogger("analytics.worker.telemetry")


def _le(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(bound)


async def record_job(redis: Redis, job: str, seconds: float, *, failed: bool) -> None:
    """Count one run of ``job``; a Redis failure is logged, never raised into the job's outcome."""
    bucket = BUCKETS[bisect.bisect_left(BUCKETS, seconds)]
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(JOB_DURATIONS, f"{job} {_le(bucket)}", 1)
            pipe.hincrbyfloat(JOB_DURATIONS, f"{job} sum", seconds)
            pipe.hincrby(JOB_FAILURES, job, 1 if failed else 0)
            await pipe.execute()
    except (OSError, RedisError) as exc:
        log.warning("could not record the metrics of job %s: %s", job, exc)


async def record_retention(redis: Redis, rows: dict[str, int], *, partitions: int) -> None:
    """Add one retention run's removed rows per table and dropped partitions (logged on failure)."""
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for table, count in rows.items():
                pipe.hincrby(RETENTION_REMOVED, table, count)
            pipe.hincrby(RETENTION_REMOVED, "partitions", partitions)
            await pipe.execute()
    except (OSError, RedisError) as exc:
        log.warning("could not record the metrics of retention: %s", exc)


def timed(coroutine: Any, job: str) -> Any:
    """``coroutine`` (an arq job) that records its duration and whether it failed."""

    @functools.wraps(coroutine)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        started, failed = time.perf_counter(), True
        try:
            result = await coroutine(ctx, *args, **kwargs)
            failed = False
            return result
        except Retry:
            failed = False  # a deliberate retry is not a failure
            raise
        finally:
            # Also after a timeout: arq cancels the job, and this await still runs once.
            await record_job(ctx["redis"], job, time.perf_counter() - started, failed=failed)

    return run


def instrument_jobs(options: dict[str, Any]) -> dict[str, Any]:
    """``worker_options`` with every function and cron job timed under its arq name."""
    def wrap(job: Any) -> Any:
        label = job.name.removeprefix("cron:")
        return dataclasses.replace(job, coroutine=timed(job.coroutine, label))

    return {**options,
            "functions": [wrap(f) for f in options.get("functions", [])],
            "cron_jobs": [wrap(c) for c in options.get("cron_jobs", [])]}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def job_metric_families(redis: Redis) -> list[Metric]:
    """The histogram and failure counter of every job any worker has run, and what retention
    removed, read from Redis."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(JOB_DURATIONS)
        pipe.hgetall(JOB_FAILURES)
        pipe.hgetall(RETENTION_REMOVED)
        durations, failures, retention = await pipe.execute()
    per_job: dict[str, dict[str, float]] = {}
    for field, value in durations.items():
        job, _, key = _text(field).rpartition(" ")
        per_job.setdefault(job, {})[key] = float(value)
    return [_histogram(per_job), _failures(per_job.keys(), failures), *_retention(retention)]


def _retention(raw: dict[bytes | str, bytes | str]) -> list[CounterMetricFamily]:
    counts = {_text(key): float(value) for key, value in raw.items()}
    partitions = CounterMetricFamily("analytics_retention_partitions_dropped",
                                     "Raw-event partitions retention dropped whole",
                                     value=counts.pop("partitions", 0.0))
    rows = CounterMetricFamily("analytics_retention_removed_rows",
                               "Rows retention removed, by table (events: in dropped partitions or "
                               "deleted)", labels=["table"])
    for table, count in sorted(counts.items()):
        rows.add_metric([table], count)
    return [partitions, rows]


def _histogram(per_job: dict[str, dict[str, float]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily("analytics_job_duration_seconds",
                                   "Duration of worker jobs (every run, failed ones too)", labels=["job"])
    for job, fields in sorted(per_job.items()):
        cumulative, buckets = 0.0, []
        for bound in BUCKETS:
            cumulative += fields.get(_le(bound), 0.0)
            buckets.append((_le(bound), cumulative))
        family.add_metric([job], buckets, sum_value=fields.get("sum", 0.0))
    return family


def _failures(jobs: Iterable[str], raw: dict[bytes | str, bytes | str]) -> CounterMetricFamily:
    counts = {_text(job): float(value) for job, value in raw.items()}
    family = CounterMetricFamily("analytics_job_failures", "Worker jobs that raised (retries excluded)",
                                 labels=["job"])
    for job in sorted(set(jobs) | counts.keys()):
        family.add_metric([job], counts.get(job, 0.0))
    return family
