"""Tenant-level content fields: content performance of a range (stats, top, trends, popular) and one
capsule by id."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry

from analytics import metrics
from analytics.content import facts, stats
from analytics.periods import Period as DomainPeriod
from analytics.periods import comparison
from api.common import Compare, Granularity, Period, RangeInput, check_limit, compared
from api.content.types import (
    BOTS_NOTE,
    FACTS_NOTE,
    MAX_LIMIT,
    UNIQUES_NOTE,
    Capsule,
    ContentSeries,
    ContentStats,
    series_of,
)
from api.context import AppInfo


@strawberry.type(description="A content item's counters over a period.")
class ContentRankingFigures:
    views: int = strawberry.field(description="ContentViewed events in the range.")
    unique_views: int | None = strawberry.field(
        description="Distinct users who viewed it in the range. " + UNIQUES_NOTE)
    cta_clicks: int = strawberry.field(description="ContentCtaClicked events in the range.")
    cta_click_through_rate: float | None = strawberry.field(description="ctaClicks / views * 100.")
    conversions: int = strawberry.field(description="ContentConverted events in the range.")
    conversion_rate: float | None = strawberry.field(description="conversions / views * 100.")
    dismissals: int = strawberry.field(description="ContentDismissed events in the range.")

    @staticmethod
    def values(row: stats.RankedContent) -> dict[str, Any]:
        c = row.counts
        return {"views": c.views, "unique_views": row.unique_views, "cta_clicks": c.cta_clicks,
                "cta_click_through_rate": c.cta_click_through_rate, "conversions": c.conversions,
                "conversion_rate": c.conversion_rate, "dismissals": c.dismissals}


@strawberry.type(description="Relative change in percent against the comparison period (null when the "
                             "previous value is 0 or missing).")
class ContentRankingChange:
    views: float | None
    unique_views: float | None
    cta_clicks: float | None
    cta_click_through_rate: float | None
    conversions: float | None
    conversion_rate: float | None
    dismissals: float | None


@strawberry.type(description="A content item ranked by views, with its counters over the range, "
                             "optionally compared.")
class ContentRanking(ContentRankingFigures):
    content_id: str = strawberry.field(description="The contentId of the item's events.")
    previous: ContentRankingFigures | None = strawberry.field(
        description="The item's counters in the comparison period, when compare is given.")
    change: ContentRankingChange | None

    @classmethod
    def of(cls, row: stats.RankedContent, before: stats.RankedContent | None) -> ContentRanking:
        now = cls.values(row)
        return cls(content_id=row.content_id, **now, **compared(  # type: ignore[arg-type]
            ContentRankingFigures, ContentRankingChange, now, cls.values(before) if before else None))


@strawberry.type(description="A content item's engaged time over a period. " + FACTS_NOTE)
class PopularContentFigures:
    engaged_seconds: float = strawberry.field(
        description="Engaged time: sum of ContentEngagement timeOnPageMs of its content sessions, in "
                    "seconds.")
    viewing_sessions: int = strawberry.field(description="Its content sessions with a ContentViewed.")
    avg_time_on_content_seconds: float | None = strawberry.field(
        description="Time on capsule: the viewing sessions' engaged time / viewingSessions, in seconds.")

    @staticmethod
    def values(row: facts.PopularContent) -> dict[str, Any]:
        return {"engaged_seconds": metrics.seconds(row.engaged_ms / 1000),
                "viewing_sessions": row.viewing_sessions,
                "avg_time_on_content_seconds": row.avg_time_on_capsule_seconds}


@strawberry.type(description="Relative change in percent against the comparison period (null when the "
                             "previous value is 0 or missing).")
class PopularContentChange:
    engaged_seconds: float | None
    viewing_sessions: float | None
    avg_time_on_content_seconds: float | None


@strawberry.type(description="A content item ranked by engaged time, optionally compared. " + FACTS_NOTE)
class PopularContent(PopularContentFigures):
    content_id: str = strawberry.field(description="The contentId of the item's events.")
    previous: PopularContentFigures | None = strawberry.field(
        description="The item's engaged time in the comparison period, when compare is given.")
    change: PopularContentChange | None

    @classmethod
    def of(cls, row: facts.PopularContent, before: facts.PopularContent | None) -> PopularContent:
        now = cls.values(row)
        return cls(content_id=row.content_id, **now, **compared(  # type: ignore[arg-type]
            PopularContentFigures, PopularContentChange, now, cls.values(before) if before else None))


@strawberry.type(description="Content performance over a range, all content items together. " + BOTS_NOTE)
class ContentAnalytics:
    period: Period
    include_bots: bool = strawberry.field(description="Whether bot sessions are counted (the argument).")
    domain_period: strawberry.Private[DomainPeriod]

    @strawberry.field(description="Totals and rates of all content, optionally compared with the "
                                  "previous period or a year earlier.")
    async def stats(self, info: AppInfo, compare: Compare | None = None) -> ContentStats:
        return await ContentStats.build(info, None, self.domain_period, compare, self.include_bots)

    @strawberry.field(description="Content items with views, most views first (limit at most 500), "
                                  "optionally compared.")
    async def top(self, info: AppInfo, limit: int = 10, compare: Compare | None = None
                  ) -> list[ContentRanking]:
        check_limit("limit", limit, MAX_LIMIT)
        async with info.context.read() as conn:
            rows = await stats.top_content(conn, period=self.domain_period, limit=limit,
                                           include_bots=self.include_bots)
            ids = [r.content_id for r in rows]
            compared = comparison(self.domain_period, compare)
            before = None if compared is None else await stats.ranked_content(
                conn, content_ids=ids, period=compared, include_bots=self.include_bots)
        return [ContentRanking.of(r, before[r.content_id] if before else None) for r in rows]

    @strawberry.field(description="All content's counters per bucket (views, CTA clicks, conversions...), "
                                  "empty buckets as zeros.")
    async def trends(self, info: AppInfo, granularity: Granularity | None = None) -> ContentSeries:
        return await series_of(info, None, self.domain_period, granularity, self.include_bots)

    @strawberry.field(description="Content items by engaged time, most first (limit at most 500); items "
                                  "without engaged time are left out. Optionally compared.")
    async def popular(self, info: AppInfo, limit: int = 20, compare: Compare | None = None
                      ) -> list[PopularContent]:
        check_limit("limit", limit, MAX_LIMIT)
        async with info.context.read() as conn:
            rows = await facts.popular_content(conn, period=self.domain_period, limit=limit,
                                               include_bots=self.include_bots)
            ids = [r.content_id for r in rows]
            compared = comparison(self.domain_period, compare)
            before = None if compared is None else await facts.popular_of(
                conn, content_ids=ids, period=compared, include_bots=self.include_bots)
        return [PopularContent.of(r, before[r.content_id] if before else None) for r in rows]

    @strawberry.field(description="Unused content: items viewed before the range but not once in it "
                                  "(whole local days), the longest unused first (limit at most 500).")
    async def unused(self, info: AppInfo, limit: int = 20) -> list[UnusedContent]:
        check_limit("limit", limit, MAX_LIMIT)
        async with info.context.read() as conn:
            rows = await stats.unused_content(conn, period=self.domain_period, limit=limit,
                                              include_bots=self.include_bots)
        return [UnusedContent(content_id=r.content_id, last_viewed=r.last_viewed) for r in rows]


@strawberry.type(description="A content item viewed before the range and not once in it.")
class UnusedContent:
    content_id: str = strawberry.field(description="The contentId of the item's events.")
    last_viewed: date = strawberry.field(description="The last local day it was viewed, before the range.")


def content(info: AppInfo, range: RangeInput, include_bots: bool) -> ContentAnalytics:
    period = range.resolve(info.context.require_secret().timezone)
    return ContentAnalytics(period=Period.of(period), include_bots=include_bots, domain_period=period)


async def capsule_by_id(info: AppInfo, content_id: str) -> Capsule | None:
    async with info.context.read() as conn:
        found = await stats.content_exists(conn, content_id)
    return Capsule(id=content_id) if found else None
