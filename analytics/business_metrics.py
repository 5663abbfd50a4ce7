"""Reference 001's business gauges, per tenant that turned them on: a registry of gauge producers,
each a function that reads one tenant's figures (in its own transaction) and returns samples. The
worker's refresher (workers.business_metrics) runs every producer for every such tenant and keeps
the result in Redis; the API's /metrics shows it. Add a producer to PRODUCERS (segments, funnels...)
and its gauges appear beside these, labelled with the tenant's name first: usage, features, segments,
funnels and experiments (reference 001's families).

Every gauge covers the last 30 tenant-local days up to today (total users: all kept days), bots left
out, with the definitions of the graph's ``usage`` and ``featureAdoption`` fields.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics import periods
from analytics.db import tenant_transaction
from analytics.experiments.prometheus import experiment_families
from analytics.features.stats import feature_adoption
from analytics.funnels.result import funnel_figures
from analytics.funnels.store import list_funnels
from analytics.segments.service import list_segments, segment_figures
from analytics.sessions.stats import session_totals
from analytics.usage.stats import user_activity

WINDOW = periods.Preset.LAST_30_DAYS
MAX_TENANTS = 100  # tenants whose gauges are shown (by id): the tenant label stays bounded


@dataclass(frozen=True)
class Gauge:
    name: str
    help: str
    labels: tuple[str, ...] = ()  # besides ``tenant``, which every business gauge has first


@dataclass(frozen=True)
class Sample:
    gauge: Gauge
    labels: tuple[str, ...]
    value: float


@dataclass(frozen=True)
class Scope:
    """What a producer reads: one tenant (its transaction is scoped to it) over the window."""

    tenant_id: int
    period: periods.Period


Producer = Callable[[AsyncConnection, Scope], Awaitable[list[Sample]]]

TOTAL_USERS = Gauge("analytics_total_users", "Distinct users with an event on any kept day up to today")
ACTIVE_USERS = Gauge("analytics_active_users", "Distinct users with an event in the last 30 days")
PAGE_VIEWS = Gauge("analytics_page_views_total", "Page views of the sessions of the last 30 days")
UNIQUE_VISITORS = Gauge("analytics_unique_visitors", "Distinct visitors of the sessions of the last 30 days")
SESSION_DURATION = Gauge("analytics_avg_session_duration_seconds",
                         "Mean session duration of the last 30 days, in seconds")
BOUNCE_RATE = Gauge("analytics_bounce_rate_percentage", "Bounced sessions / sessions * 100, last 30 days")
FEATURE_ADOPTION = Gauge("analytics_feature_adoption_rate",
                         "Users of the feature / active users * 100, last 30 days", ("feature_name",))
FEATURE_USAGE = Gauge("analytics_feature_usage_total", "Events that used the feature in the last 30 days",
                      ("feature_name",))
FEATURE_USERS = Gauge("analytics_feature_unique_users", "Distinct users of the feature in the last 30 days",
                      ("feature_name",))


async def usage_samples(conn: AsyncConnection, scope: Scope) -> list[Sample]:
    period = scope.period
    users = await user_activity(conn, first_day=period.first_day, last_day=period.last_day,
                                include_bots=False)
    sessions = await session_totals(conn, period=period, include_bots=False)
    return [Sample(TOTAL_USERS, (), users.total_users), Sample(ACTIVE_USERS, (), users.active_users),
            Sample(PAGE_VIEWS, (), sessions.page_views), Sample(UNIQUE_VISITORS, (), sessions.visitors),
            Sample(SESSION_DURATION, (), sessions.avg_session_duration_seconds or 0.0),
            Sample(BOUNCE_RATE, (), sessions.bounce_rate or 0.0)]


async def feature_samples(conn: AsyncConnection, scope: Scope) -> list[Sample]:
    days = (scope.period.first_day, scope.period.last_day)
    samples: list[Sample] = []
    for row in await feature_adoption(conn, days=days, previous_days=days, include_bots=False):
        name = (row.feature.name,)
        samples += [Sample(FEATURE_ADOPTION, name, row.use.adoption_rate or 0.0),
                    Sample(FEATURE_USAGE, name, row.use.usage_count),
                    Sample(FEATURE_USERS, name, row.use.unique_users)]
    return samples


SEGMENT_SIZE = Gauge("analytics_segment_size", "Members of the segment now", ("segment_name",))
SEGMENT_ENGAGEMENT = Gauge("analytics_segment_engagement", "Mean engagement score (0-10) of the segment's "
                           "members now", ("segment_name",))
FUNNEL_CONVERSION = Gauge("analytics_funnel_conversion_rate",
                          "Actors at the last step / actors at the first * 100, attempts of the last 30 days",
                          ("funnel_name",))
FUNNEL_STEP_COMPLETION = Gauge("analytics_funnel_step_completion_rate",
                               "Actors at the step / actors at the step before * 100, last 30 days",
                               ("funnel_name", "step"))
FUNNEL_DROP_OFF = Gauge("analytics_funnel_drop_off_rate",
                        "Dropped at the step / actors at the step before * 100, last 30 days",
                        ("funnel_name", "step"))
ACTIVE_EXPERIMENTS = Gauge("analytics_active_experiments", "Running experiments")
EXPERIMENT_CONVERSIONS = Gauge("analytics_experiment_conversions",
                               "Converted actors on the primary metric", ("experiment_id", "variant"))
EXPERIMENT_RATE = Gauge("analytics_experiment_conversion_rate",
                        "Conversion rate on the primary metric, percent", ("experiment_id", "variant"))
SIGNIFICANT_RESULTS = Gauge("analytics_significant_results_total",
                            "Variant-metric pairs of running experiments with a significant difference")


async def segment_samples(conn: AsyncConnection, scope: Scope) -> list[Sample]:
    figures = await segment_figures(conn, scope.tenant_id, await list_segments(conn, scope.tenant_id),
                                    scope.period.end)
    return [sample for f in figures for sample in (
        Sample(SEGMENT_SIZE, (f.segment.name,), f.size),
        Sample(SEGMENT_ENGAGEMENT, (f.segment.name,), f.mean_engagement or 0.0))]


async def funnel_samples(conn: AsyncConnection, scope: Scope) -> list[Sample]:
    samples: list[Sample] = []
    for funnel in await list_funnels(conn, scope.tenant_id):
        name = funnel.definition.name
        [whole] = await funnel_figures(conn, scope.tenant_id, funnel, scope.period)
        samples.append(Sample(FUNNEL_CONVERSION, (name,), whole.overall_conversion or 0.0))
        for step, title in zip(whole.steps[1:], [s.title for s in funnel.definition.steps][1:], strict=True):
            completion = step.conversion_from_previous or 0.0
            samples.append(Sample(FUNNEL_STEP_COMPLETION, (name, title), completion))
            samples.append(Sample(FUNNEL_DROP_OFF, (name, title), step.drop_off_rate or 0.0))
    return samples


_EXPERIMENT_GAUGES = {g.name: g for g in (ACTIVE_EXPERIMENTS, EXPERIMENT_CONVERSIONS, EXPERIMENT_RATE,
                                          SIGNIFICANT_RESULTS)}


async def experiment_samples(conn: AsyncConnection, scope: Scope) -> list[Sample]:
    families = await experiment_families(conn, now=scope.period.end)
    gauges = [_EXPERIMENT_GAUGES[f.family] for f in families]
    return [Sample(gauge, tuple(f.labels[n] for n in gauge.labels), f.value)
            for gauge, f in zip(gauges, families, strict=True)]


PRODUCERS: list[Producer] = [usage_samples, feature_samples, segment_samples, funnel_samples,
                             experiment_samples]


async def set_business_metrics(conn: AsyncConnection, tenant_id: int, on: bool) -> None:
    """Turn the tenant's business gauges on or off (in the caller's transaction)."""
    await conn.execute(text("UPDATE tenants SET business_metrics = :on WHERE id = :tenant"),
                       {"on": on, "tenant": tenant_id})


async def business_metrics_on(conn: AsyncConnection, tenant_id: int) -> bool:
    return bool((await conn.execute(text("SELECT business_metrics FROM tenants WHERE id = :tenant"),
                                    {"tenant": tenant_id})).scalar_one())


async def business_metric_tenants(engine: AsyncEngine) -> list[tuple[int, str]]:
    """(id, name) of the tenants with business gauges on, the first MAX_TENANTS by id."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT tenant_id, name FROM analytics_business_metric_tenants() "
                                        "LIMIT :limit"), {"limit": MAX_TENANTS})).all()
    return [(int(r.tenant_id), str(r.name)) for r in rows]


async def tenant_samples(engine: AsyncEngine, tenant_id: int, now: datetime, *,
                         timeout_ms: int = 10_000) -> list[Sample]:
    """Every producer's samples of one tenant, read in one transaction scoped to it."""
    async with tenant_transaction(engine, tenant_id, timeout_ms=timeout_ms) as conn:
        tz = ZoneInfo((await conn.execute(text("SELECT timezone FROM tenants WHERE id = :tenant"),
                                          {"tenant": tenant_id})).scalar_one())
        scope = Scope(tenant_id, periods.resolve(periods.RangeSpec(preset=WINDOW), tz, now=now))
        samples: list[Sample] = []
        for produce in PRODUCERS:
            samples.extend(await produce(conn, scope))
    return samples
