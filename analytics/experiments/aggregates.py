"""The experiments' rollup consumer: each actor's first exposure and metric values, and per variant,
metric, exposure day and bot side the actors, conversions, sums and sums of squares the results read.

Per claim: exposures first (``ExperimentExposure`` of a started experiment, between its start and stop,
naming one of its variants; the first one processed for an actor wins and a second variant marks the
actor ``multiple``), then every event matching an experiment's metric adds to an exposed actor's value
when it happened at or after the exposure (within a conversion metric's window): a conversion before
the exposure is ignored. A duplicate event never reaches the rollup twice (the ingest stores it once).
The bot side of an actor is the side of its exposure's session when the exposure was rolled up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.experiments.definitions import (
    Experiment,
    Metric,
    MetricKind,
    load_metrics,
    started_experiments,
)
from analytics.experiments.recompute import verify_experiments
from analytics.ingest.catalogue import EXPOSURE
from analytics.rollups.aggregate import RawEvent, user_key
from analytics.rollups.consumers import Claim, Consumer

EXPOSURES = ""  # the metric column of a variant's exposure row in experiment_variant_days


@dataclass
class Actor:
    variant: str
    exposed_at: datetime
    day: date
    bot: bool
    multiple: bool
    changed: bool = False


def metric_value(metric: Metric, event: RawEvent) -> float | None:
    """What one matching event adds to an actor's value: None when it adds nothing."""
    if metric.kind is MetricKind.SUM:
        found: Any = event.properties or {}
        for part in (metric.property or "").split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if isinstance(found, bool) or not isinstance(found, (int, float)):
            return None
        return float(found)
    return 1.0


def counts_after(metric: Metric, exposed_at: datetime, at: datetime) -> bool:
    if at < exposed_at:
        return False
    return metric.window_hours is None or at <= exposed_at + timedelta(hours=metric.window_hours)


_LOAD_ACTORS = text(
    """
    SELECT a.experiment, a.actor, a.variant, a.exposed_at, a.day, a.bot, a.multiple
    FROM unnest(CAST(:experiments AS text[]), CAST(:actors AS text[])) AS k(experiment, actor)
    JOIN experiment_actors a ON a.tenant_id = :tenant AND a.experiment = k.experiment AND a.actor = k.actor
    """
)
_LOAD_VALUES = text(
    """
    SELECT v.experiment, v.metric, v.actor, v.value
    FROM unnest(CAST(:experiments AS text[]), CAST(:metrics AS text[]), CAST(:actors AS text[]))
        AS k(experiment, metric, actor)
    JOIN experiment_actor_values v ON v.tenant_id = :tenant AND v.experiment = k.experiment
        AND v.metric = k.metric AND v.actor = k.actor
    """
)
_UPSERT_ACTORS = text(
    """
    INSERT INTO experiment_actors (tenant_id, experiment, actor, variant, exposed_at, day, bot, multiple)
    SELECT :tenant, * FROM unnest(
        CAST(:experiment AS text[]), CAST(:actor AS text[]), CAST(:variant AS text[]),
        CAST(:exposed_at AS timestamptz[]), CAST(:day AS date[]), CAST(:bot AS boolean[]),
        CAST(:multiple AS boolean[]))
    ON CONFLICT (tenant_id, experiment, actor) DO UPDATE SET multiple = EXCLUDED.multiple
    """
)
_UPSERT_VALUES = text(
    """
    INSERT INTO experiment_actor_values (tenant_id, experiment, metric, actor, value)
    SELECT :tenant, * FROM unnest(
        CAST(:experiment AS text[]), CAST(:metric AS text[]), CAST(:actor AS text[]),
        CAST(:value AS float8[]))
    ON CONFLICT (tenant_id, experiment, metric, actor) DO UPDATE SET value = EXCLUDED.value
    """
)
_UPSERT_DAYS = text(
    """
    INSERT INTO experiment_variant_days (tenant_id, experiment, metric, variant, day, bot, actors, multiple,
        conversions, total, total_sq)
    SELECT :tenant, * FROM unnest(
        CAST(:experiment AS text[]), CAST(:metric AS text[]), CAST(:variant AS text[]),
        CAST(:day AS date[]), CAST(:bot AS boolean[]), CAST(:actors AS bigint[]), CAST(:multiple AS bigint[]),
        CAST(:conversions AS bigint[]), CAST(:total AS float8[]), CAST(:total_sq AS float8[]))
    ON CONFLICT (tenant_id, experiment, metric, variant, day, bot) DO UPDATE SET
        actors = experiment_variant_days.actors + EXCLUDED.actors,
        multiple = experiment_variant_days.multiple + EXCLUDED.multiple,
        conversions = experiment_variant_days.conversions + EXCLUDED.conversions,
        total = experiment_variant_days.total + EXCLUDED.total,
        total_sq = experiment_variant_days.total_sq + EXCLUDED.total_sq
    """
)


def _exposures(
    experiments: dict[str, Experiment], events: Iterable[tuple[RawEvent, bool]]
) -> dict[tuple[str, str], list[tuple[datetime, str, bool]]]:
    """(experiment, actor) -> its exposures in this claim, earliest first: (at, variant, bot)."""
    found: dict[tuple[str, str], list[tuple[datetime, str, bool]]] = defaultdict(list)
    for event, bot in events:
        if event.type != EXPOSURE or not isinstance(event.properties, dict):
            continue
        experiment = experiments.get(str(event.properties.get("experiment")))
        variant = event.properties.get("variant")
        if (
            experiment is None
            or not experiment.live_at(event.occurred_at)
            or variant not in {v.key for v in experiment.variants}
        ):
            continue
        found[(experiment.key, user_key(event.user_id, event.anonymous_id))].append(
            (event.occurred_at, str(variant), bot)
        )
    for seen in found.values():
        seen.sort()
    return found


