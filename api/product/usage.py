"""``tenant { usage }``: usage trends (reference 001): users from ``user_days`` (analytics.usage.stats)
beside the session figures that ``sessionStats`` and ``traffic`` define (analytics.sessions.stats,
called, not copied), each as figures and as a zero-filled series."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import strawberry

from analytics.periods import Granularity as DomainGranularity
from analytics.periods import Period as DomainPeriod
from analytics.periods import comparison
from analytics.sessions import stats as session_stats
from analytics.usage import stats
from api.common import Compare, Granularity, Period, RangeInput, check_granularity, compared, selected_names
from api.context import AppInfo
from api.errors import BadInput
from api.traffic.types import TrafficRow, breakdown_rows


@strawberry.type(description="Relative change in percent against the comparison period (null when the "
                             "previous value is 0 or missing).")
class UsageChange:
    total_users: float | None
    active_users: float | None
    dau: float | None
    wau: float | None
    mau: float | None
    stickiness: float | None
    page_views: float | None
    unique_visitors: float | None
    avg_session_duration_seconds: float | None
    bounce_rate: float | None


@strawberry.type(description="Usage figures of a period (or of one bucket of a series).")
class UsageFigures:
    total_users: int = strawberry.field(description="Distinct people (userId, else anonymousId) with an "
                                                    "event on any kept day up to the period's last day.")
    active_users: int = strawberry.field(description="Distinct people with an event on a day of the period.")
    dau: float | None = strawberry.field(description="Daily active users: the mean over the period's local "
                                                     "days of each day's distinct people (empty days are 0).")
    wau: int = strawberry.field(description="Distinct people of the 7 local days ending on the last day.")
    mau: int = strawberry.field(description="Distinct people of the 30 local days ending on the last day.")
    stickiness: float | None = strawberry.field(description="dau / mau * 100.")
    page_views: int = strawberry.field(description="PageViewed events of the sessions that started in the "
                                                   "period (sessionStats.pageViews).")
    unique_visitors: int = strawberry.field(description="Distinct visitors of those sessions "
                                                        "(sessionStats.visitors).")
    avg_session_duration_seconds: float | None = strawberry.field(
        description="Mean session duration in seconds (sessionStats.avgSessionDurationSeconds).")
    bounce_rate: float | None = strawberry.field(description="Bounced sessions / sessions * 100 "
                                                             "(sessionStats.bounceRate).")

    @staticmethod
    def values(users: stats.UserActivity, sessions: session_stats.SessionCounts) -> dict[str, object]:
        return {"total_users": users.total_users, "active_users": users.active_users, "dau": users.dau,
                "wau": users.wau, "mau": users.mau, "stickiness": users.stickiness,
                "page_views": sessions.page_views, "unique_visitors": sessions.visitors,
                "avg_session_duration_seconds": sessions.avg_session_duration_seconds,
                "bounce_rate": sessions.bounce_rate}


@strawberry.type(description="One bucket of the usage series: the figures of its local days (WAU / MAU: "
                             "the 7 / 30 days ending on its last day; sessions by start within it).")
class UsagePoint(UsageFigures):
    start: datetime = strawberry.field(description="Bucket start in the tenant's time zone.")
    date: date = strawberry.field(description="Local date of the bucket start.")


@strawberry.type(description="Usage trends of a range (reference 001): total and active users, DAU / WAU / "
                             "MAU with stickiness, page views, unique visitors, mean session duration and "
                             "bounce rate, as figures, compared, and per bucket; top pages and traffic "
                             "sources. User figures count the range's local days (a range touching part of "
                             "a day counts the whole day); session figures count sessions by start. Bots "
                             "are left out unless includeBots is true.")
class Usage(UsageFigures):
    period: Period
    granularity: Granularity = strawberry.field(description="Of the series: DAY at least (users are counted "
                                                            "per local day).")
    include_bots: bool
    comparison_period: Period | None = strawberry.field(description="When compare is given.")
    previous: UsageFigures | None = strawberry.field(description="The comparison period's figures.")
    change: UsageChange | None
    series: list[UsagePoint] = strawberry.field(description="One point per bucket, in time order, empty "
                                                            "buckets as zeros.")
    domain_period: strawberry.Private[DomainPeriod]
    compared_period: strawberry.Private[DomainPeriod | None] = None

    @strawberry.field(description="Landing pages (path of each session's first page view) by sessions "
                                  "(traffic's breakdown; with compare, each row's previous figures).")
    async def top_pages(self, info: AppInfo, limit: int = 10) -> list[TrafficRow]:
        rows, before = await breakdown_rows(info, "landing_pages", self.domain_period, self.include_bots,
                                            limit, self.compared_period)
        return [TrafficRow.of(r, before) for r in rows]

    @strawberry.field(description="Referrer sources by sessions (traffic { sources }).")
    async def top_sources(self, info: AppInfo, limit: int = 10) -> list[TrafficRow]:
        rows, before = await breakdown_rows(info, "sources", self.domain_period, self.include_bots, limit,
                                            self.compared_period)
        return [TrafficRow.of(r, before) for r in rows]


# Fields of Usage that need none of its figures (a selection of only these computes none of them).
WITHOUT_FIGURES = frozenset({"__typename", "period", "granularity", "includeBots", "comparisonPeriod",
                             "topPages", "topSources"})


def _day_buckets(period: DomainPeriod, starts: list[datetime]) -> list[tuple[date, date]]:
    """Each bucket's first and last local day, clipped to the period's days."""
    firsts = [max(start.astimezone(period.tz).date(), period.first_day) for start in starts]
    lasts = [first - timedelta(days=1) for first in firsts[1:]] + [period.last_day]
    return list(zip(firsts, lasts, strict=True))


async def usage(info: AppInfo, range: RangeInput, granularity: Granularity | None, compare: Compare | None,
                include_bots: bool) -> Usage:
    period = range.resolve(info.context.require_secret().timezone)
    if granularity is DomainGranularity.HOUR:
        raise BadInput("granularity", "usage counts users per local day: use DAY, WEEK or MONTH")
    chosen, starts = check_granularity(period.whole_days(), granularity or None)
    if chosen is DomainGranularity.HOUR:  # the default of a short range
        chosen, starts = check_granularity(period.whole_days(), DomainGranularity.DAY)
    before = comparison(period, compare)
    if not selected_names(info, nested=False) - WITHOUT_FIGURES:
        # Only the breakdowns (the overview's topPages): the figures and the series are not computed.
        # They are never resolved either, since GraphQL answers only what is selected.
        none: dict[str, Any] = UsageFigures.values(
            stats.UserActivity(period.first_day, period.last_day, 0, 0, 0, 0, 0),
            session_stats.SessionCounts())
        return Usage(period=Period.of(period), granularity=chosen, include_bots=include_bots,
                     comparison_period=Period.of(before) if before else None, series=[], domain_period=period,
                     compared_period=before, previous=None, change=None, **none)
    async with info.context.read() as conn:
        users = await stats.user_activity_series(
            conn, buckets=[(period.first_day, period.last_day), *_day_buckets(period, starts)],
            include_bots=include_bots)
        # Usage shows no returning visitors: the statement leaves them out.
        sessions = await session_stats.session_totals(conn, period=period, include_bots=include_bots,
                                                      returning=False, median=False)
        points = await session_stats.session_series(conn, period=period, granularity=chosen,
                                                    bucket_starts=starts, include_bots=include_bots)
        previous = None
        if before is not None:
            previous = UsageFigures.values(
                await stats.user_activity(conn, first_day=before.first_day, last_day=before.last_day,
                                          include_bots=include_bots),
                await session_stats.session_totals(conn, period=before, include_bots=include_bots,
                                                   returning=False, median=False))
    values = UsageFigures.values(users[0], sessions)
    series = []
    for u, p in zip(users[1:], points, strict=True):
        point: dict[str, Any] = UsageFigures.values(u, p.counts)
        local = p.start.astimezone(period.tz)
        series.append(UsagePoint(start=local, date=local.date(), **point))
    fields: dict[str, Any] = {**values, **compared(UsageFigures, UsageChange, values, previous)}
    return Usage(period=Period.of(period), granularity=chosen, include_bots=include_bots,
                 comparison_period=Period.of(before) if before else None, series=series,
                 domain_period=period, compared_period=before, **fields)
