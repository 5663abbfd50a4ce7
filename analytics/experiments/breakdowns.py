"""Experiment results per traffic source, device or segment: the rollup's per-value aggregates
(experiment_breakdown_days, kept beside experiment_variant_days) and their reading.

An actor's source and device are its first exposure's session's (referrer class, device type;
``unknown`` without a session), fixed at the exposure like its variant. Its segments are those it was
a member of at its exposure (the targeting segment's "as of" rule): membership before the treatment,
so a variant cannot move people between groups; an actor in several segments counts in each.
Source and device read the aggregates; segments read the per-actor rows (experiment_actors joined to
segment_members and experiment_actor_values), never the raw events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from enum import Enum
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT, plan_for_values

UNKNOWN = "unknown"
OTHER = "(other)"
BREAKDOWN_LIMIT = 20


class BreakdownDimension(Enum):
    SOURCE = "SOURCE"
    DEVICE = "DEVICE"
    SEGMENT = "SEGMENT"


_KEPT = ((BreakdownDimension.SOURCE, "source"), (BreakdownDimension.DEVICE, "device"))


class ExposedActor(Protocol):
    @property
    def variant(self) -> str: ...
    @property
    def day(self) -> date: ...
    @property
    def bot(self) -> bool: ...
    @property
    def source(self) -> str: ...
    @property
    def device(self) -> str: ...


# (experiment, dimension, metric, value, variant, day, bot) -> [actors, conversions, total, total_sq]
BreakdownKey = tuple[str, str, str, str, str, date, bool]
BreakdownDeltas = dict[BreakdownKey, list[float]]


def breakdown_deltas(
    deltas: BreakdownDeltas, experiment: str, actor: ExposedActor, values: Mapping[str, float], sign: int
) -> None:
    """An actor's contribution (``sign`` 1) or its withdrawal (-1): its exposure under the metric ``''``
    and each metric's value, under its source and under its device."""
    for dimension, attribute in _KEPT:
        value = str(getattr(actor, attribute))
        head = (experiment, dimension.value)
        tail = (value, actor.variant, actor.day, actor.bot)
        deltas[(*head, "", *tail)][0] += sign
        for metric, found in values.items():
            row = deltas[(*head, metric, *tail)]
            row[1] += sign * (found != 0)
            row[2] += sign * found
            row[3] += sign * found * found


_UPSERT = text(
    """
    INSERT INTO experiment_breakdown_days (tenant_id, experiment, dimension, metric, value, variant, day, bot,
        actors, conversions, total, total_sq)
    SELECT :tenant, * FROM unnest(
        CAST(:experiment AS text[]), CAST(:dimension AS text[]), CAST(:metric AS text[]),
        CAST(:value AS text[]), CAST(:variant AS text[]), CAST(:day AS date[]), CAST(:bot AS boolean[]),
        CAST(:actors AS bigint[]), CAST(:conversions AS bigint[]), CAST(:total AS float8[]),
        CAST(:total_sq AS float8[]))
    ON CONFLICT (tenant_id, experiment, dimension, metric, value, variant, day, bot) DO UPDATE SET
        actors = experiment_breakdown_days.actors + EXCLUDED.actors,
        conversions = experiment_breakdown_days.conversions + EXCLUDED.conversions,
        total = experiment_breakdown_days.total + EXCLUDED.total,
        total_sq = experiment_breakdown_days.total_sq + EXCLUDED.total_sq
    """
)


async def write_breakdowns(conn: AsyncConnection, tenant_id: int, deltas: BreakdownDeltas) -> None:
    """One statement, rows in key order (the lock order of every writer)."""
    rows = sorted((k, v) for k, v in deltas.items() if any(v))
    if not rows:
        return
    columns = ("experiment", "dimension", "metric", "value", "variant", "day", "bot")
    params: dict[str, object] = {name: [k[i] for k, _ in rows] for i, name in enumerate(columns)}
    params.update(
        tenant=tenant_id,
        actors=[int(v[0]) for _, v in rows],
        conversions=[int(v[1]) for _, v in rows],
        total=[v[2] for _, v in rows],
        total_sq=[v[3] for _, v in rows],
    )
    await conn.execute(_UPSERT, params)


# A person's contributions out of the breakdowns (run by the erasure before their actor rows go).
BREAKDOWN_ERASE = """
    WITH a AS (SELECT experiment, variant, day, bot, source, device FROM experiment_actors
               WHERE tenant_id = :tenant AND actor = :user_key),
    dims AS (SELECT experiment, 'SOURCE' AS dimension, source AS value, variant, day, bot FROM a
             UNION ALL SELECT experiment, 'DEVICE', device, variant, day, bot FROM a),
    d AS (SELECT experiment, dimension, '' AS metric, value, variant, day, bot, 1 AS actors,
                 0 AS conversions, 0::float8 AS total, 0::float8 AS total_sq FROM dims
          UNION ALL
          SELECT dims.experiment, dims.dimension, v.metric, dims.value, dims.variant, dims.day, dims.bot, 0,
                 (v.value <> 0)::int, v.value, v.value * v.value
          FROM experiment_actor_values v JOIN dims USING (experiment)
          WHERE v.tenant_id = :tenant AND v.actor = :user_key)
    UPDATE experiment_breakdown_days t SET actors = t.actors - d.actors,
        conversions = t.conversions - d.conversions, total = t.total - d.total,
        total_sq = t.total_sq - d.total_sq
    FROM d WHERE t.tenant_id = :tenant AND t.experiment = d.experiment AND t.dimension = d.dimension
        AND t.metric = d.metric AND t.value = d.value AND t.variant = d.variant AND t.day = d.day
        AND t.bot = d.bot
    """
