"""Secret-key mutations that declare experiment metrics and define experiments."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from analytics.errors import InvalidArgument
from analytics.experiments import definitions as defs
from analytics.experiments.definitions import ExperimentStatus, MetricKind, SessionFigure
from api.context import AppInfo
from api.errors import BadInput
from api.experiments.types import Experiment, ExperimentMetric
from api.product.matchers import MatcherInput
from workers.queue import enqueue_experiment_backfill


@strawberry.input
class DefineMetricInput:
    key: str
    kind: MetricKind
    matcher: MatcherInput
    property: str | None = strawberry.field(
        default=None, description="SUM: the numeric property (dotted path)."
    )
    window_hours: int | None = strawberry.field(
        default=None, description="CONVERSION: hours after the exposure that still count."
    )
    higher_is_better: bool = True
    description: str | None = None
    session_figure: SessionFigure | None = strawberry.field(
        default=None, description="SESSION: what is summed over the actor's sessions."
    )


@strawberry.input
class VariantInput:
    key: str
    weight: float = 1.0
    control: bool = False


@strawberry.input
class DefineExperimentInput:
    key: str
    variants: list[VariantInput] = strawberry.field(description="2 to 10, exactly one the control.")
    primary_metric: str
    secondary_metrics: list[str] = strawberry.field(default_factory=list)
    guardrail_metrics: list[str] = strawberry.field(
        default_factory=list,
        description=(
            "Metrics that must not get significantly worse (secondary and guardrail: at most 10 together)."
        ),
    )
    description: str | None = None
    status: ExperimentStatus = ExperimentStatus.DRAFT
    sequential: bool = strawberry.field(
        default=False,
        description=(
            "Always-valid tests (mixture SPRT): results may be looked at any time without inflating false "
            "positives, at the price of wider intervals."
        ),
    )
    min_actors: int = strawberry.field(default=100, description="Per variant, before any verdict.")
    min_conversions: int = strawberry.field(
        default=10, description="Per variant, for a conversion primary metric, before any verdict."
    )
    planned_start: datetime | None = None
    planned_stop: datetime | None = None
    cuped: bool = strawberry.field(
        default=False,
        description=(
            "CUPED variance reduction: compare each metric's values adjusted by the same metric's value in "
            "the 14 days before the exposure (Welch's t-test on the adjusted values, conversions included); "
            "results report the variance reduction achieved."
        ),
    )
    segment: str | None = strawberry.field(
        default=None,
        description=(
            "Targeting segment (a built-in or rule segment id): assignment gives its current members a "
            "variant and others none; only exposures of actors who were members at the exposure are "
            "counted. Fixed once the experiment runs."
        ),
    )


@strawberry.type
class ExperimentMutation:
    @strawberry.mutation(description="Declare or update a metric experiments can use (secret key).")
    async def define_metric(self, info: AppInfo, input: DefineMetricInput) -> ExperimentMetric:
        matcher = input.matcher.to_matcher("input.matcher")
        try:
            metric = defs.parse_metric(
                key=input.key,
                kind=input.kind,
                matcher=matcher,
                property=input.property,
                window_hours=input.window_hours,
                higher_is_better=input.higher_is_better,
                description=input.description,
                session_figure=input.session_figure,
            )
            async with info.context.write() as conn:
                await defs.save_metric(conn, metric)
        except InvalidArgument as exc:
            raise BadInput(exc.field, exc.message) from None
        return ExperimentMetric.of(metric)

    @strawberry.mutation(
        description=(
            "Create or update an experiment (secret key). RUNNING starts counting exposures, STOPPED ends "
            "it and keeps its results. The variants and weights of a running or stopped experiment cannot "
            "change. A metric added to an experiment with exposures is backfilled from the retained raw "
            "events by a worker job."
        )
    )
    async def define_experiment(self, info: AppInfo, input: DefineExperimentInput) -> Experiment:
        principal = info.context.require_secret()
        definition = defs.Definition(
            key=input.key,
            description=input.description,
            variants=tuple(defs.Variant(v.key, float(v.weight), v.control) for v in input.variants),
            primary_metric=input.primary_metric,
            secondary_metrics=tuple(input.secondary_metrics),
            guardrail_metrics=tuple(input.guardrail_metrics),
            status=input.status,
            sequential=input.sequential,
            min_actors=input.min_actors,
            min_conversions=input.min_conversions,
            planned_start=input.planned_start,
            planned_stop=input.planned_stop,
            segment=input.segment,
            cuped=input.cuped,
        )
        if input.description is not None and len(input.description) > 1000:
            raise BadInput("input.description", "must be at most 1000 characters")
        try:
            async with info.context.write() as conn:
                saved = await defs.define_experiment(conn, definition, now=datetime.now(UTC))
        except InvalidArgument as exc:
            raise BadInput(exc.field, exc.message) from None
        if saved.added_metrics:
            await enqueue_experiment_backfill(info.context.resources.redis, principal.tenant_id, input.key)
        return Experiment.of(saved.experiment)
