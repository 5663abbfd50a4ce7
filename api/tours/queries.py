"""Tenant-level tour fields: the tour list, one tour, the overview and selector health."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Annotated

import strawberry

from analytics.periods import Period as DomainPeriod
from analytics.tours import service, stats
from api.common import Compare, Granularity, Period, RangeInput, check_limit
from api.context import AppInfo
from api.errors import BadInput
from api.tours.types import (
    SelectorHealth,
    Tour,
    TourSeries,
    TourStats,
    series_of,
    stats_with_comparison,
)

if TYPE_CHECKING:  # imported lazily: api.sessions uses this module's PageInfo
    from api.content.types import ContentStats
    from api.sessions.types import SessionStats
    from api.traffic.types import TrafficRow

MAX_PAGE = 500


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class TourEdge:
    cursor: str
    node: Tour


@strawberry.type
class TourConnection:
    edges: list[TourEdge]
    nodes: list[Tour]
    page_info: PageInfo
    total_count: int


@strawberry.type
class TourHighlight:
    tour: Tour
    completion_rate: float | None
    starts: int


@strawberry.type
class TourDropOff:
    tour: Tour
    step_index: int
    step_title: str | None
    drop_off: float = strawberry.field(description="Percentage points lost at this step.")


@strawberry.type(description="The tenant's dashboard over one range: tours, sessions, traffic sources "
                             "and content (bots left out unless the overview's includeBots is true).")
class ToursOverview:
    period: Period
    active_tours: int = strawberry.field(description="Tours with at least one start in the period.")
    starts: int
    completions: int
    combined_completion_rate: float | None = strawberry.field(
        description="All completions / all starts * 100.")
    top_tour: TourHighlight | None = strawberry.field(
        description="Highest completion rate (ties: more starts).")
    needs_attention: TourDropOff | None = strawberry.field(
        description="The tour with the largest single-step drop-off in its funnel.")
    totals: TourStats = strawberry.field(description="All tours' counters summed, with comparison.")
    domain_period: strawberry.Private[DomainPeriod]
    compare: strawberry.Private[Compare | None]
    include_bots: strawberry.Private[bool]

    @strawberry.field(description="Session totals of the same range, compared as the overview is.")
    async def sessions(self, info: AppInfo) -> Annotated[SessionStats, strawberry.lazy("api.sessions.types")]:
        from api.sessions.queries import stats_with_comparison as session_stats

        return await session_stats(info, self.domain_period, self.compare, self.include_bots)

    @strawberry.field(description="All content's (capsules') totals of the same range, compared as the "
                                  "overview is.")
    async def content(self, info: AppInfo) -> Annotated[ContentStats, strawberry.lazy("api.content.types")]:
        from api.content.types import ContentStats as Stats

        return await Stats.build(info, None, self.domain_period, self.compare, self.include_bots)

    @strawberry.field(description="Traffic sources with the most sessions in the range (see "
                                  "traffic.sources).")
    async def top_sources(self, info: AppInfo, limit: int = 5
                          ) -> list[Annotated[TrafficRow, strawberry.lazy("api.traffic.types")]]:
        from api.traffic.queries import top_sources

        return await top_sources(info, self.domain_period, self.compare, self.include_bots, limit)


def _cursor(tour_id: str) -> str:
    return base64.urlsafe_b64encode(tour_id.encode()).decode()


def _after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        decoded = base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except ValueError:
        decoded = ""
    if not decoded:
        raise BadInput("after", "is not a cursor returned by this field")
    return decoded


async def tours_page(info: AppInfo, first: int, after: str | None) -> TourConnection:
    check_limit("first", first, MAX_PAGE)
    async with info.context.read() as conn:
        rows = await service.list_tours(conn, after=_after(after), limit=first + 1)
        total = await service.count_tours(conn)
    page = [Tour.of(t) for t in rows[:first]]
    return TourConnection(
        edges=[TourEdge(cursor=_cursor(t.id), node=t) for t in page], nodes=page,
        page_info=PageInfo(has_next_page=len(rows) > first,
                           end_cursor=_cursor(page[-1].id) if page else None),
        total_count=total,
    )


async def tour_by_id(info: AppInfo, tour_id: str) -> Tour | None:
    async with info.context.read() as conn:
        found = await service.get_tours(conn, [tour_id])
    return Tour.of(found[tour_id]) if tour_id in found else None


async def tours_overview(info: AppInfo, range: RangeInput, compare: Compare | None,
                         include_bots: bool = False) -> ToursOverview:
    period = range.resolve(info.context.require_secret().timezone)
    async with info.context.read() as conn:
        result = await stats.overview(conn, period=period, include_bots=include_bots)
        wanted = [t for t in ((result.top_tour or ("",))[0], (result.needs_attention or ("",))[0]) if t]
        tours = await service.get_tours(conn, wanted)
    top = attention = None
    if result.top_tour:
        tour_id, counts = result.top_tour
        top = TourHighlight(tour=Tour.of(tours[tour_id]), completion_rate=counts.completion_rate,
                            starts=counts.starts)
    if result.needs_attention:
        tour_id, step = result.needs_attention
        attention = TourDropOff(tour=Tour.of(tours[tour_id]), step_index=step.index,
                                step_title=step.title, drop_off=step.drop_off)
    return ToursOverview(
        period=Period.of(period), active_tours=result.active_tours, starts=result.totals.starts,
        completions=result.totals.completions,
        combined_completion_rate=result.totals.completion_rate, top_tour=top,
        needs_attention=attention,
        totals=await stats_with_comparison(info, None, period, compare, include_bots),
        domain_period=period, compare=compare, include_bots=include_bots,
    )


async def tenant_selector_health(info: AppInfo, range: RangeInput, limit: int,
                                 include_bots: bool = False) -> SelectorHealth:
    period = range.resolve(info.context.require_secret().timezone)
    check_limit("limit", limit, 500)
    async with info.context.read() as conn:
        return SelectorHealth.of(await stats.selector_health(conn, tour_id=None, period=period,
                                                             limit=limit, include_bots=include_bots))


async def all_tours_series(info: AppInfo, range: RangeInput, granularity: Granularity | None,
                           include_bots: bool = False) -> TourSeries:
    period = range.resolve(info.context.require_secret().timezone)
    return await series_of(info, None, period, granularity, include_bots)
