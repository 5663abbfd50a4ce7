"""An experiment's results from its per-variant aggregates (never the raw events): figures per variant
and metric, the tests against the control, sample ratio mismatch, and the recommendation.

The recommendation, in order:
1. ``INVESTIGATE_SRM`` when the exposures' split departs from the weights (chi-square p < 0.001);
2. ``KEEP_RUNNING`` while any variant has fewer actors than the minimum (default 100) or, for a
   conversion primary metric, fewer conversions than the minimum (default 10);
3. ``GUARDRAIL_FAILED`` when the best variant on the primary metric is significantly worse on a
   guardrail metric (Holm-adjusted p < 0.05, in the metric's bad direction);
4. ``SHIP_VARIANT`` (with the variant) when a variant beats the control on the primary metric with a
   Holm-adjusted p < 0.05 across the variants (the best of them by lift);
5. ``NO_DIFFERENCE`` when the experiment is stopped or past its planned stop without that;
6. else ``KEEP_RUNNING``.
Secondary metrics are adjusted with Holm across metrics and variants together; they inform, they do
not decide. With ``sequential`` the verdict comes from the always-valid test. With ``cuped`` every
metric is compared on its CUPED-adjusted values (the covariate: the metric's value in the 14 days
before the exposure; Welch's t-test, conversions included) and reports the variance reduction.

With a ``segment`` the results are those of the actors who were its members at their exposure (as a
targeting segment counts them: membership before the treatment, which the variant cannot change),
read from the per-actor rows instead of the per-day aggregates.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT, plan_for_values
from analytics.experiments.aggregates import EXPOSURES
from analytics.experiments.breakdowns import BreakdownDimension, breakdown_figures
from analytics.experiments.definitions import Experiment, ExperimentStatus, Metric, MetricKind, load_metrics
from analytics.experiments.stats import (
    ALPHA,
    SRM_ALPHA,
    Bayesian,
    Comparison,
    Covariate,
    Sample,
    bayesian,
    cuped,
    holm,
    sample_ratio_p,
    sequential_test,
    welch_test,
    z_test,
)


class Recommendation(Enum):
    SHIP_VARIANT = "SHIP_VARIANT"
    KEEP_RUNNING = "KEEP_RUNNING"
    NO_DIFFERENCE = "NO_DIFFERENCE"
    INVESTIGATE_SRM = "INVESTIGATE_SRM"
    GUARDRAIL_FAILED = "GUARDRAIL_FAILED"


class MetricRole(Enum):
    PRIMARY = "PRIMARY"
    SECONDARY = "SECONDARY"
    GUARDRAIL = "GUARDRAIL"


@dataclass(frozen=True)
class VariantMetric:
    variant: str
    control: bool
    sample: Sample
    conversions: int  # actors with a non-zero value
    comparison: Comparison | None  # None for the control or below 2 actors
    adjusted_p: float | None
    significant: bool
    bayesian: Bayesian | None

    @property
    def rate(self) -> float | None:
        """Conversion rate in percent (actors with a non-zero value per exposed actor)."""
        return self.conversions / self.sample.n * 100 if self.sample.n else None

    @property
    def std(self) -> float:
        return float(self.sample.variance**0.5)


@dataclass(frozen=True)
class MetricResult:
    metric: Metric
    role: MetricRole
    variants: list[VariantMetric]
    variance_reduction: float | None = None  # CUPED: 1 - Var(adjusted) / Var(value), as a fraction


@dataclass(frozen=True)
class SeriesPoint:
    day: date
    variant: str
    exposures: int
    conversions: int
    rate: float | None
    lift: float | None  # relative to the control's cumulative rate, in percent


@dataclass(frozen=True)
class Results:
    experiment: Experiment
    exposures: dict[str, int]
    multiple_exposures: int
    srm_p: float
    srm: bool
    metrics: list[MetricResult]
    recommendation: Recommendation
    winner: str | None
    method: str
    correction: str
    series: list[SeriesPoint]


# The tenant explicitly, not only through row-level security: the business metrics may read with an
# owner connection scoped to the tenant. Per-day rows only where the daily series needs them
# (exposures, the primary metric); the other metrics' rows summed over the days.
_READ = text(
    f"""
    SELECT metric, variant, CASE WHEN metric IN ('', :primary) THEN day END AS day,
        sum(actors)::bigint AS actors, sum(multiple)::bigint AS multiple,
        sum(conversions)::bigint AS conversions, sum(total) AS total, sum(total_sq) AS total_sq,
        sum(pre_total) AS pre_total, sum(pre_total_sq) AS pre_total_sq, sum(cross_total) AS cross_total
    FROM experiment_variant_days
    WHERE {CURRENT_TENANT} AND experiment = :key AND day BETWEEN :first AND :last AND (:bots OR NOT bot)
    GROUP BY 1, 2, 3
    """
)
# The same figures for the members of a segment at their exposure, from the per-actor rows.
_READ_SEGMENT = text(
    f"""
    WITH a AS (
        SELECT a.actor, a.variant, a.day, a.multiple FROM experiment_actors a
        WHERE a.{CURRENT_TENANT} AND a.experiment = :key AND a.day BETWEEN :first AND :last
            AND (:bots OR NOT a.bot)
            AND EXISTS (SELECT 1 FROM segment_members m WHERE m.tenant_id = a.tenant_id
                        AND m.segment_id = :segment AND m.user_key = a.actor AND m.valid_from < a.exposed_at
                        AND (m.valid_to IS NULL OR m.valid_to >= a.exposed_at)))
    SELECT '' AS metric, variant, day, count(*) AS actors, count(*) FILTER (WHERE multiple) AS multiple,
        0::bigint AS conversions, 0::float8 AS total, 0::float8 AS total_sq, 0::float8 AS pre_total,
        0::float8 AS pre_total_sq, 0::float8 AS cross_total
    FROM a GROUP BY 2, 3
    UNION ALL
    SELECT v.metric, a.variant, CASE WHEN v.metric = :primary THEN a.day END, 0::bigint, 0::bigint,
        count(*) FILTER (WHERE v.value <> 0), sum(v.value), sum(v.value * v.value), sum(v.pre),
        sum(v.pre * v.pre), sum(v.value * v.pre)
    FROM experiment_actor_values v JOIN a USING (actor)
    WHERE v.{CURRENT_TENANT} AND v.experiment = :key
    GROUP BY 1, 2, 3
    """
)


def compare(conversion: bool, control: Sample, variant: Sample, sequential: bool) -> Comparison | None:
    """Conversions by the two-proportion z-test, means (and CUPED-adjusted conversions) by Welch's."""
    if control.n < 2 or variant.n < 2:
        return None
    if sequential:
        return sequential_test(control, variant, conversion=conversion)
    return z_test(control, variant) if conversion else welch_test(control, variant)


