"""A funnel's result over a period, read from the progress rows (never raw events).

Who counts: the attempts that started in the period, judged as they stood at ``as_of`` (the period's
end, or now if sooner): a step counts when it was reached before ``as_of``. Each actor counts once,
with its best attempt (furthest step, then the earliest). An attempt voided by an exclusion before
``as_of`` does not count at all. Of the actors at step *k-1* that have not reached step *k*, those
whose attempt could still reach it at ``as_of`` are ``in_progress``; the others ``dropped``.

Definitions (percentages; None when the base is 0):
conversion_from_first = actors(k) / actors(1) * 100; conversion_from_previous = actors(k) /
actors(k-1) * 100; drop_off_rate = dropped(k) / actors(k-1) * 100; overall_conversion =
actors(last) / actors(1) * 100. Times from the previous step are in seconds (median, 90th
percentile, continuous). The biggest drop-off is the step with the highest drop_off_rate.

A ``Restriction`` (an SQL query returning user keys, ``u:<userId>`` / ``a:<anonymousId>``) limits
the persons counted: what a segment filter plugs in.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.custom_events.values import value_sql
from analytics.db import plan_for_values
from analytics.funnels.days import REACHED, summed_figures
from analytics.funnels.store import Funnel
from analytics.periods import Period
from analytics.segments.engagement import BUILT_IN

BREAKDOWN_LIMIT = 20
OTHER = "(other)"
NONE = "(none)"


class Dimension(enum.Enum):
    SOURCE = "SOURCE"  # the first step's session: referrer source
    DEVICE = "DEVICE"  # the first step's session: device type
    COUNTRY = "COUNTRY"  # the first step's session: country
    PROPERTY = "PROPERTY"  # a property of the first step's event (dotted path)
    DIMENSION = "DIMENSION"  # a declared dimension of the first step's event, valued as its counters
    SEGMENT = "SEGMENT"  # the person's built-in segment at the range's end


_DIMENSIONS = {
    Dimension.SOURCE: "s.referrer_source",
    Dimension.DEVICE: "s.device_type",
    Dimension.COUNTRY: "s.country",
    Dimension.PROPERTY: "a.properties #>> CAST(:path AS text[])",
    Dimension.DIMENSION: value_sql("a.properties", "CAST(:dimension AS text)"),
    Dimension.SEGMENT: "(SELECT min(m.segment_id) FROM segment_members m WHERE m.tenant_id = a.tenant_id "
                       "AND m.user_key = a.person AND m.segment_id = ANY(CAST(:builtins AS text[])) "
                       "AND m.valid_from < :end AND (m.valid_to IS NULL OR m.valid_to >= :end))",
}


@dataclass(frozen=True)
class Restriction:
    sql: str  # SELECT of user keys; may use :tenant and its own params
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepFigures:
    index: int
    actors: int
    conversion_from_first: float | None
    conversion_from_previous: float | None
    dropped: int  # of the previous step's actors: out of time, or broken off
    in_progress: int  # of the previous step's actors: still inside their window
    drop_off_rate: float | None
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class FunnelFigures:
    value: str | None  # the breakdown value; None for the whole funnel
    steps: tuple[StepFigures, ...]

    @property
    def overall_conversion(self) -> float | None:
        return metrics.rate(self.steps[-1].actors, self.steps[0].actors)

    @property
    def biggest_drop_off(self) -> StepFigures | None:
        candidates = [s for s in self.steps[1:] if s.drop_off_rate]
        return max(candidates, key=lambda s: (s.drop_off_rate or 0, -s.index)) if candidates else None


_BEST = f"""
WITH attempts AS (
    SELECT a.actor, a.started_at, a.ended_at, a.step_ats, cardinality(a.step_ats) AS furthest,
           {REACHED} AS reached, {{dimension}} AS dim
    FROM funnel_attempts a
    LEFT JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_key
    WHERE a.tenant_id = :tenant AND a.funnel_id = :funnel AND a.started_at >= :start AND a.started_at < :end
      AND a.started_at < :as_of AND NOT (a.voided AND a.ended_at < :as_of)
      AND (CAST(:include_bots AS boolean) OR NOT a.bot) {{restriction}}
), best AS (
    SELECT DISTINCT ON (actor COLLATE "C") coalesce(dim, '(none)') AS dim, step_ats, reached,
           reached < :steps AND (reached < furthest OR ended_at >= :as_of) AS open
    FROM attempts ORDER BY actor COLLATE "C", reached DESC, started_at
)"""
_SPLIT = """, top AS (
    SELECT dim FROM best GROUP BY dim ORDER BY count(*) DESC, dim LIMIT :limit
), grouped AS (
    SELECT CASE WHEN dim IN (SELECT dim FROM top) THEN dim ELSE '(other)' END AS dim, step_ats, reached, open
    FROM best
)"""


def _query(steps: int, dimension: str | None, restriction: str) -> str:
    """One pass over the best attempts: per step its actors, its open and dropped predecessors, and
    the median and 90th percentile of the time from the previous step (one sort for both)."""
    figures = []
    for k in range(1, steps + 1):
        figures.append(f"count(*) FILTER (WHERE reached >= {k}) AS actors_{k}")
        if k > 1:
            # date_part is double precision; extract() is numeric, whose sort and interpolation cost
            # about twice as much here (results are rounded to milliseconds either way)
            gap = f"date_part('epoch', step_ats[{k}] - step_ats[{k - 1}])"
            figures += [f"count(*) FILTER (WHERE reached = {k - 1} AND open) AS open_{k}",
                        f"count(*) FILTER (WHERE reached = {k - 1} AND NOT open) AS dropped_{k}",
                        f"percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY {gap}) "
                        f"FILTER (WHERE reached >= {k}) AS times_{k}"]
    head = _BEST.format(dimension=dimension or "NULL::text", restriction=restriction)
    if dimension is None:
        return f"{head} SELECT NULL AS dim, {', '.join(figures)} FROM best HAVING count(*) > 0"
    return f"{head}{_SPLIT} SELECT dim, {', '.join(figures)} FROM grouped GROUP BY dim ORDER BY dim"


async def funnel_figures(
    conn: AsyncConnection,
    tenant_id: int,
    funnel: Funnel,
    period: Period,
    *,
    include_bots: bool = False,
    dimension: Dimension | None = None,
    prop: str | None = None,
    restriction: Restriction | None = None,
    limit: int = BREAKDOWN_LIMIT,
    now: datetime | None = None,
    scan: bool = False,
) -> list[FunnelFigures]:
    """The funnel's figures over ``period``: one item without a dimension, else one per value (the
    top 20 by actors at the first step, then ``(other)``), ordered by first-step actors. The whole
    funnel (no dimension, no restriction) is summed from whole days (analytics.funnels.days) unless
    ``scan``: then every attempt of the range is read (the reference the sums are tested against)."""
    as_of = min(period.end, now or datetime.now(UTC))
    steps = len(funnel.definition.steps)
    # The sorts (best attempts, step times) stay in memory; the range's own bounds pick the index scans
    # of the few attempts read one by one.
    await conn.execute(text("SELECT set_config('work_mem', '64MB', true)"))
    await plan_for_values(conn)
    if dimension is None and restriction is None and not scan:
        row = await summed_figures(conn, tenant_id, funnel.id, steps, period.start, period.end, as_of,
                                   include_bots)
        return [FunnelFigures(None, _steps(row, steps))]
    params: dict[str, Any] = {
        "tenant": tenant_id,
        "funnel": funnel.id,
        "start": period.start,
        "end": period.end,
        "as_of": as_of,
        "include_bots": include_bots,
        "steps": steps,
        "limit": limit,
    }
    if dimension is Dimension.PROPERTY:
        params["path"] = (prop or "").split(".")
    elif dimension is Dimension.DIMENSION:
        params["dimension"] = prop or ""
    elif dimension is Dimension.SEGMENT:
        params["builtins"] = list(BUILT_IN)
    sql = _query(steps, _DIMENSIONS[dimension] if dimension else None,
                 f"AND a.person IN ({restriction.sql})" if restriction else "")
    if restriction:
        params.update(restriction.params)
    rows = (await conn.execute(text(sql), params)).all()
    results = [FunnelFigures(None if dimension is None else row.dim, _steps(row, steps)) for row in rows]
    if not results:
        results = [FunnelFigures(None if dimension is None else NONE, _steps(None, steps))]
    results.sort(key=lambda r: (r.value == OTHER, -r.steps[0].actors, r.value or ""))
    return results


def _steps(row: Any, count: int) -> tuple[StepFigures, ...]:
    actors = [int(getattr(row, f"actors_{k}")) if row is not None else 0 for k in range(1, count + 1)]
    figures = []
    for k in range(1, count + 1):
        previous = actors[k - 2] if k > 1 else actors[0]
        dropped = int(getattr(row, f"dropped_{k}")) if row is not None and k > 1 else 0
        times = getattr(row, f"times_{k}") if row is not None and k > 1 else None
        figures.append(StepFigures(
            index=k - 1, actors=actors[k - 1],
            conversion_from_first=metrics.rate(actors[k - 1], actors[0]),
            conversion_from_previous=metrics.rate(actors[k - 1], previous),
            dropped=dropped, in_progress=int(getattr(row, f"open_{k}")) if row is not None and k > 1 else 0,
            drop_off_rate=metrics.rate(dropped, previous) if k > 1 else None,
            median_seconds=_seconds(times[0] if times else None),
            p90_seconds=_seconds(times[1] if times else None)))
    return tuple(figures)

def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)
