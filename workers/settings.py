"""ARQ worker settings (``analytics worker`` builds the same Worker from ``worker_options``)."""

from __future__ import annotations

from typing import Any

from arq import cron, func

from analytics.settings import Settings, load_settings
from workers import jobs
from workers.queue import redis_settings
from workers.telemetry import instrument_jobs


def worker_options(settings: Settings, *, burst: bool = False) -> dict[str, Any]:
    """Options for ``arq.Worker``. A burst worker sweeps once at startup instead of by cron: arq
    always keeps a cron job's next run queued, so a burst worker with cron jobs never finishes."""
    if not settings.redis_url:
        raise RuntimeError("REDIS_URL is not set for the worker")
    every = max(1, int(settings.sweep_interval_seconds))
    return instrument_jobs({
        "functions": [func(jobs.roll_up_tenant, keep_result=0, timeout=120, max_tries=3),
                      func(jobs.maintain_sessions, keep_result=0, timeout=300, max_tries=3),
                      func(jobs.apply_bot_rule, keep_result=0, timeout=3600, max_tries=3),
                      func(jobs.assign_segments, keep_result=0, timeout=1800, max_tries=3),
                      func(jobs.build_sketches, keep_result=0, timeout=3600, max_tries=3),
                      func(jobs.backfill_event_dimensions, keep_result=0, timeout=3600, max_tries=3),
                      func(jobs.build_funnel, keep_result=0, timeout=3600, max_tries=3),
                      func(jobs.rederive_identity, keep_result=0, timeout=6 * 3600, max_tries=3),
                      func(jobs.run_export, keep_result=0, timeout=6 * 3600, max_tries=3),
                      func(jobs.backfill_feature, keep_result=0, timeout=6 * 3600, max_tries=3),
                      func(jobs.erase_user, keep_result=0, timeout=3600, max_tries=3),
                      func(jobs.export_user, keep_result=0, timeout=3600, max_tries=3),
                      func(jobs.backfill_experiment, keep_result=0, timeout=3600, max_tries=3)],
        "cron_jobs": [] if burst else [
            cron(jobs.sweep_outbox, second=set(range(0, 60, every)), run_at_startup=True,
                 keep_result=0, timeout=30),
            cron(jobs.ensure_partitions, hour={3}, minute={7}, run_at_startup=True, keep_result=0),
            cron(jobs.segments_daily, minute={10}, run_at_startup=True, keep_result=0, timeout=60),
            cron(jobs.forget_salts, minute={5}, run_at_startup=True, keep_result=0),
            cron(jobs.sync_model_prices, hour={4}, minute={27}, run_at_startup=True, keep_result=0,
                 timeout=3600),
            cron(jobs.refresh_business_gauges, second={0, 30}, run_at_startup=True, keep_result=0,
                 timeout=60),
            cron(jobs.enforce_retention_now, hour={3}, minute={17}, run_at_startup=True, keep_result=0,
                 timeout=3600),
        ],
        "on_startup": jobs.startup_and_sweep if burst else jobs.startup,
        "burst": burst,
        "on_shutdown": jobs.shutdown,
        "redis_settings": redis_settings(settings.redis_url),
        "max_jobs": 8,
        "poll_delay": 0.05,
        "keep_result": 0,
        "handle_signals": True,
    })


class WorkerSettings:
    """For ``arq workers.settings.WorkerSettings``; reads DATABASE_URL and REDIS_URL."""

    _settings = load_settings()
    _options = worker_options(_settings) if _settings.redis_url else {}
    functions = _options.get("functions", [])
    cron_jobs = _options.get("cron_jobs", [])
    on_startup = _options.get("on_startup")
    on_shutdown = _options.get("on_shutdown")
    redis_settings = _options.get("redis_settings")
    max_jobs = _options.get("max_jobs")
    poll_delay = _options.get("poll_delay")
    keep_result = _options.get("keep_result")