# One variant's figures as gathered: name, sample, conversions, frequentist test, Bayesian posterior.
Entry = tuple[str, Sample, int, Comparison | None, Bayesian | None]


def _variant_metrics(entries: list[Entry], control: str, adjusted: dict[tuple[int, int], float],
                     i: int) -> list[VariantMetric]:
    """Row ``i``'s variants with their Holm-adjusted p-values (``adjusted`` by (row, variant))."""
    return [
        VariantMetric(v, v == control, sample, conv, comparison, adjusted.get((i, j)),
                      adjusted.get((i, j), 1.0) < ALPHA, posterior)
        for j, (v, sample, conv, comparison, posterior) in enumerate(entries)
    ]


def _better(metric: Metric, comparison: Comparison) -> bool:
    return (comparison.difference > 0) == metric.higher_is_better and comparison.difference != 0


async def experiment_results(
    conn: AsyncConnection,
    experiment: Experiment,
    *,
    first: date,
    last: date,
    include_bots: bool,
    now: datetime,
    segment: str | None = None,
) -> Results:
    if segment is not None:
        await plan_for_values(conn)  # a segment's per-actor rows: analytics.db.plan_for_values
    rows = (
        await conn.execute(
            _READ if segment is None else _READ_SEGMENT,
            {
                "segment": segment,
                "key": experiment.key,
                "primary": experiment.primary_metric,
                "first": first,
                "last": last,
                "bots": include_bots,
            },
        )
    ).all()
    metrics = await load_metrics(conn, list(experiment.metric_keys))
    variants = [v.key for v in experiment.variants]
    control = experiment.control.key
    exposures = dict.fromkeys(variants, 0)
    multiple = 0
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0, 0.0])
    daily: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    # By position (a Row's attribute is a lookup by name, about 300 rows x 11 columns a query); the
    # SQL gives bigint counts and double sums, no numerics to convert.
    for metric_key, variant, day, actors, multiples, converted, *figures in rows:
        if variant not in exposures:
            continue
        if metric_key == EXPOSURES:
            exposures[variant] += actors
            multiple += multiples
            daily[(day, variant)][0] += actors
        else:
            seen = sums[(metric_key, variant)]
            seen[0] += converted
            for i, figure in enumerate(figures, 1):
                seen[i] += figure
            if metric_key == experiment.primary_metric:
                daily[(day, variant)][1] += converted
    srm_p = sample_ratio_p([exposures[v] for v in variants], [v.weight for v in experiment.variants])
    roles = [
        (experiment.primary_metric, MetricRole.PRIMARY),
        *((m, MetricRole.SECONDARY) for m in experiment.secondary_metrics),
        *((m, MetricRole.GUARDRAIL) for m in experiment.guardrail_metrics),
    ]
    raw: list[tuple[Metric, MetricRole, list[Entry], float | None]] = []
    for key, role in roles:
        metric = metrics.get(key)
        if metric is None:
            continue
        samples = {v: Sample(exposures[v], sums[(key, v)][1], sums[(key, v)][2]) for v in variants}
        tested, reduction = samples, None
        if experiment.cuped:
            cuped_samples, reduction = cuped(
                [(samples[v], Covariate(*sums[(key, v)][3:6])) for v in variants]
            )
            tested = dict(zip(variants, cuped_samples, strict=True))
        as_conversion = metric.kind is MetricKind.CONVERSION and not experiment.cuped
        entries = []
        for v in variants:
            comparison = (
                None
                if v == control
                else compare(as_conversion, tested[control], tested[v], experiment.sequential)
            )
            posterior = (
                None
                if comparison is None
                else bayesian(
                    tested[control],
                    tested[v],
                    conversion=as_conversion,
                    higher_is_better=metric.higher_is_better,
                )
            )
            entries.append((v, samples[v], int(sums[(key, v)][0]), comparison, posterior))
        raw.append((metric, role, entries, reduction))
    # Holm within the primary metric's variants, and across the other metrics and variants together.
    families: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
    for i, (_, role, entries, _) in enumerate(raw):
        for j, entry in enumerate(entries):
            if entry[3] is not None:
                families[role is MetricRole.PRIMARY].append((i, j))
    adjusted: dict[tuple[int, int], float] = {}
    for members in families.values():
        p_values = [c.p_value for i, j in members if (c := raw[i][2][j][3]) is not None]
        adjusted.update(zip(members, holm(p_values), strict=True))
    results = []
    for i, (metric, role, entries, reduction) in enumerate(raw):
        results.append(
            MetricResult(
                metric,
                role,
                _variant_metrics(entries, control, adjusted, i),
                reduction,
            )
        )
    recommendation, winner = _recommend(experiment, exposures, srm_p, results, now)
    return Results(
        experiment,
        exposures,
        multiple,
        srm_p,
        srm_p < SRM_ALPHA,
        results,
        recommendation,
        winner,
        ("mixture SPRT (always valid)" if experiment.sequential else "fixed horizon")
        + (", CUPED-adjusted" if experiment.cuped else ""),
        "Holm",
        _series(daily, variants, control),
    )