async def _consume(conn: AsyncConnection, claim: Claim) -> None:
    if claim.correcting:
        return
    experiments = {e.key: e for e in await started_experiments(conn, claim.tenant_id)}
    if not experiments:
        return
    metrics = await load_metrics(
        conn, sorted({m for e in experiments.values() for m in e.metric_keys}), tenant_id=claim.tenant_id
    )
    events = [
        (event, bot)
        for event, bot in claim.with_bot()
        if event.user_id is not None or event.anonymous_id is not None
    ]
    exposures = _exposures(experiments, events)
    # (experiment, metric key, actor) -> [(at, added value)] of the claim's matching events
    matched: dict[tuple[str, str, str], list[tuple[datetime, float]]] = defaultdict(list)
    for event, _ in events:
        who = user_key(event.user_id, event.anonymous_id)
        for experiment in experiments.values():
            for key in experiment.metric_keys:
                metric = metrics.get(key)
                if metric is not None and metric.matcher.matches(event):
                    added = metric_value(metric, event)
                    if added is not None:
                        matched[(experiment.key, key, who)].append((event.occurred_at, added))
    keys = sorted(set(exposures) | {(e, a) for e, _, a in matched})
    if not keys:
        return
    actors: dict[tuple[str, str], Actor] = {
        (r.experiment, r.actor): Actor(r.variant, r.exposed_at, r.day, r.bot, r.multiple)
        for r in await conn.execute(
            _LOAD_ACTORS,
            {"tenant": claim.tenant_id, "experiments": [k[0] for k in keys], "actors": [k[1] for k in keys]},
        )
    }
    deltas: dict[tuple[str, str, str, date, bool], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0.0])
    for actor_key, seen in sorted(exposures.items()):
        actor = actors.get(actor_key)
        if actor is None:
            at, variant, bot = seen[0]
            actor = actors[actor_key] = Actor(
                variant, at, at.astimezone(claim.tz).date(), bot, False, changed=True
            )
            deltas[(actor_key[0], EXPOSURES, variant, actor.day, bot)][0] += 1
        if not actor.multiple and any(v != actor.variant for _, v, _ in seen):
            actor.multiple = actor.changed = True
            deltas[(actor_key[0], EXPOSURES, actor.variant, actor.day, actor.bot)][1] += 1
    value_keys = sorted(k for k in matched if (k[0], k[2]) in actors)
    old_values = (
        {
            (r.experiment, r.metric, r.actor): float(r.value)
            for r in await conn.execute(
                _LOAD_VALUES,
                {
                    "tenant": claim.tenant_id,
                    "experiments": [k[0] for k in value_keys],
                    "metrics": [k[1] for k in value_keys],
                    "actors": [k[2] for k in value_keys],
                },
            )
        }
        if value_keys
        else {}
    )
    new_values: list[tuple[tuple[str, str, str], float]] = []
    for value_key in value_keys:
        experiment_key, metric_key, who = value_key
        actor, metric = actors[(experiment_key, who)], metrics[metric_key]
        counted = [added for at, added in matched[value_key] if counts_after(metric, actor.exposed_at, at)]
        if not counted:
            continue
        old = old_values.get(value_key, 0.0)
        new = 1.0 if metric.kind is MetricKind.CONVERSION else old + sum(counted)
        if new == old:
            continue
        new_values.append((value_key, new))
        delta = deltas[(experiment_key, metric_key, actor.variant, actor.day, actor.bot)]
        delta[2] += (new != 0) - (old != 0)
        delta[3] += new - old
        delta[4] += new * new - old * old
    changed = sorted((k, a) for k, a in actors.items() if a.changed)
    tenant = claim.tenant_id
    if changed:
        await conn.execute(
            _UPSERT_ACTORS,
            {
                "tenant": tenant,
                "experiment": [k[0] for k, _ in changed],
                "actor": [k[1] for k, _ in changed],
                "variant": [a.variant for _, a in changed],
                "exposed_at": [a.exposed_at for _, a in changed],
                "day": [a.day for _, a in changed],
                "bot": [a.bot for _, a in changed],
                "multiple": [a.multiple for _, a in changed],
            },
        )
    if new_values:
        await conn.execute(
            _UPSERT_VALUES,
            {
                "tenant": tenant,
                "experiment": [k[0] for k, _ in new_values],
                "metric": [k[1] for k, _ in new_values],
                "actor": [k[2] for k, _ in new_values],
                "value": [v for _, v in new_values],
            },
        )
    rows = sorted(deltas.items())
    if rows:
        await conn.execute(
            _UPSERT_DAYS,
            {
                "tenant": tenant,
                "experiment": [k[0] for k, _ in rows],
                "metric": [k[1] for k, _ in rows],
                "variant": [k[2] for k, _ in rows],
                "day": [k[3] for k, _ in rows],
                "bot": [k[4] for k, _ in rows],
                "actors": [int(v[0]) for _, v in rows],
                "multiple": [int(v[1]) for _, v in rows],
                "conversions": [int(v[2]) for _, v in rows],
                "total": [v[3] for _, v in rows],
                "total_sq": [v[4] for _, v in rows],
            },
        )


EXPERIMENTS = Consumer(
    "experiments",
    _consume,
    verify_experiments,
    tables=("experiment_actors", "experiment_actor_values", "experiment_variant_days"),
)
