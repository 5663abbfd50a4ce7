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
Percentiles: the step times of the summed attempts come as one array per day row, those of the
attempts read one by one beside them, in binary (``array_send``) straight into numpy; the two ranks
each percentile needs are found by selection and interpolated exactly as PostgreSQL's
``percentile_cont`` (so they still grow with the actors of the range, as a read of floats, where the
counts grow with its days).
"""

from __future__ import annotations

import math
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.periods import local_midnight_sql

# Which step an attempt had reached at :as_of; step times ascend, so usually the last one decides.
REACHED = ("CASE WHEN a.step_ats[cardinality(a.step_ats)] < :as_of THEN cardinality(a.step_ats) "
           "ELSE (SELECT count(*) FROM unnest(a.step_ats) t WHERE t < :as_of)::int END")
PERCENTILES = (0.5, 0.9)

# A day-sum row (or an attempt, by its own day keys) settled at :as_of.
_SETTLED = ("(({x}ended_day < b.as_of_day AND NOT {x}voided) "
            "OR ({x}last_day < b.as_of_day AND {x}ended_day > b.as_of_day))")
# A day-sum row (or an attempt) ending on as_of's day, not voided, its last step before that day: it
# stands at its furthest step; whether it is still open at :as_of (it ends after) is counted from
# the attempts ending on that day on one side of :as_of (``ending``), not judged one by one.
_ENDING = "({x}ended_day = b.as_of_day AND {x}last_day < b.as_of_day AND NOT {x}voided)"
_ATTEMPT_DAYS = ("(SELECT (a.ended_at AT TIME ZONE b.tz)::date AS ended_day, a.voided, "
                 "(a.step_ats[cardinality(a.step_ats)] AT TIME ZONE b.tz)::date AS last_day) x")
# The attempts to read one by one, each found through an index: actors with several attempts, then
# of the sole ones those of the partial first and last days, the voided ones ending on as_of's day,
# and those with a last step on or after its start; then judged exactly by their day keys. The scans
# exclude each other's rows (no duplicate to remove); the last one filters after its scan (OFFSET 0
# keeps the planner from taking the exclusions' start bounds as a reason to scan the range's starts).
_CANDIDATES = """
    SELECT {columns} FROM funnel_attempts a WHERE {where} AND NOT a.sole
    UNION ALL SELECT {columns} FROM funnel_attempts a WHERE {where} AND a.sole
        AND a.started_at < (SELECT head FROM b)
    UNION ALL SELECT {columns} FROM funnel_attempts a WHERE {where} AND a.sole
        AND a.started_at >= (SELECT tail FROM b) AND a.started_at >= (SELECT head FROM b)
    UNION ALL SELECT {columns} FROM funnel_attempts a WHERE {where} AND a.sole AND a.voided {inner}
        AND a.ended_at >= (SELECT near_from FROM b) AND a.ended_at < (SELECT near_to FROM b)
    UNION ALL SELECT * FROM (SELECT {columns} FROM funnel_attempts a WHERE {where}
                             AND a.last_at >= (SELECT near_from FROM b) OFFSET 0) a
        WHERE a.sole {inner} AND NOT (a.voided AND a.ended_at >= (SELECT near_from FROM b)
                                      AND a.ended_at < (SELECT near_to FROM b))
