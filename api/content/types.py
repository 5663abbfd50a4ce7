"""Content (capsule) types of the graph: stats with comparison and breakdowns, series, rankings."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.utils.str_converters import to_snake_case

from analytics import metrics
from analytics.content import facts, stats
from analytics.periods import Compare as DomainCompare
from analytics.periods import Granularity as DomainGranularity
from analytics.periods import Period as DomainPeriod
from analytics.periods import comparison
from api.common import (
    Compare,
    Granularity,
    IncludeBots,
    Period,
    RangeInput,
    check_granularity,
    check_limit,
    selected_names,
)
from api.context import AppInfo

if TYPE_CHECKING:  # imported lazily: they import the tours module, which imports this one
    from api.sessions.types import SessionStats
    from api.traffic.types import Traffic

MAX_LIMIT = 500
BOTS_NOTE = "Sessions flagged as bots (any tier) are left out unless includeBots is true."
UNIQUES_NOTE = ("Exact, or a HyperLogLog estimate (about 1.6 % standard error) when the range holds "
                "past days with 1,000 or more viewers. Null when the range is not whole local days "
                "(LAST_24_HOURS, since in minutes or hours, date-times): distinct users are kept per local "
                "day, and a whole day's count beside the views of part of that day could exceed them.")
FACTS_NOTE = ("Counted over the content sessions (one content item within one session) whose first "
              "event of that item falls in the range.")


@strawberry.type(description="Relative change in percent against the comparison period "
                             "(null when the previous value is 0 or missing).")
class ContentStatsChange:
    views: float | None
    unique_views: float | None
    dismissals: float | None
    cta_clicks: float | None
    cta_click_through_rate: float | None
    conversions: float | None
    conversion_rate: float | None
    viewing_sessions: float | None
    total_time_on_content_seconds: float | None
    avg_time_on_content_seconds: float | None
    median_time_on_content_seconds: float | None
    conversations: float | None
    messages: float | None
    messages_per_conversation: float | None
    sessions_with_conversation: float | None
    conversation_turns: float | None
    turns_per_session: float | None
    avg_conversation_duration_seconds: float | None
    median_conversation_duration_seconds: float | None
    converting_sessions: float | None
    avg_time_to_conversion_seconds: float | None
    median_time_to_conversion_seconds: float | None
    document_views: float | None
    video_views: float | None
    video_completions: float | None
    video_completion_rate: float | None


@strawberry.type
class ContentFigures:
    views: int = strawberry.field(description="Total views: ContentViewed events in the range.")
    unique_views: int | None = strawberry.field(
        description="Unique views: distinct users (userId, else anonymousId) with a ContentViewed event "
                    "in the range. " + UNIQUES_NOTE)
    dismissals: int = strawberry.field(description="ContentDismissed events in the range.")
    cta_clicks: int = strawberry.field(description="ContentCtaClicked events in the range.")
    cta_click_through_rate: float | None = strawberry.field(
        description="ctaClicks / views * 100; null without views.")
    conversions: int = strawberry.field(description="ContentConverted events in the range.")
    conversion_rate: float | None = strawberry.field(
        description="conversions / views * 100; null without views.")
    viewing_sessions: int = strawberry.field(
        description="Content sessions with a ContentViewed event. " + FACTS_NOTE)
    total_time_on_content_seconds: float = strawberry.field(
        description="Sum of ContentEngagement timeOnPageMs of all content sessions, in seconds.")
    avg_time_on_content_seconds: float | None = strawberry.field(
        description="Time on capsule: the viewing sessions' summed ContentEngagement timeOnPageMs / "
                    "viewingSessions, in seconds (a viewing session without engagement reports counts "
                    "as 0 s).")
    median_time_on_content_seconds: float | None = strawberry.field(
        description="Median time on capsule over the viewing sessions, in seconds (continuous "
                    "percentile 0.5).")
    conversations: int = strawberry.field(
        description="Conversations: distinct capsule.conversationId of ConversationMessage events per "
                    "content session. " + FACTS_NOTE)
    messages: int = strawberry.field(description="ConversationMessage events of those conversations.")
    messages_per_conversation: float | None = strawberry.field(
        description="messages / conversations.")
    sessions_with_conversation: int = strawberry.field(
        description="Distinct sessions with at least one conversation.")
    conversation_turns: int = strawberry.field(
        description="Turns: messages with capsule.role user in those conversations.")
    turns_per_session: float | None = strawberry.field(
        description="Conversation turns per session: conversationTurns / sessionsWithConversation.")
    avg_conversation_duration_seconds: float | None = strawberry.field(
        description="Conversation duration: mean over conversations of (last message - first message), in "
                    "seconds (a one-message conversation lasts 0 s).")
    median_conversation_duration_seconds: float | None = strawberry.field(
        description="Median conversation duration in seconds (continuous percentile 0.5).")
    converting_sessions: int = strawberry.field(
        description="Content sessions whose first ContentConverted is at or after their first "
                    "ContentViewed of that item.")
    avg_time_to_conversion_seconds: float | None = strawberry.field(
        description="Time to conversion: mean over converting sessions of (first ContentConverted - first "
                    "ContentViewed of that item in the same session), in seconds.")
    median_time_to_conversion_seconds: float | None = strawberry.field(
        description="Median time to conversion over converting sessions, in seconds.")
    document_views: int = strawberry.field(
        description="ContentAssetViewed events with capsule.assetKind document.")
    video_views: int = strawberry.field(
        description="ContentAssetViewed events with capsule.assetKind video.")
    video_completions: int = strawberry.field(description="VideoCompleted events.")
    video_completion_rate: float | None = strawberry.field(
        description="videoCompletions / videoViews * 100; null without video views.")


_FIGURES = frozenset(f.name for f in dataclasses.fields(ContentFigures))


@strawberry.type(description="Clicks and conversions of one call-to-action (capsule.ctaId / ctaType of "
                             "ContentCtaClicked and ContentConverted). " + FACTS_NOTE)
class CtaPerformance:
    cta_id: str | None = strawberry.field(description="capsule.ctaId; null: events that named none.")
    cta_type: str | None = strawberry.field(description="capsule.ctaType; null: events that named none.")
    clicks: int = strawberry.field(description="ContentCtaClicked events of this CTA.")
    conversions: int = strawberry.field(description="ContentConverted events of this CTA.")
    click_through_rate: float | None = strawberry.field(
        description="clicks / the content's views * 100.")
    conversion_rate: float | None = strawberry.field(
        description="Conversion rate by CTA: conversions / the content's views * 100.")

    @classmethod
    def of(cls, row: facts.CtaRow) -> CtaPerformance:
        return cls(cta_id=row.cta_id, cta_type=row.cta_type, clicks=row.clicks, conversions=row.conversions,
                   click_through_rate=row.click_through_rate, conversion_rate=row.conversion_rate)


@strawberry.type(description="One document or video opened in the capsule (capsule.assetId). " + FACTS_NOTE)
class AssetAccess:
    asset_id: str = strawberry.field(description="capsule.assetId ('' when the event named none).")
    views: int = strawberry.field(description="ContentAssetViewed events of this asset.")
    sessions: int = strawberry.field(description="Content sessions that opened it.")
    completions: int = strawberry.field(description="VideoCompleted events of this asset (0 for documents).")
    completion_rate: float | None = strawberry.field(
        description="Video completion rate: completions / views * 100.")

    @classmethod
    def of(cls, row: facts.AssetRow) -> AssetAccess:
        return cls(asset_id=row.asset_id, views=row.views, sessions=row.sessions,
                   completions=row.completions, completion_rate=row.completion_rate)


@strawberry.type(description="A drop-off point: conversations that did not convert, by the turn they "
                             "ended after (turn = user messages in the conversation; 0: none). A "
                             "conversation converted when its session has a ContentConverted of the "
                             "item at or after the conversation's first message.")
class ConversationDropOff:
    turn: int = strawberry.field(description="User messages before the conversation ended.")
    conversations: int = strawberry.field(description="Unconverted conversations that ended there.")
    share: float | None = strawberry.field(
        description="conversations / all unconverted conversations * 100.")


@strawberry.type(description="Content totals of a period, optionally compared, with breakdowns. Counts "
                             "of events follow the counters (events in the range); session figures "
                             "follow the content sessions that started in the range. " + BOTS_NOTE)
class ContentStats(ContentFigures):
    period: Period
    previous: ContentStats | None = strawberry.field(
        description="The same figures for the comparison period, when compare is given.")
    change: ContentStatsChange | None
    content_id: strawberry.Private[str | None]
    domain_period: strawberry.Private[DomainPeriod]
    include_bots: strawberry.Private[bool]

    @classmethod
    async def build(cls, info: AppInfo, content_id: str | None, period: DomainPeriod,
                    compare: DomainCompare | None, include_bots: bool) -> ContentStats:
        # Figures shown here or under previous / change: the overview's counters alone skip the
        # session facts.
        wanted = {to_snake_case(name) for name in selected_names(info)} & _FIGURES
        async with info.context.read() as conn:
            values = await stats.content_figures(conn, content_id=content_id, period=period,
                                                 include_bots=include_bots, wanted=wanted)
        previous = change = None
        if compare is not None:
            before = comparison(period, compare)
            previous = await cls.build(info, content_id, before, None, include_bots)
            change = ContentStatsChange(**{k: metrics.percent_change(v, getattr(previous, k))
                                           for k, v in values.items()})
        return cls(period=Period.of(period), previous=previous, change=change, content_id=content_id,
                   domain_period=period, include_bots=include_bots, **values)

    @strawberry.field(description="Clicks, conversions and rates by call-to-action (ctaId and ctaType), "
                                  "most conversions first (limit at most 500).")
    async def conversions_by_cta(self, info: AppInfo, limit: int = 10) -> list[CtaPerformance]:
        return await self._ctas(info, limit, by_type=False)

    @strawberry.field(description="Clicks, conversions and rates by CTA type (ctaType), most "
                                  "conversions first (limit at most 500).")
    async def conversions_by_cta_type(self, info: AppInfo, limit: int = 10) -> list[CtaPerformance]:
        return await self._ctas(info, limit, by_type=True)

    async def _ctas(self, info: AppInfo, limit: int, *, by_type: bool) -> list[CtaPerformance]:
        check_limit("limit", limit, MAX_LIMIT)
        async with info.context.read() as conn:
            rows = await facts.by_cta(conn, content_id=self.content_id, period=self.domain_period,
                                      views=self.views, limit=limit, by_type=by_type,
                                      include_bots=self.include_bots)
        return [CtaPerformance.of(r) for r in rows]

    @strawberry.field(description="Most accessed documents: most views first (limit at most 500).")
    async def documents(self, info: AppInfo, limit: int = 10) -> list[AssetAccess]:
        return await self._assets(info, limit, videos=False)

    @strawberry.field(description="Most watched videos with their completion rate: most views first "
                                  "(limit at most 500).")
    async def videos(self, info: AppInfo, limit: int = 10) -> list[AssetAccess]:
        return await self._assets(info, limit, videos=True)

    async def _assets(self, info: AppInfo, limit: int, *, videos: bool) -> list[AssetAccess]:
        check_limit("limit", limit, MAX_LIMIT)
        async with info.context.read() as conn:
            rows = await facts.assets(conn, content_id=self.content_id, period=self.domain_period,
                                      videos=videos, limit=limit, include_bots=self.include_bots)
        return [AssetAccess.of(r) for r in rows]

    @strawberry.field(description="Drop-off points in conversations, by turn, lowest turn first: the "
                                  "first `limit` turns (at most 500); each share is of all unconverted "
                                  "conversations, later turns included.")
    async def drop_off_points(self, info: AppInfo, limit: int = 20) -> list[ConversationDropOff]:
        check_limit("limit", limit, MAX_LIMIT)
        async with info.context.read() as conn:
            rows = await facts.drop_off_points(conn, content_id=self.content_id, period=self.domain_period,
                                               limit=limit, include_bots=self.include_bots)
        return [ConversationDropOff(turn=r.turn, conversations=r.conversations, share=r.share) for r in rows]


@strawberry.type
class ContentSeriesPoint:
    start: datetime = strawberry.field(description="Bucket start in the tenant's time zone.")
    date: date = strawberry.field(description="Local date of the bucket start.")
    views: int = strawberry.field(description="ContentViewed events in the bucket.")
    dismissals: int = strawberry.field(description="ContentDismissed events.")
    cta_clicks: int = strawberry.field(description="ContentCtaClicked events.")
    cta_click_through_rate: float | None = strawberry.field(description="ctaClicks / views * 100.")
    conversions: int = strawberry.field(description="ContentConverted events.")
    conversion_rate: float | None = strawberry.field(description="conversions / views * 100.")
    messages: int = strawberry.field(description="ConversationMessage events.")
    asset_views: int = strawberry.field(description="ContentAssetViewed events (documents and videos).")
    video_completions: int = strawberry.field(description="VideoCompleted events.")
    engagements: int = strawberry.field(description="ContentEngagement reports.")

    @classmethod
    def of(cls, point: stats.SeriesPoint, period: DomainPeriod) -> ContentSeriesPoint:
        local, c = point.start.astimezone(period.tz), point.counts
        return cls(start=local, date=local.date(), views=c.views, dismissals=c.dismissals,
                   cta_clicks=c.cta_clicks, cta_click_through_rate=c.cta_click_through_rate,
                   conversions=c.conversions, conversion_rate=c.conversion_rate, messages=c.messages,
                   asset_views=c.asset_views, video_completions=c.video_completions,
                   engagements=c.engagements)


@strawberry.type(description="Content counters per bucket in the tenant's time zone, empty buckets as "
                             "zeros. " + BOTS_NOTE)
class ContentSeries:
    period: Period
    granularity: Granularity
    points: list[ContentSeriesPoint]


async def series_of(info: AppInfo, content_id: str | None, period: DomainPeriod,
                    granularity: DomainGranularity | None, include_bots: bool) -> ContentSeries:
    chosen, _ = check_granularity(period, granularity)
    async with info.context.read() as conn:
        points = await stats.content_series(conn, content_id=content_id, period=period, granularity=chosen,
                                            include_bots=include_bots)
    return ContentSeries(period=Period.of(period), granularity=chosen,
                         points=[ContentSeriesPoint.of(p, period) for p in points])


@strawberry.type(description="A content item (capsule), named by the contentId of its events.")
class Capsule:
    id: str

    @strawberry.field(description="Views, CTA clicks, conversions, time on capsule, conversations, time "
                                  "to conversion, documents and videos, drop-off points; optionally "
                                  "compared.")
    async def stats(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                    include_bots: IncludeBots = False) -> ContentStats:
        period = range.resolve(info.context.require_secret().timezone)
        return await ContentStats.build(info, self.id, period, compare, include_bots)

    @strawberry.field(description="The capsule's counters per bucket, empty buckets as zeros.")
    async def series(self, info: AppInfo, range: RangeInput, granularity: Granularity | None = None,
                     include_bots: IncludeBots = False) -> ContentSeries:
        period = range.resolve(info.context.require_secret().timezone)
        return await series_of(info, self.id, period, granularity, include_bots)

    @strawberry.field(description="The capsule's audience: totals of the sessions that started in the "
                                  "range and used it (any of its events): visitors, returning visitors "
                                  "and return visit rate, session duration (mean, median), bounce rate; "
                                  "optionally compared.")
    async def sessions(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                       include_bots: IncludeBots = False
                       ) -> Annotated[SessionStats, strawberry.lazy("api.sessions.types")]:
        from api.sessions.queries import stats_with_comparison

        period = range.resolve(info.context.require_secret().timezone)
        return await stats_with_comparison(info, period, compare, include_bots, content_id=self.id)

    @strawberry.field(description="Where the capsule's audience came from and on what: sources, "
                                  "referrers, campaigns, places, devices, and the bots among them, of "
                                  "the sessions that started in the range and used it.")
    def traffic(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                include_bots: IncludeBots = False
                ) -> Annotated[Traffic, strawberry.lazy("api.traffic.types")]:
        from api.traffic.queries import traffic

        return traffic(info, range, compare, include_bots, content_id=self.id)
