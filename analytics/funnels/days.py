"""A funnel's whole result (no breakdown, no segment) from the day sums, reading few attempts.

``funnel_days`` and ``funnel_day_gaps`` (kept by triggers on ``funnel_attempts``, migration 0037) sum
the *sole* attempts (their actor's only one) per local day of the start, bot, voided, furthest step,
local day of the last step and local day of the end. For a range and ``as_of`` (its end, or now), a
sole attempt of a whole local day inside the range is settled by its day keys alone when
- it ended on a day before ``as_of``'s (``ended_day < as_of_day``): it stands as it finished; it
  counts unless voided, at its furthest step, dropped if it did not complete;
- or its last step came on a day before ``as_of``'s and it ends on a day after: it counts, at its
  furthest step, still in progress.
Every other attempt of the range (an actor with several attempts, the range's partial first and last
days, a last step or an end on ``as_of``'s day) is read and judged one by one exactly as
:mod:`analytics.funnels.result` does, so the figures equal that module's scan (a test compares both).
Percentiles: the step times of the summed attempts come as one sorted array per day row, those of the
attempts read one by one beside them; Python merges them and interpolates exactly as PostgreSQL's
``percentile_cont`` (so they still grow with the actors of the range, as a merge of floats, where the
counts grow with its days).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Which step an attempt had reached at :as_of; step times ascend, so usually the last one decides.
REACHED = ("CASE WHEN a.step_ats[cardinality(a.step_ats)] < :as_of THEN cardinality(a.step_ats) "
           "ELSE (SELECT count(*) FROM unnest(a.step_ats) t WHERE t < :as_of)::int END")
PERCENTILES = (0.5, 0.9)
# A local day lasts at most 25 hours: these margins make index ranges that surely hold the day.
_MARGIN = timedelta(hours=27)

# A day-sum row (or an attempt, by its own day keys) settled at :as_of.
_SETTLED = ("(({x}ended_day < b.as_of_day AND NOT {x}voided) "
            "OR ({x}last_day < b.as_of_day AND {x}ended_day > b.as_of_day))")
_ATTEMPT_DAYS = ("(SELECT (a.ended_at AT TIME ZONE b.tz)::date AS ended_day, a.voided, "
                 "(a.step_ats[cardinality(a.step_ats)] AT TIME ZONE b.tz)::date AS last_day) x")
# The attempts to read one by one, each found through an index: actors with several attempts, the
# partial first and last days (with margins), and a last step or an end near :as_of; then judged
# exactly by their day keys.
_CANDIDATES = """
    SELECT {columns} FROM funnel_attempts a WHERE {where} AND NOT a.sole
    UNION SELECT {columns} FROM funnel_attempts a WHERE {where} AND a.started_at < :head
    UNION SELECT {columns} FROM funnel_attempts a WHERE {where} AND a.started_at >= :tail
    UNION SELECT {columns} FROM funnel_attempts a WHERE {where}
        AND a.ended_at >= :near_from AND a.ended_at < :near_to
    UNION SELECT {columns} FROM funnel_attempts a WHERE {where} AND a.last_at >= :near_from
