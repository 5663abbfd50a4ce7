"""Refreshing the business gauges (analytics.business_metrics) into Redis, and reading them back for
the API's /metrics.

The cron job runs every 30 s; a Redis key taken with NX for ``MIN_INTERVAL`` seconds makes it run at
most that often across every worker. The snapshot of all tenants is one JSON value under
``BUSINESS_METRICS`` that expires after ``SNAPSHOT_TTL`` seconds, so gauges vanish instead of going
stale when no worker refreshes them. Tenants that turned the gauges off drop out at the next refresh.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError

from analytics.business_metrics import Gauge, Sample, business_metric_tenants, tenant_samples

BUSINESS_METRICS = "analytics:business_metrics"
REFRESHING = "analytics:business_metrics:refreshing"
MIN_INTERVAL = 30
SNAPSHOT_TTL = 300

log = logging.getLogger("analytics.worker.business_metrics")


def _snapshot(per_tenant: list[tuple[str, list[Sample]]], at: datetime) -> dict[str, Any]:
    families: dict[str, dict[str, Any]] = {}
    for tenant, samples in per_tenant:
        for sample in samples:
            family = families.setdefault(sample.gauge.name, {
                "help": sample.gauge.help, "labels": ["tenant", *sample.gauge.labels], "samples": []})
            family["samples"].append([[tenant, *sample.labels], float(sample.value)])
    return {"refreshedAt": at.isoformat(), "families": families}


async def refresh_business_metrics(ctx: dict[str, Any], *, min_interval: int = MIN_INTERVAL) -> int:
    """Recompute every enabled tenant's gauges into Redis (skipped when another run took the last
    ``min_interval`` seconds); returns the tenants refreshed, -1 when skipped."""
    redis: Redis = ctx["redis"]
    if min_interval and not await redis.set(REFRESHING, "1", nx=True, ex=min_interval):
        return -1
    now = datetime.now(UTC)
    per_tenant: list[tuple[str, list[Sample]]] = []
    for tenant_id, name in await business_metric_tenants(ctx["engine"]):
        try:
            per_tenant.append((name, await tenant_samples(ctx["engine"], tenant_id, now)))
        except (SQLAlchemyError, OSError) as exc:  # one tenant's failure leaves the others' gauges
            log.warning("business metrics of tenant %s: %s", tenant_id, exc)
    await redis.set(BUSINESS_METRICS, json.dumps(_snapshot(per_tenant, now)), ex=SNAPSHOT_TTL)
    return len(per_tenant)


async def business_metric_families(redis: Redis) -> list[Metric]:
    """The last snapshot's gauges (none when no worker refreshed them in the last SNAPSHOT_TTL s)."""
    raw = await redis.get(BUSINESS_METRICS)
    if not raw:
        return []
    families: list[Metric] = []
    for name, family in sorted(json.loads(raw)["families"].items()):
        gauge = GaugeMetricFamily(name, family["help"], labels=family["labels"])
        for labels, value in family["samples"]:
            gauge.add_metric(labels, value)
        families.append(gauge)
    return families


__all__ = ["BUSINESS_METRICS", "Gauge", "business_metric_families", "refresh_business_metrics"]