def _recommend(
    experiment: Experiment,
    exposures: dict[str, int],
    srm_p: float,
    results: list[MetricResult],
    now: datetime,
) -> tuple[Recommendation, str | None]:
    if srm_p < SRM_ALPHA:
        return Recommendation.INVESTIGATE_SRM, None
    primary = next((r for r in results if r.role is MetricRole.PRIMARY), None)
    if primary is None:
        return Recommendation.KEEP_RUNNING, None
    for entry in primary.variants:
        if entry.sample.n < experiment.min_actors or (
            primary.metric.kind is MetricKind.CONVERSION and entry.conversions < experiment.min_conversions
        ):
            return Recommendation.KEEP_RUNNING, None
    winners = [
        e
        for e in primary.variants
        if e.significant and e.comparison is not None and _better(primary.metric, e.comparison)
    ]
    if winners:
        best = max(
            winners,
            key=lambda e: (
                (e.comparison.difference if e.comparison else 0)
                * (1 if primary.metric.higher_is_better else -1)
            ),
        )
        for guardrail in (r for r in results if r.role is MetricRole.GUARDRAIL):
            for entry in guardrail.variants:
                if (
                    entry.variant == best.variant
                    and entry.significant
                    and entry.comparison is not None
                    and not _better(guardrail.metric, entry.comparison)
                ):
                    return Recommendation.GUARDRAIL_FAILED, best.variant
        return Recommendation.SHIP_VARIANT, best.variant
    ended = experiment.status is ExperimentStatus.STOPPED or (
        experiment.planned_stop is not None and now >= experiment.planned_stop
    )
    return (Recommendation.NO_DIFFERENCE if ended else Recommendation.KEEP_RUNNING), None