""".format(
    columns="a.person, a.first_event, a.actor, a.started_at, a.ended_at, a.step_ats, a.voided, a.sole",
    where="a.tenant_id = :tenant AND a.funnel_id = :funnel "
          "AND a.started_at >= :start AND a.started_at < :end AND a.started_at < :as_of "
          "AND NOT (a.voided AND a.ended_at < :as_of) "
          "AND (CAST(:include_bots AS boolean) OR NOT a.bot)")
_QUERY = f"""
WITH b AS (
    SELECT t.timezone AS tz,
           (CAST(:start AS timestamptz) AT TIME ZONE t.timezone)::date
             + CASE WHEN (CAST(:start AS timestamptz) AT TIME ZONE t.timezone)::time = '00:00'
                    THEN 0 ELSE 1 END
             AS first_day,
           (CAST(:end AS timestamptz) AT TIME ZONE t.timezone)::date - 1 AS last_day,
           (CAST(:as_of AS timestamptz) AT TIME ZONE t.timezone)::date AS as_of_day
    FROM tenants t WHERE t.id = :tenant
), attempts AS (
    SELECT a.actor, a.started_at, a.ended_at, a.step_ats, cardinality(a.step_ats) AS furthest,
           {REACHED} AS reached
    FROM ({_CANDIDATES}) a CROSS JOIN b
    WHERE NOT a.sole OR (a.started_at AT TIME ZONE b.tz)::date NOT BETWEEN b.first_day AND b.last_day
          OR NOT (SELECT {_SETTLED.format(x="x.")} FROM {_ATTEMPT_DAYS})
), best AS (
    SELECT DISTINCT ON (actor COLLATE "C") step_ats, reached,
           reached < :steps AND (reached < furthest OR ended_at >= :as_of) AS open
    FROM attempts ORDER BY actor COLLATE "C", reached DESC, started_at
), counted AS (
    SELECT reached, open, 1 AS n FROM best
    UNION ALL
    SELECT d.reached, d.ended_day > b.as_of_day, sum(d.attempts)
    FROM funnel_days d CROSS JOIN b
    WHERE d.tenant_id = :tenant AND d.funnel_id = :funnel AND d.day BETWEEN b.first_day AND b.last_day
      AND (CAST(:include_bots AS boolean) OR NOT d.bot) AND {_SETTLED.format(x="d.")}
    GROUP BY 1, 2
)
SELECT 'count' AS kind, reached AS step, open, sum(n) AS n, NULL::float8[] AS gaps FROM counted
GROUP BY reached, open HAVING sum(n) > 0
UNION ALL
SELECT 'gaps', k, NULL, NULL, array_agg(date_part('epoch', step_ats[k] - step_ats[k - 1]))
FROM best CROSS JOIN LATERAL generate_series(2, reached) AS k GROUP BY k
UNION ALL
SELECT 'gaps', g.step, NULL, NULL, g.gaps
FROM funnel_day_gaps g CROSS JOIN b
WHERE g.tenant_id = :tenant AND g.funnel_id = :funnel AND g.day BETWEEN b.first_day AND b.last_day
  AND (CAST(:include_bots AS boolean) OR NOT g.bot) AND {_SETTLED.format(x="g.")}
"""
_SQL = text(_QUERY)


def percentile_cont(ordered: list[float], p: float) -> float:
    """PostgreSQL's percentile_cont over sorted values: the value at rank p*(n-1) (0-based), interpolated
    between its floor and ceiling exactly as its float8 code does (the scan's figures, to the bit)."""
    position = p * float(len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


async def summed_figures(conn: AsyncConnection, tenant_id: int, funnel_id: int, steps: int, start: datetime,
                         end: datetime, as_of: datetime, include_bots: bool) -> Any | None:
    """One row as :mod:`analytics.funnels.result`'s query gives it (``actors_k``, ``open_k``,
    ``dropped_k``, ``times_k``), or None when no actor started the funnel in the range."""
    rows = (await conn.execute(_SQL, {
        "tenant": tenant_id, "funnel": funnel_id, "start": start, "end": end, "as_of": as_of,
        "include_bots": include_bots, "steps": steps, "head": start + _MARGIN, "tail": end - _MARGIN,
        "near_from": as_of - _MARGIN, "near_to": as_of + _MARGIN})).all()
    stopped = {(int(r.step), bool(r.open)): int(r.n) for r in rows if r.kind == "count"}
    if not stopped:
        return None
    figures: dict[str, Any] = {}
    for k in range(1, steps + 1):
        figures[f"actors_{k}"] = sum(n for (reached, _), n in stopped.items() if reached >= k)
        figures[f"open_{k}"] = stopped.get((k - 1, True), 0)
        figures[f"dropped_{k}"] = stopped.get((k - 1, False), 0)
        figures[f"times_{k}"] = None
    times: dict[int, list[float]] = {}
    for r in rows:
        if r.kind == "gaps":
            times.setdefault(int(r.step), []).extend(r.gaps)
    for step, values in times.items():
        if values:
            values.sort()  # sorted runs, one per day row: a merge
            figures[f"times_{step}"] = [percentile_cont(values, p) for p in PERCENTILES]
    return SimpleNamespace(**figures)
