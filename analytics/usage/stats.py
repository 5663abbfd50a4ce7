"""Who used the product, read from ``user_days`` (analytics.users.activity): total and active users,
DAU / WAU / MAU and stickiness, for a run of tenant-local days or for each bucket of a series.

Definitions (one place, the graph and the gauges read these):
- total users: distinct people with an event on any kept day up to the last day;
- active users: distinct people with an event on a day of the range;
- DAU: the mean over the range's days of each day's distinct people (days without anyone count as 0);
- WAU / MAU: distinct people of the 7 / 30 days ending on the range's last day;
- stickiness: DAU / MAU * 100.
Bot sides follow ``include_bots`` (a person counted on either side when bots are included). With a
``segment``, only its members as of ``segment_at`` count (analytics.segments.service.member_of).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.db import CURRENT_TENANT, HUMANS_UNLESS_INCLUDE_BOTS
from analytics.segments.service import member_of

WEEK_DAYS, MONTH_DAYS = 7, 30


@dataclass(frozen=True)
class UserActivity:
    first_day: date
    last_day: date
    total_users: int
    active_users: int
    user_days: int  # (day, person) pairs of the days: the sum of daily active users
    wau: int
    mau: int

    @property
    def dau(self) -> float | None:
        return metrics.mean_daily_active_users(self.user_days, (self.last_day - self.first_day).days + 1)

    @property
    def stickiness(self) -> float | None:
        return metrics.stickiness(self.user_days, (self.last_day - self.first_day).days + 1, self.mau)


_ACTIVITY = f"""
    WITH b AS (SELECT * FROM unnest(CAST(:firsts AS date[]), CAST(:lasts AS date[])) WITH ORDINALITY
               AS b(first, last, n)),
    u AS MATERIALIZED (SELECT DISTINCT day, user_key FROM user_days WHERE {CURRENT_TENANT}
                       AND {HUMANS_UNLESS_INCLUDE_BOTS} AND day >= :from AND day <= :to
                       AND {member_of("user_key")}),
    firsts AS MATERIALIZED (SELECT min(day) AS first FROM user_days
                            WHERE {CURRENT_TENANT} AND {HUMANS_UNLESS_INCLUDE_BOTS} AND day <= :to
                            AND {member_of("user_key")} GROUP BY user_key)
    SELECT b.first, b.last,
        (SELECT count(*) FROM firsts WHERE firsts.first <= b.last) AS total,
        (SELECT count(DISTINCT user_key) FROM u WHERE u.day BETWEEN b.first AND b.last) AS active,
        (SELECT count(*) FROM u WHERE u.day BETWEEN b.first AND b.last) AS user_days,
        (SELECT count(DISTINCT user_key) FROM u
         WHERE u.day BETWEEN b.last - {WEEK_DAYS - 1} AND b.last) AS wau,
        (SELECT count(DISTINCT user_key) FROM u
         WHERE u.day BETWEEN b.last - {MONTH_DAYS - 1} AND b.last) AS mau
    FROM b ORDER BY b.n
"""


async def user_activity_series(conn: AsyncConnection, *, buckets: Sequence[tuple[date, date]],
                               include_bots: bool, segment: str | None = None,
                               segment_at: datetime | None = None) -> list[UserActivity]:
    """The figures of each (first day, last day) bucket, in order, in one statement."""
    if not buckets:
        return []
    rows = await conn.execute(text(_ACTIVITY), {
        "firsts": [b[0] for b in buckets], "lasts": [b[1] for b in buckets], "include_bots": include_bots,
        "from": min(min(b[0] for b in buckets), min(b[1] for b in buckets) - timedelta(days=MONTH_DAYS - 1)),
        "to": max(b[1] for b in buckets), "segment": segment, "segment_at": segment_at})
    return [UserActivity(r.first, r.last, int(r.total), int(r.active), int(r.user_days), int(r.wau),
                         int(r.mau)) for r in rows]


async def user_activity(conn: AsyncConnection, *, first_day: date, last_day: date,
                        include_bots: bool, segment: str | None = None,
                        segment_at: datetime | None = None) -> UserActivity:
    """The figures of the days from ``first_day`` to ``last_day`` (inclusive)."""
    return (await user_activity_series(conn, buckets=[(first_day, last_day)], include_bots=include_bots,
                                       segment=segment, segment_at=segment_at))[0]


async def active_users(conn: AsyncConnection, *, first_day: date, last_day: date, include_bots: bool,
                       segment: str | None = None, segment_at: datetime | None = None) -> int:
    """Distinct people with an event on a day of the range (the base of adoption rates)."""
    return (await user_activity(conn, first_day=first_day, last_day=last_day, include_bots=include_bots,
                                segment=segment, segment_at=segment_at)).active_users