NONZERO = (
    "(actors <> 0 OR conversions <> 0 OR round(total::numeric, 6) <> 0 OR round(total_sq::numeric, 6) <> 0)"
)
BREAKDOWN_CLEAR = (
    f"DELETE FROM experiment_breakdown_days WHERE tenant_id = :tenant AND day = :day AND NOT {NONZERO}"
)
BREAKDOWN_EXPIRY = {
    "experiment_breakdown_days": "DELETE FROM experiment_breakdown_days WHERE tenant_id = :tenant "
    "AND day < (SELECT day FROM kept)"
}

_READ_KEPT = text(
    f"""
    SELECT value, variant, sum(actors) FILTER (WHERE metric = '') AS actors,
        coalesce(sum(conversions) FILTER (WHERE metric = :metric), 0) AS conversions,
        coalesce(sum(total) FILTER (WHERE metric = :metric), 0) AS total,
        coalesce(sum(total_sq) FILTER (WHERE metric = :metric), 0) AS total_sq
    FROM experiment_breakdown_days
    WHERE {CURRENT_TENANT} AND experiment = :key AND dimension = :dimension AND metric IN ('', :metric)
        AND day BETWEEN :first AND :last AND (:bots OR NOT bot)
    GROUP BY 1, 2
    """
)


# Members at their exposure (the segments' "as of" rule, analytics.segments.service.MEMBERS_AT_SQL).
_READ_SEGMENTS = text(
    f"""
    SELECT m.segment_id AS value, a.variant, count(*) AS actors,
        count(*) FILTER (WHERE v.value <> 0) AS conversions, coalesce(sum(v.value), 0) AS total,
        coalesce(sum(v.value * v.value), 0) AS total_sq
    FROM experiment_actors a
    JOIN segment_members m ON m.tenant_id = a.tenant_id AND m.user_key = a.actor
        AND m.valid_from < a.exposed_at AND (m.valid_to IS NULL OR m.valid_to >= a.exposed_at)
    LEFT JOIN experiment_actor_values v ON v.tenant_id = a.tenant_id AND v.experiment = a.experiment
        AND v.actor = a.actor AND v.metric = :metric
    WHERE a.{CURRENT_TENANT} AND a.experiment = :key AND a.day BETWEEN :first AND :last
        AND (:bots OR NOT a.bot)
    GROUP BY 1, 2
    """
)

# value -> variant -> (actors, conversions, total, total_sq)
Figures = dict[str, dict[str, tuple[int, int, float, float]]]


async def breakdown_figures(
    conn: AsyncConnection,
    *,
    experiment: str,
    dimension: BreakdownDimension,
    metric: str,
    first: date,
    last: date,
    include_bots: bool,
    limit: int = BREAKDOWN_LIMIT,
) -> Figures:
    """Per value and variant, the actors exposed in the days and their figures on ``metric``: at most
    ``limit`` groups, the values with the most actors first; when more values were found, the last group
    is ``(other)``, the rest together (not for segments, whose groups overlap: the top ``limit``)."""
    sql = _READ_SEGMENTS if dimension is BreakdownDimension.SEGMENT else _READ_KEPT
    if dimension is BreakdownDimension.SEGMENT:
        await plan_for_values(conn)  # a segment's per-actor rows: analytics.db.plan_for_values
    rows = await conn.execute(
        sql,
        {
            "key": experiment,
            "dimension": dimension.value,
            "metric": metric,
            "first": first,
            "last": last,
            "bots": include_bots,
        },
    )
    found: Figures = defaultdict(dict)
    for r in rows:
        if r.actors:
            found[r.value][r.variant] = (int(r.actors), int(r.conversions), float(r.total), float(r.total_sq))
    ordered = sorted(found, key=lambda v: (-sum(f[0] for f in found[v].values()), v))
    pooled = dimension is not BreakdownDimension.SEGMENT and len(ordered) > limit
    if pooled:
        limit -= 1
    kept: Figures = {v: found[v] for v in ordered[:limit]}
    if pooled:
        other: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])
        for value in ordered[limit:]:
            for variant, figures in found[value].items():
                for i, x in enumerate(figures):
                    other[variant][i] += x
        kept[OTHER] = {v: (int(f[0]), int(f[1]), f[2], f[3]) for v, f in other.items()}
    return kept
