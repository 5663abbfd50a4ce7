"""Reads of experiments: the tenant's lists, the results, and the SDK's assignment."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from analytics.db import tenant_transaction
from analytics.experiments import definitions as defs
from analytics.experiments.assignment import assign, exposure_event, segment_member
from analytics.experiments.breakdowns import BREAKDOWN_LIMIT, BreakdownDimension
from analytics.experiments.results import experiment_breakdown as compute_breakdown
from analytics.experiments.results import experiment_results as compute_results
from analytics.ingest.service import ingest_batch
from analytics.segments.service import get_segment
from api.common import Period, RangeInput, check_limit
from api.context import AppInfo
from api.errors import BadInput
from api.experiments.types import (
    Experiment,
    ExperimentBreakdownGroup,
    ExperimentMetric,
    ExperimentResults,
    ExperimentSeriesPoint,
    MetricResults,
    ResultsScope,
    VariantResult,
)

MAX_LIST = 100


async def experiments_list(
    info: AppInfo, status: defs.ExperimentStatus | None, first: int
) -> list[Experiment]:
    check_limit("first", first, MAX_LIST)
    async with info.context.read() as conn:
        return [Experiment.of(e) for e in await defs.load_experiments(conn, status=status, limit=first)]


async def experiment_by_key(info: AppInfo, key: str) -> Experiment | None:
    async with info.context.read() as conn:
        found = await defs.load_experiment(conn, key)
    return Experiment.of(found) if found is not None else None


async def metrics_list(info: AppInfo, first: int) -> list[ExperimentMetric]:
    check_limit("first", first, defs.MAX_METRICS)
    async with info.context.read() as conn:
        found = await defs.load_metrics(conn)
    return [ExperimentMetric.of(m) for m in list(found.values())[:first]]


async def experiment_results(
    info: AppInfo,
    key: str,
    range: RangeInput,
    include_bots: bool,
    loaded: defs.Experiment | None = None,
    segment: str | None = None,
) -> ExperimentResults:
    """One read transaction: the metrics and the aggregates (the experiment as ``experiment(key)`` loaded
    it, else loaded here)."""
    principal = info.context.require_secret()
    period = range.resolve(principal.timezone).whole_days()
    async with info.context.read() as conn:
        experiment = loaded if loaded is not None else await defs.load_experiment(conn, key)
        if experiment is None:
            raise BadInput("key", f"unknown experiment {key!r}")
        if segment is not None and await get_segment(conn, principal.tenant_id, segment) is None:
            raise BadInput("segment", f"unknown segment {segment!r}")
        found = await compute_results(
            conn,
            experiment,
            first=period.first_day,
            last=period.last_day,
            include_bots=include_bots,
            now=datetime.now(UTC),
            segment=segment,
        )
    return ExperimentResults(
        scope=ResultsScope(experiment, period.first_day, period.last_day, include_bots, segment),
        period=Period.of(period),
        exposures=sum(found.exposures.values()),
        multiple_exposures=found.multiple_exposures,
        sample_ratio_p_value=found.srm_p,
        sample_ratio_mismatch=found.srm,
        recommendation=found.recommendation,
        winner=found.winner,
        method=found.method,
        correction=found.correction,
        metrics=[
            MetricResults(
                metric=ExperimentMetric.of(m.metric),
                role=m.role,
                variants=[VariantResult.of(v) for v in m.variants],
                variance_reduction=None if m.variance_reduction is None else m.variance_reduction * 100,
            )
            for m in found.metrics
        ],
        series=[
            ExperimentSeriesPoint(
                day=p.day,
                variant=p.variant,
                exposures=p.exposures,
                conversions=p.conversions,
                conversion_rate=p.rate,
                lift=p.lift,
            )
            for p in found.series
        ],
    )


async def experiment_breakdown(
    info: AppInfo, scope: ResultsScope, by: BreakdownDimension, metric: str | None, limit: int
) -> list[ExperimentBreakdownGroup]:
    check_limit("limit", limit, BREAKDOWN_LIMIT)
    if scope.segment is not None:
        raise BadInput("breakdown", "a breakdown is not available on results filtered by a segment")
    key = metric if metric is not None else scope.experiment.primary_metric
    if key not in scope.experiment.metric_keys:
        raise BadInput("metric", f"{key!r} is not a metric of experiment {scope.experiment.key!r}")
    async with info.context.read() as conn:
        found = (await defs.load_metrics(conn, [key])).get(key)
        if found is None:
            raise BadInput("metric", f"unknown metric {key!r}")
        groups = await compute_breakdown(
            conn,
            scope.experiment,
            found,
            by=by,
            first=scope.first,
            last=scope.last,
            include_bots=scope.include_bots,
            limit=limit,
        )
    return [
        ExperimentBreakdownGroup(value=g.value, variants=[VariantResult.of(v) for v in g.variants])
        for g in groups
    ]


@strawberry.type(description="The variant an actor sees.")
class Assignment:
    experiment: str
    variant: str | None = strawberry.field(
        description="Null when the experiment is not running or the actor is not in its targeting segment."
    )
    tracked: bool = strawberry.field(description="An ExperimentExposure was recorded (or had been already).")


async def assignment(
    info: AppInfo, experiment: str, user_id: str | None, anonymous_id: str | None, track: bool
) -> Assignment:
    """The only read a publishable key may make: the caller's own variant, never results."""
    principal = info.context.require_key()
    if not (user_id or anonymous_id):
        raise BadInput("userId", "userId or anonymousId is required")
    resources = info.context.resources
    async with tenant_transaction(
        resources.engine, principal.tenant_id, timeout_ms=resources.settings.statement_timeout_ms
    ) as conn:
        found = await defs.load_experiment(conn, experiment)
        actor = f"u:{user_id}" if user_id else f"a:{anonymous_id}"
        targeted = found is not None and (
            found.segment is None or await segment_member(conn, found.segment, actor, datetime.now(UTC))
        )
    if found is None:
        raise BadInput("experiment", f"unknown experiment {experiment!r}")
    if found.status is not defs.ExperimentStatus.RUNNING or not targeted:
        return Assignment(experiment=experiment, variant=None, tracked=False)
    variant = assign(found, actor)
    tracked = False
    if track:
        event = exposure_event(
            found, variant, user_id=user_id or None, anonymous_id=anonymous_id or None, at=datetime.now(UTC)
        )
        outcome = await ingest_batch(
            resources.engine,
            resources.partitions,
            tenant_id=principal.tenant_id,
            events=[event],
            retention_days=principal.raw_retention_days,
            max_future_seconds=resources.settings.max_future_seconds,
        )
        if outcome.errors:
            raise BadInput(f"{outcome.errors[0].field}", outcome.errors[0].reason)
        tracked = True
        if outcome.accepted:
            resources.rollups.notify(principal.tenant_id)
    return Assignment(experiment=experiment, variant=variant.key, tracked=tracked)
