"""Custom event figures from the rollups: counts and distinct users per name, series, and the
breakdown of a name by one of its declared dimensions. Reads never touch raw events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.custom_events.values import OTHER
from analytics.db import CURRENT_TENANT, HUMANS_UNLESS_INCLUDE_BOTS
from analytics.periods import Granularity, Period, bucket_starts, hour_floor, local_midnight

NAMES = "(CAST(:names AS text[]) IS NULL OR name = ANY(CAST(:names AS text[])))"


@dataclass(frozen=True)
class EventFigures:
    count: int  # events of the name in the range
    users: int | None  # distinct users on the range's local days; None unless it is whole days


def _window(period: Period) -> tuple[str, str, dict[str, object]]:
    if period.days:
        return "custom_events_daily", "day BETWEEN :first AND :last", {"first": period.days[0],
                                                                       "last": period.days[1]}
    return ("custom_events_hourly", "bucket >= :start AND bucket < :end",
            {"start": hour_floor(period.start, period.tz), "end": period.end})


async def _counts(conn: AsyncConnection, period: Period, names: Sequence[str] | None, include_bots: bool,
                  limit: int | None = None) -> list[tuple[str, int]]:
    table, window, params = _window(period)
    order = f" ORDER BY 2 DESC, 1 LIMIT {int(limit)}" if limit is not None else ""
    sql = (f"SELECT name, sum(value) FROM {table} WHERE {CURRENT_TENANT} AND {window} "
           f"AND {HUMANS_UNLESS_INCLUDE_BOTS} AND {NAMES} GROUP BY 1{order}")
    rows = await conn.execute(text(sql), {**params, "include_bots": include_bots,
                                          "names": list(names) if names is not None else None})
    return [(r[0], int(r[1])) for r in rows]


_USERS = text(
    f"""
    SELECT name, count(DISTINCT user_key) FROM custom_event_users
    WHERE {CURRENT_TENANT} AND day BETWEEN :first AND :last AND {HUMANS_UNLESS_INCLUDE_BOTS} AND {NAMES}
    GROUP BY 1
    """
)


async def _users(conn: AsyncConnection, period: Period, names: Sequence[str], include_bots: bool
                 ) -> dict[str, int] | None:
    if period.days is None:
        return None
    rows = await conn.execute(_USERS, {"first": period.days[0], "last": period.days[1],
                                       "include_bots": include_bots, "names": list(names)})
    return {r[0]: int(r[1]) for r in rows}


async def top_events(conn: AsyncConnection, *, period: Period, limit: int, include_bots: bool = False
                     ) -> list[tuple[str, EventFigures]]:
    """Names with events in the range, most events first (then by name)."""
    counts = await _counts(conn, period, None, include_bots, limit)
    users = await _users(conn, period, [name for name, _ in counts], include_bots)
    return [(name, EventFigures(count, None if users is None else users.get(name, 0)))
            for name, count in counts]


async def event_figures(conn: AsyncConnection, *, names: Sequence[str], period: Period,
                        include_bots: bool = False) -> dict[str, EventFigures]:
    """Figures of each of ``names`` (zeros for a name without events)."""
    counts = dict(await _counts(conn, period, names, include_bots))
    users = await _users(conn, period, names, include_bots)
    return {name: EventFigures(counts.get(name, 0), None if users is None else users.get(name, 0))
            for name in names}


@dataclass(frozen=True)
class SeriesPoint:
    start: datetime
    count: int
    users: int | None  # None for hours: users are kept per day


_TRUNC = {Granularity.DAY: "day", Granularity.WEEK: "date_trunc('week', day)::date",
          Granularity.MONTH: "date_trunc('month', day)::date"}


async def event_series(conn: AsyncConnection, *, name: str, period: Period, granularity: Granularity,
                       include_bots: bool = False) -> list[SeriesPoint]:
    """One point per bucket in the tenant's time zone, empty buckets as zeros."""
    starts = bucket_starts(period, granularity)
    counts: dict[datetime, int] = dict.fromkeys(starts, 0)
    users: dict[datetime, int] | None = None
    params: dict[str, object] = {"name": name, "include_bots": include_bots}
    if granularity is Granularity.HOUR:
        rows = await conn.execute(text(
            f"SELECT bucket, sum(value) FROM custom_events_hourly WHERE {CURRENT_TENANT} AND name = :name "
            f"AND bucket >= :start AND bucket < :end AND {HUMANS_UNLESS_INCLUDE_BOTS} GROUP BY 1"),
            {**params, "start": hour_floor(period.start, period.tz), "end": period.end})
        for at, value in rows:
            key = max(at, starts[0])
            if key in counts:
                counts[key] += int(value)
    else:
        whole = period.whole_days()
        assert whole.days is not None
        bucket = f"greatest({_TRUNC[granularity]}, CAST(:first AS date))"
        params.update(first=whole.days[0], last=whole.days[1])
        users = dict.fromkeys(starts, 0)
        for table, column, into in (("custom_events_daily", "sum(value)", counts),
                                    ("custom_event_users", "count(DISTINCT user_key)", users)):
            rows = await conn.execute(text(
                f"SELECT {bucket}, {column} FROM {table} WHERE {CURRENT_TENANT} AND name = :name "
                f"AND day BETWEEN :first AND :last AND {HUMANS_UNLESS_INCLUDE_BOTS} GROUP BY 1"), params)
            for day, value in rows:
                key = local_midnight(day, period.tz)
                if key in into:
                    into[key] += int(value)
    return [SeriesPoint(start, counts[start], None if users is None else users[start]) for start in starts]


