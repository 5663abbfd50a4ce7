"""Funnel day aggregates: what a funnel's result over whole local days reads instead of attempts.

Two tables, both a pure function of ``funnel_attempts`` and the bot flag of each attempt's first
session, kept by the funnel consumer in the rollup transaction (the attempts it replaces are
subtracted, the new ones added, one MERGE per table), rebuilt for a day by the correction job
(``day_clears``: a session changing side moves its attempts to the other side), subtracted for an
erased person (``erase``), expired with the rollups and compared to a re-aggregation of the
attempts by ``analytics rollups verify`` (the attempts themselves are compared to a derivation from
the raw events):

- ``funnel_days``: attempts per (funnel, local day the attempt started, bot side, furthest step,
  voided, the UTC hour it ended, the UTC hour of its furthest step).
- ``funnel_day_times``: per (funnel, day, bot side, step k >= 2, the UTC hour it was voided or
  ``infinity``, bucket) the attempts whose time from step k-1 to step k fell in that bucket of a
  log histogram: bucket 0 below a millisecond, else ``1 + floor(ln(ms) / ln(1.02))`` (each bucket
  spans 2 %; its midpoint is within 1 % of every time in it).

A result is judged at ``as_of`` (the range's end, or now). With ``H`` the UTC hour of ``as_of``, an
attempt's state at ``as_of`` follows from its class alone unless it ended within hour ``H`` or it
ended later and reached its furthest step at or after ``H``: the read fetches those few attempts
(two index scans) and judges them one by one, exactly as the attempt query does. Every other class
is settled (ended before ``H``: its final state) or open (ends after ``H``, all its steps before).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.rollups.consumers import Difference, compare

GAMMA = 1.02
_DAY = "(a.started_at AT TIME ZONE (SELECT timezone FROM tenants WHERE id = :tenant))::date"
_GAP = "extract(epoch FROM a.step_ats[k] - a.step_ats[k - 1])"
BUCKET = f"CASE WHEN {_GAP} < 0.001 THEN 0 ELSE 1 + floor(ln({_GAP} * 1000) / ln({GAMMA}))::int END"

DAY_KEYS = ("funnel_id", "day", "bot", "reached", "voided", "ends", "last")
TIME_KEYS = ("funnel_id", "day", "bot", "step", "voided_hour", "bucket")
_DAY_TYPES = ("bigint", "date", "boolean", "smallint", "boolean", "timestamptz", "timestamptz")
_TIME_TYPES = ("bigint", "date", "boolean", "smallint", "timestamptz", "integer")


def _from(source: str) -> str:
    return f"FROM {source} a LEFT JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_key"


def days_select(where: str, source: str = "funnel_attempts") -> str:
    """The funnel_days rows of the attempts of ``source`` matching ``where`` (over ``a``; :tenant)."""
    return (f"SELECT a.funnel_id, {_DAY} AS day, coalesce(s.excluded, false) AS bot, "
            "CAST(cardinality(a.step_ats) AS smallint) AS reached, a.voided, "
            "date_trunc('hour', a.ended_at, 'UTC') AS ends, date_trunc('hour', a.last_at, 'UTC') AS last, "
            f"count(*) AS attempts {_from(source)} WHERE a.tenant_id = :tenant AND {where} "
            "GROUP BY 1, 2, 3, 4, 5, 6, 7")


def times_select(where: str, source: str = "funnel_attempts") -> str:
    """The funnel_day_times rows of the attempts of ``source`` matching ``where``."""
    return (f"SELECT a.funnel_id, {_DAY} AS day, coalesce(s.excluded, false) AS bot, "
            "CAST(k AS smallint) AS step, CASE WHEN a.voided THEN date_trunc('hour', a.ended_at, 'UTC') "
            f"ELSE 'infinity' END AS voided_hour, {BUCKET} AS bucket, count(*) AS attempts {_from(source)} "
            "CROSS JOIN LATERAL generate_series(2, cardinality(a.step_ats)) AS k "
            f"WHERE a.tenant_id = :tenant AND {where} GROUP BY 1, 2, 3, 4, 5, 6")


def with_contributions(change: str) -> str:
    """``change`` (a DELETE or INSERT ... RETURNING the attempts' columns) and the rows of both tables
    of the attempts it returned, in one statement: kind 'd' with DAY_KEYS, 't' with TIME_KEYS."""
    days = ", ".join(DAY_KEYS)
    return (f"WITH changed AS ({change}) "
            f"SELECT 'd' AS kind, {days}, NULL::smallint AS step, NULL::timestamptz AS voided_hour, "
            f"NULL::integer AS bucket, attempts FROM ({days_select('true', 'changed')}) x UNION ALL "
            f"SELECT 't', funnel_id, day, bot, NULL, NULL, NULL, NULL, step, voided_hour, bucket, attempts "
            f"FROM ({times_select('true', 'changed')}) y")


def _merge(table: str, keys: Sequence[str], source: str) -> str:
    """Add the source's ``attempts`` to the table's rows (a row reaching 0 goes)."""
    on = " AND ".join(f"d.{k} = k.{k}" for k in keys)
    return (f"MERGE INTO {table} d USING ({source}) AS k ON d.tenant_id = :tenant AND {on} "
            "WHEN MATCHED AND d.attempts + k.attempts = 0 THEN DELETE "
            "WHEN MATCHED THEN UPDATE SET attempts = d.attempts + k.attempts "
            f"WHEN NOT MATCHED THEN INSERT (tenant_id, {', '.join(keys)}, attempts) "
            f"VALUES (:tenant, {', '.join(f'k.{k}' for k in keys)}, k.attempts)")


def _unnest(keys: Sequence[str], types: Sequence[str]) -> str:
    arrays = ", ".join(f"CAST(:{k} AS {t}[])" for k, t in zip(keys, types, strict=True))
    return f"SELECT * FROM unnest({arrays}, CAST(:attempts AS bigint[])) AS u({', '.join(keys)}, attempts)"


_MERGE_DAYS = text(_merge("funnel_days", DAY_KEYS, _unnest(DAY_KEYS, _DAY_TYPES)))
_MERGE_TIMES = text(_merge("funnel_day_times", TIME_KEYS, _unnest(TIME_KEYS, _TIME_TYPES)))


@dataclass
class Contributions:
    """Signed rows for both tables (key tuple -> attempts)."""

    days: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    times: Counter[tuple[Any, ...]] = field(default_factory=Counter)


async def change(conn: AsyncConnection, statement: Any, params: Mapping[str, Any],
                 into: Contributions, sign: int) -> None:
    """Run a :func:`with_contributions` statement and add ``sign`` x its rows to ``into``."""
    for row in await conn.execute(statement, params):
        if row.kind == "d":
            into.days[tuple(getattr(row, k) for k in DAY_KEYS)] += sign * int(row.attempts)
        else:
            into.times[tuple(getattr(row, k) for k in TIME_KEYS)] += sign * int(row.attempts)


async def apply(conn: AsyncConnection, tenant_id: int, delta: Contributions) -> None:
    """Write the non-zero deltas, in key order (one MERGE per table)."""
    tables = ((_MERGE_DAYS, DAY_KEYS, delta.days), (_MERGE_TIMES, TIME_KEYS, delta.times))
    for statement, keys, rows in tables:
        changed = sorted((k, n) for k, n in rows.items() if n)
        if not changed:
            continue
        params: dict[str, Any] = {"tenant": tenant_id, "attempts": [n for _, n in changed]}
        for i, name in enumerate(keys):
            params[name] = [k[i] for k, _ in changed]
        await conn.execute(statement, params)


_DAY_COLUMNS = ", ".join(DAY_KEYS)
_TIME_COLUMNS = ", ".join(TIME_KEYS)
_IN_DAY = "a.started_at >= :start AND a.started_at < :end"
# The correction job's statements for one local day: clear it, then add the day's attempts again
# with their sessions' current side.
DAY_CLEARS = (
    "DELETE FROM funnel_days WHERE tenant_id = :tenant AND day = :day",
    "DELETE FROM funnel_day_times WHERE tenant_id = :tenant AND day = :day",
    f"INSERT INTO funnel_days (tenant_id, {_DAY_COLUMNS}, attempts) "
    f"SELECT :tenant, * FROM ({days_select(_IN_DAY)}) x",
    f"INSERT INTO funnel_day_times (tenant_id, {_TIME_COLUMNS}, attempts) "
    f"SELECT :tenant, * FROM ({times_select(_IN_DAY)}) x",
)
_NEGATED_DAYS = f"SELECT {_DAY_COLUMNS}, -attempts AS attempts FROM ({days_select('a.person = :user_key')}) x"
_NEGATED_TIMES = (f"SELECT {_TIME_COLUMNS}, -attempts AS attempts "
                  f"FROM ({times_select('a.person = :user_key')}) x")
# Before the person's attempts go (analytics.funnels.progress FUNNELS.erase): take them out.
ERASE = (_merge("funnel_days", DAY_KEYS, _NEGATED_DAYS),
         _merge("funnel_day_times", TIME_KEYS, _NEGATED_TIMES))
EXPIRY = {table: f"DELETE FROM {table} WHERE tenant_id = :tenant AND day < (SELECT day FROM kept)"
          for table in ("funnel_days", "funnel_day_times")}
CLEAR_FUNNEL = (
    text("DELETE FROM funnel_days WHERE tenant_id = :tenant AND funnel_id = :id"),
    text("DELETE FROM funnel_day_times WHERE tenant_id = :tenant AND funnel_id = :id"),
)


async def verify(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    """Both tables against a re-aggregation of every stored attempt."""
    found = []
    for table, select, columns in (("funnel_days", days_select("true"), _DAY_COLUMNS),
                                   ("funnel_day_times", times_select("true"), _TIME_COLUMNS)):
        have = f"SELECT {columns}, attempts FROM {table} WHERE tenant_id = :tenant"
        difference = await compare(conn, tenant_id, table, select, have)
        if difference:
            found.append(difference)
    return found


# Reading ------------------------------------------------------------------------------------------

_READ_DAYS = text(
    "SELECT reached, voided, ends < :h AS settled, sum(attempts) AS n FROM funnel_days "
    "WHERE tenant_id = :tenant AND funnel_id = :funnel AND day >= :first AND day <= :last "
    "AND (CAST(:include_bots AS boolean) OR NOT bot) AND (ends < :h OR (ends > :h AND last < :h)) "
    "GROUP BY 1, 2, 3"
)
_READ_TIMES = text(
    "SELECT step, bucket, sum(attempts) AS n FROM funnel_day_times "
    "WHERE tenant_id = :tenant AND funnel_id = :funnel AND day >= :first AND day <= :last "
    "AND (CAST(:include_bots AS boolean) OR NOT bot) AND voided_hour > :h GROUP BY 1, 2"
)
# The attempts whose class does not tell their state at :as_of, judged one by one: those that ended
# within hour :h (one index range), and those that end later but reached their furthest step at or
# after :h. For a range ending now the latter are the few active this hour (the last_at index); for
# a range that ended earlier they started within one window before its end (the started_at index).
_UNSETTLED = (
    "SELECT a.started_at < :as_of AND NOT (a.voided AND a.ended_at < :as_of) AS counts, "
    "(SELECT count(*) FROM unnest(a.step_ats) t WHERE t < :as_of)::int AS reached, "
    "cardinality(a.step_ats) AS furthest, a.ended_at >= :as_of AS running, "
    "(NOT a.voided OR date_trunc('hour', a.ended_at, 'UTC') > :h) AS in_times, "
    f"ARRAY(SELECT {BUCKET} FROM generate_series(2, cardinality(a.step_ats)) AS k ORDER BY k) AS buckets "
    f"{_from('funnel_attempts')} WHERE a.tenant_id = :tenant AND a.funnel_id = :funnel "
    "AND a.started_at >= :start AND a.started_at < :end "
    "AND (CAST(:include_bots AS boolean) OR NOT coalesce(s.excluded, false)) AND "
)
_ENDED_THIS_HOUR = "a.ended_at >= :h AND a.ended_at < :h1"
_READ_UNSETTLED_NOW = text(
    f"{_UNSETTLED} {_ENDED_THIS_HOUR} UNION ALL {_UNSETTLED} a.last_at >= :h AND a.ended_at >= :h1")
_READ_UNSETTLED_BEFORE = text(
    f"{_UNSETTLED} {_ENDED_THIS_HOUR} UNION ALL {_UNSETTLED} a.started_at >= :alive_from "
    "AND a.last_at >= :h AND a.ended_at >= :h1")


@dataclass
class Tally:
    """Attempts counted at ``as_of``: per (step reached, still open) and per step its time buckets."""

    states: Counter[tuple[int, bool]] = field(default_factory=Counter)
    times: dict[int, Counter[int]] = field(default_factory=dict)

    @property
    def entered(self) -> int:
        return sum(n for (reached, _), n in self.states.items() if reached >= 1)

    def add_times(self, buckets: Sequence[int], upto: int, sign: int) -> None:
        """The buckets of steps 2..upto (``buckets[k - 2]`` is step k's)."""
        for k in range(2, upto + 1):
            self.times.setdefault(k, Counter())[buckets[k - 2]] += sign


def representative(bucket: int) -> float:
    """The value a bucket stands for, in seconds (its midpoint)."""
    if bucket <= 0:
        return 0.0
    return (GAMMA ** (bucket - 1) + GAMMA**bucket) / 2 / 1000


def percentile(buckets: Mapping[int, int], fraction: float) -> float | None:
    """Continuous percentile (as percentile_cont) of the bucketed values, each at its midpoint."""
    items = sorted((b, n) for b, n in buckets.items() if n > 0)
    total = sum(n for _, n in items)
    if total == 0:
        return None
    position = fraction * (total - 1)
    low, high = math.floor(position), math.ceil(position)

    def value(rank: int) -> float:
        seen = 0
        for bucket, n in items:
            seen += n
            if rank < seen:
                return representative(bucket)
        return representative(items[-1][0])

    below = value(low)
    return below + (position - low) * (value(high) - below)


async def read(conn: AsyncConnection, tenant_id: int, funnel_id: int, steps: int, days: tuple[date, date],
               start: datetime, end: datetime, as_of: datetime, include_bots: bool, *, window_seconds: int,
               now: datetime) -> Tally:
    """The funnel's attempts that started on ``days`` (whole local days, [start, end)) at ``as_of``."""
    h = as_of.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    recent = as_of >= now - timedelta(hours=1)
    params = {"alive_from": max(start, h - timedelta(seconds=window_seconds)),
              "tenant": tenant_id, "funnel": funnel_id, "first": days[0], "last": days[1], "h": h,
              "h1": h + timedelta(hours=1), "include_bots": include_bots, "start": start, "end": end,
              "as_of": as_of}
    tally = Tally()
    for row in await conn.execute(_READ_DAYS, params):
        if row.settled and row.voided:
            continue
        reached = int(row.reached)
        tally.states[(reached, not row.settled and reached < steps)] += int(row.n)
    for row in await conn.execute(_READ_TIMES, params):
        tally.times.setdefault(int(row.step), Counter())[int(row.bucket)] += int(row.n)
    for row in await conn.execute(_READ_UNSETTLED_NOW if recent else _READ_UNSETTLED_BEFORE, params):
        buckets = [int(b) for b in row.buckets]
        if row.in_times:
            tally.add_times(buckets, int(row.furthest), -1)
        if row.counts:
            reached = int(row.reached)
            if reached >= 1:
                tally.states[(reached, reached < steps and (reached < row.furthest or row.running))] += 1
                tally.add_times(buckets, reached, +1)
    return tally