""".format(
    columns="a.person, a.first_event, a.actor, a.started_at, a.ended_at, a.step_ats, a.voided, a.sole",
    where="a.tenant_id = :tenant AND a.funnel_id = :funnel "
          "AND a.started_at >= :start AND a.started_at < :end AND a.started_at < :as_of "
          "AND NOT (a.voided AND a.ended_at < :as_of) "
          "AND (CAST(:include_bots AS boolean) OR NOT a.bot)",
    inner="AND a.started_at >= (SELECT head FROM b) AND a.started_at < (SELECT tail FROM b)")
# b: the range's whole local days (the first is the start's day when the start is that day's first
# instant: a midnight that occurs twice starts its day at the earlier one), as_of's day, and where
# the attempts read one by one lie, as instants for the index scans: started before the first whole
# day (head) or after the last (tail), ended on as_of's day (near_from..near_to) or with a last step
# on or after its start (near_from). Each bound is 2 hours past its local midnight: room for a day
# that a DST change starts at 01:00 or repeats an hour of (every candidate is then judged exactly;
# a wider range only reads more).
_START_DAY_BEGINS = local_midnight_sql("s.start_day", "s.tz")
_QUERY = f"""
WITH b AS (
    SELECT d.*,
           (d.first_day::timestamp AT TIME ZONE d.tz) + interval '2 hours' AS head,
           ((d.last_day + 1)::timestamp AT TIME ZONE d.tz) - interval '2 hours' AS tail,
           (d.as_of_day::timestamp AT TIME ZONE d.tz) - interval '2 hours' AS near_from,
           ((d.as_of_day + 1)::timestamp AT TIME ZONE d.tz) + interval '2 hours' AS near_to
    FROM (SELECT s.tz, s.start_day + CASE WHEN CAST(:start AS timestamptz) = {_START_DAY_BEGINS}
                                        THEN 0 ELSE 1 END AS first_day,
                 (CAST(:end AS timestamptz) AT TIME ZONE s.tz)::date - 1 AS last_day,
                 (CAST(:as_of AS timestamptz) AT TIME ZONE s.tz)::date AS as_of_day,
                 (CAST(:as_of AS timestamptz) AT TIME ZONE s.tz)::time < '12:00' AS morning
          FROM (SELECT t.timezone AS tz,
                       (CAST(:start AS timestamptz) AT TIME ZONE t.timezone)::date AS start_day
                FROM tenants t WHERE t.id = :tenant) s) d
), attempts AS (
    SELECT a.actor, a.sole, a.started_at, a.ended_at, a.step_ats, cardinality(a.step_ats) AS furthest,
           {REACHED} AS reached
    FROM ({_CANDIDATES}) a CROSS JOIN b
    WHERE NOT a.sole OR (a.started_at AT TIME ZONE b.tz)::date NOT BETWEEN b.first_day AND b.last_day
          OR NOT (SELECT {_SETTLED.format(x="x.")} OR {_ENDING.format(x="x.")} FROM {_ATTEMPT_DAYS})
), best AS (  -- each actor's best attempt: a sole attempt is its actor's only one
    SELECT step_ats, reached, reached < :steps AND (reached < furthest OR ended_at >= :as_of) AS open
    FROM attempts WHERE sole
    UNION ALL
    (SELECT DISTINCT ON (actor COLLATE "C") step_ats, reached,
            reached < :steps AND (reached < furthest OR ended_at >= :as_of) AS open
     FROM attempts WHERE NOT sole ORDER BY actor COLLATE "C", reached DESC, started_at)
), ending_days AS (  -- the day sums of the attempts ending on as_of's day (_ENDING), by step
    SELECT d.reached, sum(d.attempts) AS n
    FROM funnel_days d CROSS JOIN b
    WHERE d.tenant_id = :tenant AND d.funnel_id = :funnel AND d.day BETWEEN b.first_day AND b.last_day
      AND (CAST(:include_bots AS boolean) OR NOT d.bot) AND {_ENDING.format(x="d.")}
    GROUP BY 1
), ending AS (  -- of those, the ones ending before :as_of (before noon) or at or after it (after noon)
    SELECT cardinality(a.step_ats) AS reached, count(*) AS n
    FROM funnel_attempts a CROSS JOIN b
    WHERE a.tenant_id = :tenant AND a.funnel_id = :funnel AND a.sole AND NOT a.voided
      AND (CAST(:include_bots AS boolean) OR NOT a.bot)
      AND a.ended_at >= (SELECT CASE WHEN morning THEN near_from ELSE CAST(:as_of AS timestamptz) END FROM b)
      AND a.ended_at < (SELECT CASE WHEN morning THEN CAST(:as_of AS timestamptz) ELSE near_to END FROM b)
      AND a.started_at >= :start AND a.started_at < :end
      AND (a.started_at AT TIME ZONE b.tz)::date BETWEEN b.first_day AND b.last_day
      AND (a.ended_at AT TIME ZONE b.tz)::date = b.as_of_day
      AND (a.last_at AT TIME ZONE b.tz)::date < b.as_of_day
    GROUP BY 1
), ending_open AS (  -- still open at :as_of: those ending at or after it, unless at the last step
    SELECT t.reached, CASE WHEN b.morning THEN t.n - coalesce(e.n, 0) ELSE coalesce(e.n, 0) END AS n
    FROM ending_days t CROSS JOIN b LEFT JOIN ending e USING (reached) WHERE t.reached < :steps
), counted AS (
    SELECT reached, open, 1 AS n FROM best
    UNION ALL
    SELECT d.reached, d.ended_day > b.as_of_day, sum(d.attempts)
    FROM funnel_days d CROSS JOIN b
    WHERE d.tenant_id = :tenant AND d.funnel_id = :funnel AND d.day BETWEEN b.first_day AND b.last_day
      AND (CAST(:include_bots AS boolean) OR NOT d.bot) AND {_SETTLED.format(x="d.")}
    GROUP BY 1, 2
    UNION ALL SELECT reached, false, n FROM ending_days
    UNION ALL SELECT reached, false, -n FROM ending_open
    UNION ALL SELECT reached, true, n FROM ending_open
)
SELECT 'count' AS kind, reached AS step, open, sum(n) AS n, NULL::bytea AS gaps FROM counted
GROUP BY reached, open HAVING sum(n) > 0
UNION ALL
SELECT 'gaps', k, NULL, NULL, array_send(array_agg(date_part('epoch', step_ats[k] - step_ats[k - 1])))
FROM best CROSS JOIN LATERAL generate_series(2, reached) AS k GROUP BY k
UNION ALL
SELECT 'gaps', g.step, NULL, NULL, array_send(g.gaps)
FROM funnel_day_gaps g CROSS JOIN b
WHERE g.tenant_id = :tenant AND g.funnel_id = :funnel AND g.day BETWEEN b.first_day AND b.last_day
  AND (CAST(:include_bots AS boolean) OR NOT g.bot)
  AND ({_SETTLED.format(x="g.")} OR {_ENDING.format(x="g.")})
