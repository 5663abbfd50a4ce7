"""Experiments in the graph: metrics, experiments, their results (analytics.experiments)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

import strawberry

from analytics.experiments import definitions as defs
from analytics.experiments import results as res
from analytics.experiments.breakdowns import BreakdownDimension
from analytics.experiments.definitions import ExperimentStatus, MetricKind, SessionFigure
from analytics.experiments.results import MetricRole, Recommendation
from api.common import IncludeBots, Period, RangeInput
from api.context import AppInfo
from api.product.matchers import EventMatcher

strawberry.enum(
    MetricKind,
    description="CONVERSION: 1 per actor when a matching event followed the exposure "
    "(within windowHours); COUNT: matching events per actor after the "
    "exposure; SUM: a numeric property of them, summed per actor; SESSION: a figure (sessionFigure) "
    "summed over the actor's sessions that have a matching event after the exposure.",
)
strawberry.enum(
    SessionFigure,
    name="ExperimentSessionFigure",
    description="SESSIONS: the number of sessions; DURATION: their duration in seconds (first to last "
    "event, as session statistics define it); PAGE_VIEWS: their page views.",
)
strawberry.enum(
    ExperimentStatus,
    description="DRAFT: defined, no exposures counted; RUNNING: exposures "
    "counted; STOPPED: no new exposures, results kept.",
)
strawberry.enum(MetricRole)
strawberry.enum(
    BreakdownDimension,
    name="ExperimentBreakdownDimension",
    description="SOURCE: the referrer class of the session of the actor's first exposure (unknown without "
    "a session); DEVICE: its device type; SEGMENT: the segments the actor was a member of at its exposure "
    "(before the treatment; an actor in several counts in each).",
)
strawberry.enum(
    Recommendation,
    description=(
        "The verdict, decided in this order: INVESTIGATE_SRM when the exposures depart from the weights "
        "(chi-square p < 0.001); KEEP_RUNNING while a variant has fewer actors (or, for a conversion primary "
        "metric, conversions) than the experiment's minimum (default 100 and 10); GUARDRAIL_FAILED when the "
        "winning variant is significantly worse on a guardrail metric; SHIP_VARIANT when a variant beats the "
        "control on the primary metric (Holm-adjusted p < 0.05 across variants); NO_DIFFERENCE when the "
        "experiment is stopped or past its planned stop without a winner; else KEEP_RUNNING."
    ),
)


@strawberry.type(description="A metric declared once per tenant and reused by experiments.")
class ExperimentMetric:
    key: str
    description: str | None
    kind: MetricKind
    matcher: EventMatcher
    property: str | None = strawberry.field(description="SUM: the numeric property summed per actor.")
    window_hours: int | None = strawberry.field(
        description="CONVERSION: counted only this long after the exposure."
    )
    higher_is_better: bool
    session_figure: SessionFigure | None = strawberry.field(
        default=None, description="SESSION: what is summed over the actor's sessions."
    )

    @classmethod
    def of(cls, m: defs.Metric) -> ExperimentMetric:
        return cls(
            key=m.key,
            description=m.description,
            kind=m.kind,
            matcher=EventMatcher.of(m.matcher),
            property=m.property,
            window_hours=m.window_hours,
            higher_is_better=m.higher_is_better,
            session_figure=m.session_figure,
        )


@strawberry.type
class ExperimentVariant:
    key: str
    weight: float
    control: bool


@strawberry.type(description="One variant's figures for one metric, and its test against the control.")
class VariantResult:
    variant: str
    control: bool
    exposures: int = strawberry.field(description="Actors exposed first to this variant.")
    conversions: int = strawberry.field(description="Exposed actors with a non-zero value (converted).")
    conversion_rate: float | None = strawberry.field(description="conversions / exposures * 100.")
    mean: float = strawberry.field(description="The metric per exposed actor (zeros included).")
    std: float = strawberry.field(description="Standard deviation of the metric per exposed actor.")
    lift: float | None = strawberry.field(
        description="Absolute difference to the control (variant - control)."
    )
    lift_low: float | None = strawberry.field(description="95 % confidence interval of the lift (low).")
    lift_high: float | None
    relative_lift: float | None = strawberry.field(description="variant / control - 1, in percent.")
    relative_lift_low: float | None = strawberry.field(description="95 % interval (delta method), percent.")
    relative_lift_high: float | None
    p_value: float | None
    adjusted_p_value: float | None = strawberry.field(
        description="Holm-adjusted (see ExperimentResults.correction)."
    )
    significant: bool
    method: str | None = strawberry.field(description="The test that produced p-value and interval.")
    probability_to_beat_control: float | None = strawberry.field(description="Bayesian, 0 to 1.")
    expected_loss: float | None = strawberry.field(
        description="Bayesian expected loss of shipping the variant, in the metric's units."
    )

    @classmethod
    def of(cls, v: res.VariantMetric) -> VariantResult:
        c, b = v.comparison, v.bayesian

        def pct(x: float | None) -> float | None:
            return None if x is None else x * 100

        return cls(
            variant=v.variant,
            control=v.control,
            exposures=v.sample.n,
            conversions=v.conversions,
            conversion_rate=v.rate,
            mean=v.sample.mean,
            std=v.std,
            lift=c.difference if c else None,
            lift_low=c.difference_low if c else None,
            lift_high=c.difference_high if c else None,
            relative_lift=pct(c.relative) if c else None,
            relative_lift_low=pct(c.relative_low) if c else None,
            relative_lift_high=pct(c.relative_high) if c else None,
            p_value=c.p_value if c else None,
            adjusted_p_value=v.adjusted_p,
            significant=v.significant,
            method=c.method if c else None,
            probability_to_beat_control=b.probability_to_beat if b else None,
            expected_loss=b.expected_loss if b else None,
        )


@strawberry.type
class MetricResults:
    metric: ExperimentMetric
    role: MetricRole
    variants: list[VariantResult]
    variance_reduction: float | None = strawberry.field(
        default=None,
        description="With CUPED: the variance reduction achieved, in percent "
        "(1 - Var(adjusted) / Var(value)); null without CUPED.",
    )


@strawberry.type(description="Cumulative figures of the primary metric by exposure day.")
class ExperimentSeriesPoint:
    day: date
    variant: str
    exposures: int
    conversions: int
    conversion_rate: float | None
    lift: float | None = strawberry.field(description="Relative to the control's cumulative rate, percent.")


@strawberry.type(description="One value of a breakdown: the metric per variant among its actors.")
class ExperimentBreakdownGroup:
    value: str = strawberry.field(description="The source, device or segment id; (other): the rest together.")
    variants: list[VariantResult] = strawberry.field(
        description="Each variant against the control within the value; adjustedPValue is Holm across the "
        "breakdown's values and variants."
    )


@dataclass(frozen=True)
class ResultsScope:
    """What a results field was asked for: its breakdown reads the same actors."""

    experiment: defs.Experiment
    first: date
    last: date
    include_bots: bool
    segment: str | None


@strawberry.type(
    description="Results of the actors first exposed in the range, from the per-variant aggregates."
)
class ExperimentResults:
    period: Period
    exposures: int
    multiple_exposures: int = strawberry.field(
        description="Actors exposed to more than one variant (each counted in its first)."
    )
    sample_ratio_p_value: float
    sample_ratio_mismatch: bool = strawberry.field(description="p < 0.001: blocks the recommendation.")
    recommendation: Recommendation
    winner: str | None
    method: str = strawberry.field(
        description="fixed horizon, or mixture SPRT (always valid) for sequential experiments."
    )
    correction: str = strawberry.field(
        description="Multiple-comparison adjustment: Holm within the primary "
        "metric's variants and across secondary and guardrail "
        "metrics and variants."
    )
    metrics: list[MetricResults]
    series: list[ExperimentSeriesPoint]
    scope: strawberry.Private[ResultsScope | None] = None

    @strawberry.field(
        description="One metric (the primary by default) per source, device or segment, each variant "
        "against the control within the value: at most limit groups (1 to 20), the values with the most "
        "actors first, the rest together as (other). Exploratory: Holm-adjusted within the breakdown, no "
        "part of the recommendation. Not with a segment filter on the results."
    )
    async def breakdown(
        self, info: AppInfo, by: BreakdownDimension, metric: str | None = None, limit: int = 10
    ) -> list[ExperimentBreakdownGroup]:
        from api.experiments.queries import experiment_breakdown

        assert self.scope is not None
        return await experiment_breakdown(info, self.scope, by, metric, limit)


@strawberry.type(description="An A/B (or A/B/n) experiment.")
class Experiment:
    key: str
    description: str | None
    status: ExperimentStatus
    variants: list[ExperimentVariant]
    primary_metric: str
    secondary_metrics: list[str]
    guardrail_metrics: list[str]
    sequential: bool
    cuped: bool
    min_actors: int
    min_conversions: int
    planned_start: datetime | None
    planned_stop: datetime | None
    started_at: datetime | None
    stopped_at: datetime | None
    segment: str | None = strawberry.field(
        description="Targeting segment: only actors who were its members at their exposure are counted."
    )
    definition: strawberry.Private[defs.Experiment | None] = None  # what results reads (no second load)

    @classmethod
    def of(cls, e: defs.Experiment) -> Experiment:
        return cls(
            definition=e,
            key=e.key,
            description=e.description,
            status=e.status,
            variants=[ExperimentVariant(key=v.key, weight=v.weight, control=v.control) for v in e.variants],
            primary_metric=e.primary_metric,
            secondary_metrics=list(e.secondary_metrics),
            guardrail_metrics=list(e.guardrail_metrics),
            sequential=e.sequential,
            cuped=e.cuped,
            min_actors=e.min_actors,
            min_conversions=e.min_conversions,
            planned_start=e.planned_start,
            planned_stop=e.planned_stop,
            started_at=e.started_at,
            stopped_at=e.stopped_at,
            segment=e.segment,
        )

    @strawberry.field(
        description="Per variant and metric: figures, tests against the control, SRM and the "
        "recommendation, for actors first exposed in the range (by their exposure "
        "day). Bots are left out unless includeBots is true."
    )
    async def results(
        self,
        info: AppInfo,
        range: RangeInput,
        include_bots: IncludeBots = False,
        segment: Annotated[
            str | None,
            strawberry.argument(
                description="Only the actors who were members of this segment (a built-in id such as power, "
                "or a rule segment's id) at their exposure: membership before the treatment, which the "
                "variant cannot change. Read from the per-actor rows."
            ),
        ] = None,
    ) -> ExperimentResults:
        from api.experiments.queries import experiment_results

        return await experiment_results(info, self.key, range, include_bots, self.definition, segment)
