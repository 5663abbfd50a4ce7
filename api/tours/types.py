"""Tour types of the graph; each analytic field takes a range and reads the rollups."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from analytics import metrics
from analytics.periods import Compare as DomainCompare
from analytics.periods import Granularity as DomainGranularity
from analytics.periods import Period as DomainPeriod
from analytics.periods import comparison
from analytics.tours import service, stats
from api.common import (
    Compare,
    Granularity,
    IncludeBots,
    Period,
    RangeInput,
    check_granularity,
    check_limit,
)
from api.context import AppInfo


@strawberry.type(description="Relative change in percent against the comparison period "
                             "(null when the previous value is 0 or missing).")
class TourStatsChange:
    starts: float | None
    completions: float | None
    dismissals: float | None
    restarts: float | None
    step_views: float | None
    step_completions: float | None
    target_failures: float | None
    completion_rate: float | None
    dismissal_rate: float | None


@strawberry.type
class TourCounts:
    starts: int = strawberry.field(description="TourStarted events.")
    completions: int = strawberry.field(description="TourCompleted events.")
    dismissals: int = strawberry.field(description="TourDismissed events.")
    restarts: int = strawberry.field(description="TourRestarted events.")
    step_views: int = strawberry.field(description="StepViewed events.")
    step_completions: int = strawberry.field(description="StepCompleted events.")
    target_failures: int = strawberry.field(description="target_not_found events.")
    completion_rate: float | None = strawberry.field(
        description="completions / starts * 100; null when there were no starts.")
    dismissal_rate: float | None = strawberry.field(description="dismissals / starts * 100.")

    @staticmethod
    def values(counts: stats.TourCounts) -> dict[str, object]:
        return {"starts": counts.starts, "completions": counts.completions,
                "dismissals": counts.dismissals, "restarts": counts.restarts,
                "step_views": counts.step_views, "step_completions": counts.step_completions,
                "target_failures": counts.target_failures,
                "completion_rate": counts.completion_rate, "dismissal_rate": counts.dismissal_rate}


# The figures of TourCounts that count events (the rates do not).
EVENT_COUNTS = ("starts", "completions", "dismissals", "restarts", "step_views", "step_completions",
                "target_failures")


@strawberry.type(description="A tour's totals over a period, optionally compared with another.")
class TourStats(TourCounts):
    period: Period
    previous: TourStats | None = strawberry.field(
        description="The same figures for the comparison period, when compare is given.")
    change: TourStatsChange | None
    # What excludedAsBots needs: the counts are of this tour (None: all tours), period and bot choice.
    tour_id: strawberry.Private[str | None] = None
    domain_period: strawberry.Private[DomainPeriod | None] = None
    include_bots: strawberry.Private[bool] = True

    @strawberry.field(description=(
        "Events of the tour in this period left out of the figures above as bots (sessions flagged "
        "by any tier, or server-sourced sessions without a user agent when the tenant excludes them): "
        "when the figures are 0 but this is not, the events arrived and were filtered. 0 with "
        "includeBots: true."))
    async def excluded_as_bots(self, info: AppInfo) -> int:
        if self.include_bots or self.domain_period is None:
            return 0
        from api.tours.loaders import load_counts

        everyone = TourCounts.values(await load_counts(info, self.tour_id, self.domain_period, True))
        humans = TourCounts.values(self)  # type: ignore[arg-type]
        return sum(int(everyone[k]) - int(humans[k]) for k in EVENT_COUNTS)  # type: ignore[call-overload]

    @classmethod
    def build(cls, period: DomainPeriod, counts: stats.TourCounts,
              previous: tuple[DomainPeriod, stats.TourCounts] | None) -> TourStats:
        values = TourCounts.values(counts)
        if previous is None:
            return cls(period=Period.of(period), previous=None, change=None, **values)  # type: ignore[arg-type]
        before = TourCounts.values(previous[1])
        change = TourStatsChange(**{k: metrics.percent_change(values[k], before[k])  # type: ignore[arg-type]
                                    for k in values})
        return cls(period=Period.of(period), change=change,
                   previous=cls.build(previous[0], previous[1], None), **values)  # type: ignore[arg-type]


@strawberry.type
class TourSeriesPoint(TourCounts):
    start: datetime = strawberry.field(description="Bucket start in the tenant's time zone.")
    date: date = strawberry.field(description="Local date of the bucket start.")


@strawberry.type
class TourSeries:
    period: Period
    granularity: Granularity
    points: list[TourSeriesPoint]


@strawberry.type
class FunnelStep:
    index: int = strawberry.field(description="Step position, 0 for the first.")
    title: str | None
    selector: str | None
    users: int = strawberry.field(description="Distinct users who viewed the step in the period: exact, "
                                              "or an estimate (about 1.6 %) over past days with 1,000 or "
                                              "more viewers of the step.")
    percent_of_first: float = strawberry.field(description="users / users of the first step * 100.")
    drop_off: float = strawberry.field(
        description="Percentage points of the first step's users lost since the previous step.")

    @classmethod
    def of(cls, step: stats.FunnelStep) -> FunnelStep:
        return cls(index=step.index, title=step.title, selector=step.selector, users=step.users,
                   percent_of_first=step.percent_of_first, drop_off=step.drop_off)


@strawberry.type(description="Distinct users per step over whole local days of the range.")
class Funnel:
    period: Period
    steps: list[FunnelStep]
    biggest_drop_off: FunnelStep | None = strawberry.field(
        description="The step with the largest drop-off, where the tour most needs work.")

    @classmethod
    def of(cls, funnel: stats.Funnel) -> Funnel:
        biggest = funnel.biggest_drop_off
        return cls(period=Period.of(funnel.period), steps=[FunnelStep.of(s) for s in funnel.steps],
                   biggest_drop_off=FunnelStep.of(biggest) if biggest else None)


@strawberry.type(description="Distinct users of the period by status (whole local days).")
class UserStatus:
    started: int
    completed: int
    dismissed: int
    in_progress: int = strawberry.field(description="Started, neither completed nor dismissed.")


@strawberry.type
class SelectorFailure:
    selector: str
    failures: int
    last_seen: datetime
    urls: list[str]
    tour_ids: list[str]


@strawberry.type(description="target_not_found failures by selector (whole local days).")
class SelectorHealth:
    period: Period
    total_failures: int
    selectors: list[SelectorFailure]

    @classmethod
    def of(cls, health: stats.SelectorHealth) -> SelectorHealth:
        tz = health.period.tz
        return cls(period=Period.of(health.period), total_failures=health.total_failures,
                   selectors=[SelectorFailure(selector=s.selector, failures=s.failures,
                                              last_seen=s.last_seen_at.astimezone(tz), urls=s.urls,
                                              tour_ids=s.tour_ids) for s in health.selectors])


@strawberry.type
class Step:
    index: int
    step_id: str | None
    title: str | None
    selector: str | None


async def stats_with_comparison(info: AppInfo, tour_id: str | None, period: DomainPeriod,
                                compare: DomainCompare | None, include_bots: bool = False) -> TourStats:
    """Tour stats (or all tours combined when ``tour_id`` is None) through the request loader."""
    from api.tours.loaders import load_counts

    counts = await load_counts(info, tour_id, period, include_bots)
    previous = None
    if compare is not None:
        before = comparison(period, compare)
        previous = (before, await load_counts(info, tour_id, before, include_bots))
    built = TourStats.build(period, counts, previous)
    built.tour_id, built.domain_period, built.include_bots = tour_id, period, include_bots
    return built


@strawberry.type
class Tour:
    id: str
    title: str | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None

    @classmethod
    def of(cls, tour: service.Tour) -> Tour:
        return cls(id=tour.id, title=tour.title, first_seen_at=tour.first_seen_at,
                   last_seen_at=tour.last_seen_at)

    @strawberry.field(description="Steps by index: defined ones and those seen in events.")
    async def steps(self, info: AppInfo) -> list[Step]:
        async with info.context.read() as conn:
            return [Step(index=s.index, step_id=s.step_id, title=s.title, selector=s.selector)
                    for s in await service.get_steps(conn, self.id)]

    @strawberry.field(description="Totals and rates over the range, optionally compared.")
    async def stats(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                    include_bots: IncludeBots = False) -> TourStats:
        period = range.resolve(info.context.require_secret().timezone)
        return await stats_with_comparison(info, self.id, period, compare, include_bots)

    @strawberry.field(description="Counters per bucket, empty buckets as zeros.")
    async def series(self, info: AppInfo, range: RangeInput, granularity: Granularity | None = None,
                     include_bots: IncludeBots = False) -> TourSeries:
        period = range.resolve(info.context.require_secret().timezone)
        return await series_of(info, self.id, period, granularity, include_bots)

    @strawberry.field(description="Step funnel: distinct users per step and where they drop off.")
    async def funnel(self, info: AppInfo, range: RangeInput, include_bots: IncludeBots = False) -> Funnel:
        period = range.resolve(info.context.require_secret().timezone)
        async with info.context.read() as conn:
            result = await stats.funnels(conn, tour_ids=[self.id], period=period,
                                         include_bots=include_bots)
        return Funnel.of(result[self.id])

    @strawberry.field(description="Distinct users by status: started, completed, dismissed.")
    async def user_status(self, info: AppInfo, range: RangeInput,
                          include_bots: IncludeBots = False) -> UserStatus:
        period = range.resolve(info.context.require_secret().timezone)
        async with info.context.read() as conn:
            status = await stats.user_status(conn, tour_id=self.id, period=period,
                                             include_bots=include_bots)
        return UserStatus(started=status.started, completed=status.completed,
                          dismissed=status.dismissed, in_progress=status.in_progress)

    @strawberry.field(description="This tour's broken selectors.")
    async def selector_health(self, info: AppInfo, range: RangeInput, limit: int = 20,
                              include_bots: IncludeBots = False) -> SelectorHealth:
        period = range.resolve(info.context.require_secret().timezone)
        check_limit("limit", limit, 500)
        async with info.context.read() as conn:
            return SelectorHealth.of(await stats.selector_health(
                conn, tour_id=self.id, period=period, limit=limit, include_bots=include_bots))


async def series_of(info: AppInfo, tour_id: str | None, period: DomainPeriod,
                    granularity: DomainGranularity | None, include_bots: bool = False) -> TourSeries:
    chosen, _ = check_granularity(period, granularity)
    async with info.context.read() as conn:
        points = await stats.tour_series(conn, tour_id=tour_id, period=period, granularity=chosen,
                                         include_bots=include_bots)
    tz = period.tz
    return TourSeries(
        period=Period.of(period), granularity=chosen,
        points=[TourSeriesPoint(start=p.start.astimezone(tz), date=p.start.astimezone(tz).date(),
                                **TourCounts.values(p.counts)) for p in points],  # type: ignore[arg-type]
    )
