"""Tenant-level Custom event fields: the events list, one event's stats, series and breakdown, and
the definitions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from analytics.custom_events import definitions as domain
from analytics.custom_events import stats
from analytics.custom_events.values import DIMENSION_CAP
from analytics.periods import comparison
from api.common import Compare, Granularity, IncludeBots, Period, RangeInput, check_granularity, check_limit
from api.common import compared as compared_values
from api.context import AppInfo
from api.custom_events.types import EventDefinition
from api.errors import BadInput

MAX_LIMIT = 500
BOTS_NOTE = "Sessions flagged as bots (any tier) are left out unless includeBots is true."
USERS_NOTE = ("users: distinct users (userId, else anonymousId) with an event of the name on the range's "
              "local days; null when the range is not whole local days (distinct users are kept per day).")


@strawberry.type(description="A Custom event name's figures over a period. " + USERS_NOTE)
class EventFigures:
    count: int = strawberry.field(description="Events of the name in the range.")
    users: int | None = strawberry.field(description="Distinct users with such an event.")

    @staticmethod
    def values(row: stats.EventFigures) -> dict[str, Any]:
        return {"count": row.count, "users": row.users}


@strawberry.type(description="Relative change in percent against the comparison period (null when the "
                             "previous value is 0 or missing).")
class EventFiguresChange:
    count: float | None
    users: float | None


@strawberry.type(description="A Custom event name with its figures over the range, optionally compared. "
                             + BOTS_NOTE)
class EventSummary(EventFigures):
    name: str
    previous: EventFigures | None = strawberry.field(
        description="The figures in the comparison period, when compare is given.")
    change: EventFiguresChange | None

    @classmethod
    def of(cls, name: str, row: stats.EventFigures, before: stats.EventFigures | None) -> EventSummary:
        now = EventFigures.values(row)
        return cls(name=name, **now, **compared_values(  # type: ignore[arg-type]
            EventFigures, EventFiguresChange, now, EventFigures.values(before) if before else None))


@strawberry.type(description="A Custom event name's figures over a range, optionally compared. " + BOTS_NOTE)
class EventStats(EventSummary):
    period: Period


@strawberry.type
class EventSeriesPoint:
    start: datetime = strawberry.field(description="Bucket start in the tenant's time zone.")
    date: date = strawberry.field(description="Local date of the bucket start.")
    count: int = strawberry.field(description="Events of the name in the bucket.")
    users: int | None = strawberry.field(description="Distinct users in the bucket's local days; null for "
                                                     "HOUR buckets.")


@strawberry.type(description="A Custom event's counts per bucket, empty buckets as zeros. " + BOTS_NOTE)
class EventSeries:
    period: Period
    granularity: Granularity
    points: list[EventSeriesPoint]


@strawberry.type
class BreakdownValue:
    value: str = strawberry.field(description="The property's value as text (true/false, numbers as "
                                              "written, strings cut at 100 characters); (none) for events "
                                              "without it, (other) for values beyond the daily cap.")
    count: int
    share: float | None = strawberry.field(description="count / total * 100.")


@strawberry.type(description="A Custom event's events per value of a declared dimension over the whole "
                             "local days the range touches, most first. " + BOTS_NOTE)
class EventBreakdown:
    dimension: str
    first_day: date
    last_day: date
    total: int = strawberry.field(description="Events of the name on those days.")
    values: list[BreakdownValue]
    rest: int = strawberry.field(description="Events whose value is beyond the limit.")
    capped: bool = strawberry.field(
        description=f"Whether some day had more than {DIMENSION_CAP} distinct values: the first "
                    f"{DIMENSION_CAP} to arrive that day count as themselves, the rest under (other).")


@strawberry.type(description="A Custom event name of this tenant.")
class CustomEvent:
    name: str

    @strawberry.field(description="Its definition; null when it has none.")
    async def definition(self, info: AppInfo) -> EventDefinition | None:
        async with info.context.read() as conn:
            found = await domain.get_definition(conn, self.name)
        return EventDefinition.of(found) if found else None

    @strawberry.field(description="Events and distinct users over the range, optionally compared.")
    async def stats(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                    include_bots: IncludeBots = False) -> EventStats:
        period = range.resolve(info.context.require_secret().timezone)
        before_period = comparison(period, compare)
        async with info.context.read() as conn:
            now = (await stats.event_figures(conn, names=[self.name], period=period,
                                             include_bots=include_bots))[self.name]
            before = None if before_period is None else (await stats.event_figures(
                conn, names=[self.name], period=before_period, include_bots=include_bots))[self.name]
        values = EventFigures.values(now)
        return EventStats(name=self.name, period=Period.of(period), **values, **compared_values(  # type: ignore[arg-type]
            EventFigures, EventFiguresChange, values, EventFigures.values(before) if before else None))

    @strawberry.field(description="Events (and distinct users, by day or longer) per bucket.")
    async def series(self, info: AppInfo, range: RangeInput, granularity: Granularity | None = None,
                     include_bots: IncludeBots = False) -> EventSeries:
        period = range.resolve(info.context.require_secret().timezone)
        chosen, _ = check_granularity(period, granularity)
        async with info.context.read() as conn:
            points = await stats.event_series(conn, name=self.name, period=period, granularity=chosen,
                                              include_bots=include_bots)
        return EventSeries(period=Period.of(period), granularity=chosen, points=[
            EventSeriesPoint(start=p.start.astimezone(period.tz), date=p.start.astimezone(period.tz).date(),
                             count=p.count, users=p.users) for p in points])

    @strawberry.field(description="Events per value of a declared dimension (limit at most 500).")
    async def breakdown(self, info: AppInfo, range: RangeInput, dimension: str, limit: int = 20,
                        include_bots: IncludeBots = False) -> EventBreakdown:
        check_limit("limit", limit, MAX_LIMIT)
        period = range.resolve(info.context.require_secret().timezone)
        async with info.context.read() as conn:
            found = await domain.get_definition(conn, self.name)
            declared = [d.property for d in found.dimensions] if found else []
            if dimension not in declared:
                raise BadInput("dimension", f"{dimension[:100]!r} is not a declared dimension of "
                                            f"{self.name!r}; declared: {', '.join(declared) or 'none'}")
            row = await stats.event_breakdown(conn, name=self.name, dimension=dimension, period=period,
                                              limit=limit, include_bots=include_bots)
        return EventBreakdown(dimension=dimension, first_day=row.first_day, last_day=row.last_day,
                              total=row.total, rest=row.rest, capped=row.capped,
                              values=[BreakdownValue(value=r.value, count=r.count, share=r.share)
                                      for r in row.rows])


async def events_list(info: AppInfo, range: RangeInput, compare: Compare | None, include_bots: bool,
                      limit: int) -> list[EventSummary]:
    check_limit("limit", limit, MAX_LIMIT)
    period = range.resolve(info.context.require_secret().timezone)
    before_period = comparison(period, compare)
    async with info.context.read() as conn:
        rows = await stats.top_events(conn, period=period, limit=limit, include_bots=include_bots)
        before = None if before_period is None else await stats.event_figures(
            conn, names=[name for name, _ in rows], period=before_period, include_bots=include_bots)
    return [EventSummary.of(name, row, before[name] if before else None) for name, row in rows]


async def event_by_name(info: AppInfo, name: str) -> CustomEvent | None:
    async with info.context.read() as conn:
        known = await stats.event_known(conn, name)
    return CustomEvent(name=name) if known else None


async def event_definitions(info: AppInfo, first: int, after: str | None) -> list[EventDefinition]:
    check_limit("first", first, MAX_LIMIT)
    async with info.context.read() as conn:
        found = await domain.list_definitions(conn, first=first, after=after)
    return [EventDefinition.of(d) for d in found]


async def event_allowlist(info: AppInfo) -> bool:
    principal = info.context.require_secret()
    async with info.context.read() as conn:
        return await domain.event_allowlist(conn, principal.tenant_id)