"""
_SQL = text(_QUERY)


# An element of a float8[] in PostgreSQL's binary array format (array_send): its length, then the value.
_ELEMENT = np.dtype([("length", ">i4"), ("value", ">f8")])
_HEADER = 20  # a one-dimensional array: dimensions, null flag, element type, length, lower bound


def sent_floats(sent: bytes) -> npt.NDArray[np.float64]:
    """The values of a float8[] without nulls, from its binary form (array_send): no Python float per
    value, which is what reading a range's step times cost (500,000 at a million actors)."""
    if int.from_bytes(sent[:4], "big") == 0:  # no dimensions: the empty array
        return np.empty(0)
    assert int.from_bytes(sent[4:8], "big") == 0, "step times are never null"
    return np.frombuffer(sent, dtype=_ELEMENT, offset=_HEADER)["value"].astype(np.float64)


def percentile_cont(values: npt.NDArray[np.float64], p: float) -> float:
    """PostgreSQL's percentile_cont over the values: the value at rank p*(n-1) (0-based, ascending),
    interpolated between its floor and ceiling exactly as its float8 code does (the scan's figures, to
    the bit). Finds the two ranks by selection (``np.partition``), not by sorting every value."""
    position = p * float(len(values) - 1)
    low, high = math.floor(position), math.ceil(position)
    chosen = np.partition(values, (low, high))
    below, above = float(chosen[low]), float(chosen[high])
    if low == high:
        return below
    return below + (position - low) * (above - below)


async def summed_figures(conn: AsyncConnection, tenant_id: int, funnel_id: int, steps: int, start: datetime,
                         end: datetime, as_of: datetime, include_bots: bool) -> Any | None:
    """One row as :mod:`analytics.funnels.result`'s query gives it (``actors_k``, ``open_k``,
    ``dropped_k``, ``times_k``), or None when no actor started the funnel in the range."""
    rows = (await conn.execute(_SQL, {
        "tenant": tenant_id, "funnel": funnel_id, "start": start, "end": end, "as_of": as_of,
        "include_bots": include_bots, "steps": steps})).all()
    stopped = {(int(r.step), bool(r.open)): int(r.n) for r in rows if r.kind == "count"}
    if not stopped:
        return None
    figures: dict[str, Any] = {}
    for k in range(1, steps + 1):
        figures[f"actors_{k}"] = sum(n for (reached, _), n in stopped.items() if reached >= k)
        figures[f"open_{k}"] = stopped.get((k - 1, True), 0)
        figures[f"dropped_{k}"] = stopped.get((k - 1, False), 0)
        figures[f"times_{k}"] = None
    times: dict[int, list[npt.NDArray[np.float64]]] = {}
    for r in rows:
        if r.kind == "gaps":
            times.setdefault(int(r.step), []).append(sent_floats(r.gaps))
    for step, parts in times.items():
        values = np.concatenate(parts)
        if len(values):
            figures[f"times_{step}"] = [percentile_cont(values, p) for p in PERCENTILES]
    return SimpleNamespace(**figures)
