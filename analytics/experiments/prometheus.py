"""Reference 001's experiment families for the worker-refreshed business metrics (the integrator
registers them): active experiments, conversions and conversion rate per experiment and variant on the
primary metric, and significant results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.experiments.definitions import ExperimentStatus, load_experiments
from analytics.experiments.results import experiment_results


@dataclass(frozen=True)
class Sample:
    family: str
    labels: dict[str, str]
    value: float


async def experiment_families(conn: AsyncConnection, *, now: datetime) -> list[Sample]:
    """``analytics_active_experiments``, ``analytics_experiment_conversions{experiment_id,variant}``,
    ``analytics_experiment_conversion_rate{experiment_id,variant}`` (percent) and
    ``analytics_significant_results_total`` for the transaction's tenant (bots left out)."""
    running = await load_experiments(conn, status=ExperimentStatus.RUNNING)
    samples = [Sample("analytics_active_experiments", {}, float(len(running)))]
    significant = 0
    for experiment in running:
        found = await experiment_results(conn, experiment, first=date.min, last=date.max, include_bots=False,
                                         now=now)
        for metric in found.metrics:
            significant += sum(1 for v in metric.variants if v.significant)
            if metric.metric.key != experiment.primary_metric:
                continue
            for v in metric.variants:
                labels = {"experiment_id": experiment.key, "variant": v.variant}
                samples.append(Sample("analytics_experiment_conversions", labels, float(v.conversions)))
                samples.append(Sample("analytics_experiment_conversion_rate", labels, v.rate or 0.0))
    samples.append(Sample("analytics_significant_results_total", {}, float(significant)))
    return samples