@dataclass(frozen=True)
class BreakdownRow:
    value: str
    count: int
    share: float | None  # of the name's events in the range, in percent


@dataclass(frozen=True)
class Breakdown:
    first_day: date
    last_day: date
    total: int  # the name's events on those days
    rows: list[BreakdownRow]
    rest: int  # events whose value is not among ``rows``
    capped: bool  # some day of the range had more values than the cap: the excess is under (other)


_BREAKDOWN = text(
    f"""
    SELECT value, sum(count) AS n FROM custom_event_values
    WHERE {CURRENT_TENANT} AND name = :name AND dimension = :dimension AND day BETWEEN :first AND :last
      AND {HUMANS_UNLESS_INCLUDE_BOTS}
    GROUP BY GROUPING SETS ((value), ()) ORDER BY (value IS NULL) DESC, n DESC, value
    """
)


async def event_breakdown(conn: AsyncConnection, *, name: str, dimension: str, period: Period,
                          limit: int, include_bots: bool = False) -> Breakdown:
    """The name's events per value of ``dimension`` over the whole local days the range touches,
    most events first; ``(none)`` and ``(other)`` rank like any value."""
    whole = period.whole_days()
    assert whole.days is not None
    rows = (await conn.execute(_BREAKDOWN, {"name": name, "dimension": dimension, "first": whole.days[0],
                                            "last": whole.days[1], "include_bots": include_bots})).all()
    total = int(rows[0][1]) if rows else 0
    values = [(r[0], int(r[1])) for r in rows[1:]]
    top = [BreakdownRow(value, count, metrics.share(count, total)) for value, count in values[:limit]]
    return Breakdown(whole.days[0], whole.days[1], total, top, total - sum(r.count for r in top),
                     any(value == OTHER for value, _ in values))


_KNOWN = text(f"SELECT EXISTS (SELECT 1 FROM event_definitions WHERE {CURRENT_TENANT} AND name = :name) "
              f"OR EXISTS (SELECT 1 FROM custom_events_daily WHERE {CURRENT_TENANT} AND name = :name)")


async def event_known(conn: AsyncConnection, name: str) -> bool:
    """Whether the tenant defined the name or ever counted an event of it."""
    return bool((await conn.execute(_KNOWN, {"name": name})).scalar_one())