def _series(daily: dict[tuple[date, str], list[int]], variants: list[str], control: str) -> list[SeriesPoint]:
    """Cumulative exposures, conversions, rate and lift per exposure day (days with no exposure left out)."""
    points = []
    totals = {v: [0, 0] for v in variants}
    for day in sorted({d for d, _ in daily}):
        for v in variants:
            seen = daily.get((day, v), [0, 0])
            totals[v][0] += seen[0]
            totals[v][1] += seen[1]
        base = totals[control][1] / totals[control][0] if totals[control][0] else None
        for v in variants:
            n, c = totals[v]
            rate = c / n if n else None
            lift = None if v == control or rate is None or not base else (rate / base - 1) * 100
            points.append(SeriesPoint(day, v, n, c, rate * 100 if rate is not None else None, lift))
    return points


@dataclass(frozen=True)
class BreakdownGroup:
    value: str
    variants: list[VariantMetric]


async def experiment_breakdown(
    conn: AsyncConnection,
    experiment: Experiment,
    metric: Metric,
    *,
    by: BreakdownDimension,
    first: date,
    last: date,
    include_bots: bool,
    limit: int,
) -> list[BreakdownGroup]:
    """One metric per value of a dimension (analytics.experiments.breakdowns): each variant against the
    control within the value, by the metric's test, Holm-adjusted across the values and variants together
    (a breakdown is many looks at one experiment); the values with the most actors first."""
    found = await breakdown_figures(
        conn,
        experiment=experiment.key,
        dimension=by,
        metric=metric.key,
        first=first,
        last=last,
        include_bots=include_bots,
        limit=limit,
    )
    control = experiment.control.key
    conversion = metric.kind is MetricKind.CONVERSION
    raw: list[tuple[str, list[Entry]]] = []
    for value, figures in found.items():
        samples = {
            v.key: Sample(f[0], f[2], f[3])
            for v in experiment.variants
            for f in [figures.get(v.key, (0, 0, 0.0, 0.0))]
        }
        conversions = {v: figures.get(v, (0, 0))[1] for v in samples}
        entries = []
        for v, sample in samples.items():
            tested = (
                None if v == control else compare(conversion, samples[control], sample, experiment.sequential)
            )
            posterior = (
                None
                if tested is None
                else bayesian(
                    samples[control], sample, conversion=conversion, higher_is_better=metric.higher_is_better
                )
            )
            entries.append((v, sample, conversions[v], tested, posterior))
        raw.append((value, entries))
    members = [
        (i, j) for i, (_, entries) in enumerate(raw) for j, e in enumerate(entries) if e[3] is not None
    ]
    adjusted = dict(
        zip(members, holm([c.p_value for i, j in members if (c := raw[i][1][j][3]) is not None]), strict=True)
    )
    return [
        BreakdownGroup(
            value,
            _variant_metrics(entries, control, adjusted, i),
        )
        for i, (value, entries) in enumerate(raw)
    ]
