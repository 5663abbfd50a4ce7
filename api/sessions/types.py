"""Session types of the graph: one session, session totals with comparison, the session series."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import strawberry

from analytics import metrics
from analytics.periods import Period as DomainPeriod
from analytics.sessions import stats
from api.common import Granularity, Period, compared
from api.tours.queries import PageInfo

BOTS_NOTE = "Bot sessions (tiers 1-3) are left out unless includeBots is true."


@strawberry.type(description="Relative change in percent against the comparison period "
                             "(null when the previous value is 0 or missing).")
class SessionStatsChange:
    sessions: float | None
    visitors: float | None
    users: float | None
    page_views: float | None
    pages_per_session: float | None
    bounce_rate: float | None
    avg_session_duration_seconds: float | None
    median_session_duration_seconds: float | None
    returning_visitors: float | None
    return_visit_rate: float | None
    bot_sessions: float | None


@strawberry.type
class SessionFigures:
    sessions: int = strawberry.field(description="Sessions that started in the period (COUNT of sessions).")
    visitors: int = strawberry.field(
        description="Distinct visitors (cookieless visitor ids) of those sessions: exact, or a HyperLogLog "
                    "estimate (about 1.6 % standard error) when the period holds past days with 1,000 or "
                    "more visitors.")
    users: int = strawberry.field(
        description="Distinct known users (user ids, sessions without one not counted): exact, or an "
                    "estimate like visitors.")
    page_views: int = strawberry.field(description="PageViewed events of those sessions.")
    pages_per_session: float | None = strawberry.field(description="pageViews / sessions.")
    bounce_rate: float | None = strawberry.field(
        description="Bounced sessions / sessions * 100. A session bounced when it has at most one page "
                    "view and no event other than page views and page engagement reports.")
    avg_session_duration_seconds: float | None = strawberry.field(
        description="Mean of (last event - first event) over the sessions, in seconds (a one-event "
                    "session lasts 0 s).")
    median_session_duration_seconds: float | None = strawberry.field(
        description="Median session duration in seconds (continuous percentile 0.5).")
    returning_visitors: int = strawberry.field(
        description="Distinct visitors of the period's sessions who had an earlier session, at any "
                    "time before that session started, with the same visitor id, user id or "
                    "anonymous id (counting only sessions includeBots admits).")
    return_visit_rate: float | None = strawberry.field(description="returningVisitors / visitors * 100.")
    bot_sessions: int = strawberry.field(
        description="Sessions of the period flagged as bots (any tier): what the default filter removes; "
                    "reported whatever includeBots says.")

    @staticmethod
    def values(totals: stats.SessionTotals) -> dict[str, object]:
        return {"sessions": totals.sessions, "visitors": totals.visitors, "users": totals.users,
                "page_views": totals.page_views, "pages_per_session": totals.pages_per_session,
                "bounce_rate": totals.bounce_rate,
                "avg_session_duration_seconds": totals.avg_session_duration_seconds,
                "median_session_duration_seconds": totals.median_duration_seconds,
                "returning_visitors": totals.returning_visitors,
                "return_visit_rate": totals.return_visit_rate, "bot_sessions": totals.bot_sessions}


@strawberry.type(description="Session totals of a period (sessions count by start), optionally compared. "
                             + BOTS_NOTE)
class SessionStats(SessionFigures):
    period: Period
    previous: SessionStats | None = strawberry.field(
        description="The same figures for the comparison period, when compare is given.")
    change: SessionStatsChange | None

    @classmethod
    def build(cls, period: DomainPeriod, totals: stats.SessionTotals,
              previous: tuple[DomainPeriod, stats.SessionTotals] | None) -> SessionStats:
        values = SessionFigures.values(totals)
        if previous is None:
            return cls(period=Period.of(period), previous=None, change=None, **values)  # type: ignore[arg-type]
        before = SessionFigures.values(previous[1])
        change = SessionStatsChange(**{k: metrics.percent_change(values[k], before[k])  # type: ignore[arg-type]
                                       for k in values})
        return cls(period=Period.of(period), change=change,
                   previous=cls.build(previous[0], previous[1], None), **values)  # type: ignore[arg-type]


@strawberry.type(description="One bucket of a session series.")
class SessionSeriesPoint:
    start: datetime = strawberry.field(description="Bucket start in the tenant's time zone.")
    date: date = strawberry.field(description="Local date of the bucket start.")
    sessions: int = strawberry.field(description="Sessions that started in the bucket.")
    visitors: int = strawberry.field(description="Distinct visitors of those sessions, within the bucket "
                                                 "(an estimate as in SessionFigures.visitors).")
    page_views: int = strawberry.field(description="PageViewed events of those sessions.")
    bounce_rate: float | None = strawberry.field(description="Bounced sessions / sessions * 100.")

    @classmethod
    def of(cls, point: stats.SeriesPoint, period: DomainPeriod) -> SessionSeriesPoint:
        local = point.start.astimezone(period.tz)
        counts = point.counts
        return cls(start=local, date=local.date(), sessions=counts.sessions, visitors=counts.visitors,
                   page_views=counts.page_views, bounce_rate=counts.bounce_rate)


@strawberry.type(description="Sessions per bucket by start, empty buckets as zeros. " + BOTS_NOTE)
class SessionSeries:
    period: Period
    granularity: Granularity
    points: list[SessionSeriesPoint] = strawberry.field(description="One point per bucket, in time order.")


@strawberry.type(description="Why a session was flagged as a bot by user agent (tier 1) or as a scanner "
                             "(tier 2).")
class SessionBotReason:
    tier: int = strawberry.field(description="1: user agent (isBot), 2: scanner (isScanner).")
    code: str = strawberry.field(
        description="Tier 1: ua_empty, ua_crawler, ua_ai_crawler, ua_ai_agent, ua_seo_tool, ua_monitor, "
                    "ua_security_scanner, ua_service_agent, ua_feed_fetcher, ua_link_preview, ua_archiver, "
                    "ua_http_library, ua_headless or ua_tenant_rule; tier 2: scan_path, scan_agent or "
                    "scan_velocity.")
    detail: str | None = strawberry.field(
        description="Tier 1: the list and the text that matched (\"crawler-user-agents: AhrefsBot\") or the "
                    "tenant's pattern; tier 2: the rule and path, or what matched.")


@strawberry.type(description="A behavioural signal that fired for the session, with its points.")
class BehaviourSignalPoints:
    signal: str = strawberry.field(
        description="request_velocity, request_interval, page_coverage, session_duration, "
                    "regular_intervals, no_engagement or zero_dwell.")
    points: int = strawberry.field(description="Its contribution to behaviouralBotScore.")


@strawberry.type(description="One visitor session: events of one visitor with no gap of 30 minutes or "
                             "more, at most 24 hours long (an SDK session id is respected).")
class Session:
    id: strawberry.ID
    visitor_id: str = strawberry.field(description="Cookieless daily-salted visitor hash of the first event.")
    user_id: str | None = strawberry.field(description="The first user id the session's events carry.")
    anonymous_id: str | None = strawberry.field(description="The first anonymous id the events carry.")
    started_at: datetime = strawberry.field(description="First event.")
    last_seen_at: datetime = strawberry.field(description="Last event.")
    duration_seconds: float = strawberry.field(description="lastSeenAt - startedAt, in seconds.")
    request_count: int = strawberry.field(description="Events in the session, of every type.")
    page_views: int = strawberry.field(description="PageViewed events.")
    unique_pages: int = strawberry.field(description="Distinct paths viewed.")
    bounced: bool = strawberry.field(description="At most one page view and nothing but page views and "
                                                 "engagement reports (see bounceRate).")
    landing_page: str | None = strawberry.field(description="Path of the first page view.")
    entry_url: str | None = strawberry.field(description="Full URL of the first page view, with its query.")
    exit_page: str | None = strawberry.field(description="Path of the last page view.")
    referrer_url: str | None = strawberry.field(description="The referrer of the session's first page view.")
    referrer_source: str = strawberry.field(
        description="direct, organic_search, social, referral, email or paid.")
    utm_source: str | None = strawberry.field(description="UTM tags of the entry URL (or the SDK's context).")
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 code.")
    region: str | None = strawberry.field(description="Subdivision code or name, as sent or from the proxy.")
    city: str | None
    device_type: str = strawberry.field(description="desktop, mobile, tablet, bot or other.")
    browser: str | None = strawberry.field(description="Browser family parsed from the user agent.")
    os: str | None = strawberry.field(description="Operating system family parsed from the user agent.")
    user_agent: str | None = strawberry.field(description="The first user agent the session's events carry.")
    ip_address: str | None = strawberry.field(
        description="The raw IP address: null unless the tenant opted in to storing it.")
    engagement_events: int = strawberry.field(description="PageEngagement events.")
    engaged_ms: int = strawberry.field(
        description="Time on page summed over page views (each page view's longest reported timeOnPageMs).")
    zero_dwell_page_views: int = strawberry.field(
        description="Page views whose engagement reports say 0 ms on page and no scroll.")
    is_bot: bool = strawberry.field(description="Tier 1: a bot by user agent (library or tenant rule).")
    is_scanner: bool = strawberry.field(description="Tier 2: probed scanner paths or sent a scanner's agent.")
    behavioural_bot_score: int | None = strawberry.field(
        description="Tier 3 score, 0-100; null until the session is scored.")
    is_behavioural_bot: bool = strawberry.field(description="Tier 3: behaviouralBotScore >= 50.")
    excluded: bool = strawberry.field(description="isBot or isScanner or isBehaviouralBot: left out of "
                                                  "analytics unless includeBots is true.")
    bot_reasons: list[SessionBotReason] = strawberry.field(description="Tier 1 and 2 reasons, as found.")
    behaviour_signals: list[BehaviourSignalPoints] = strawberry.field(
        description="Behavioural signals that fired, most points first.")

    @classmethod
    def of(cls, row: stats.SessionRow, tz: ZoneInfo) -> Session:
        return cls(
            id=strawberry.ID(str(row.id)), visitor_id=row.visitor_id, user_id=row.user_id,
            anonymous_id=row.anonymous_id, started_at=row.started_at.astimezone(tz),
            last_seen_at=row.last_seen_at.astimezone(tz),
            duration_seconds=row.duration_seconds, request_count=row.request_count,
            page_views=row.page_views, unique_pages=row.unique_pages, bounced=row.bounced,
            landing_page=row.landing_page, entry_url=row.entry_url, exit_page=row.exit_page,
            referrer_url=row.referrer_url, referrer_source=row.referrer_source,
            utm_source=row.utm_source, utm_medium=row.utm_medium, utm_campaign=row.utm_campaign,
            utm_term=row.utm_term, utm_content=row.utm_content, country=row.country,
            region=row.region, city=row.city, device_type=row.device_type, browser=row.browser,
            os=row.os, user_agent=row.user_agent, ip_address=row.ip_address,
            engagement_events=row.engagement_events, engaged_ms=row.engaged_ms,
            zero_dwell_page_views=row.zero_dwell_page_views, is_bot=row.is_bot,
            is_scanner=row.is_scanner, behavioural_bot_score=row.behavioural_bot_score,
            is_behavioural_bot=row.is_behavioural_bot, excluded=row.excluded,
            bot_reasons=[SessionBotReason(tier=int(r.get("tier", 0)), code=str(r.get("code", "")),
                                          detail=r.get("detail")) for r in row.agent_reasons],
            behaviour_signals=[BehaviourSignalPoints(signal=name, points=int(points)) for name, points
                               in sorted(row.behaviour_signals.items(), key=lambda s: (-int(s[1]), s[0]))],
        )


@strawberry.type
class SessionEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this session.")
    node: Session


@strawberry.type(description="A page of sessions, newest first (by start, then id).")
class SessionConnection:
    edges: list[SessionEdge]
    nodes: list[Session] = strawberry.field(description="The edges' sessions, for clients without cursors.")
    page_info: PageInfo
    total_count: int = strawberry.field(description="Sessions matching the range and filter, in all.")


@strawberry.input(description="Equality filters on sessions; every given field must match.")
class SessionFilter:
    source: str | None = strawberry.field(
        default=None, description="referrerSource: direct, organic_search, social, referral, email, paid.")
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2 code.")
    device_type: str | None = strawberry.field(
        default=None, description="desktop, mobile, tablet, bot or other.")
    browser: str | None = None
    is_bot: bool | None = None
    is_scanner: bool | None = None
    is_behavioural_bot: bool | None = None
    excluded: bool | None = None

    def domain(self) -> stats.SessionFilter:
        return stats.SessionFilter(
            source=self.source, country=self.country, device_type=self.device_type, browser=self.browser,
            is_bot=self.is_bot, is_scanner=self.is_scanner, is_behavioural_bot=self.is_behavioural_bot,
            excluded=self.excluded)


@strawberry.type(description="Page views of one reading pattern.")
class ReadingPatternFigures:
    page_views: int = strawberry.field(description="Page views with an engagement report of this pattern.")
    share: float | None = strawberry.field(description="pageViews / all classified page views * 100.")


@strawberry.type(description="Relative change in percent against the comparison period (null when the "
                             "previous value is 0 or missing).")
class ReadingPatternChange:
    page_views: float | None
    share: float | None


@strawberry.type(description="Page views of one reading pattern, optionally compared.")
class ReadingPatternCount(ReadingPatternFigures):
    pattern: str = strawberry.field(description="bounce, scanner, reader, engaged or skimmer.")
    previous: ReadingPatternFigures | None = strawberry.field(
        description="The same pattern in the comparison period, when compare is given.")
    change: ReadingPatternChange | None

    @classmethod
    def of(cls, count: stats.PatternCount, before: stats.PatternCount | None) -> ReadingPatternCount:
        now = {"page_views": count.page_views, "share": count.share}
        then = {"page_views": before.page_views, "share": before.share} if before else None
        return cls(pattern=count.pattern, **now, **compared(  # type: ignore[arg-type]
            ReadingPatternFigures, ReadingPatternChange, now, then))


@strawberry.type(description="Page views by reading pattern (per page view, from its engagement reports): "
                             "engaged (scroll > 75% and > 30 s) wins over reader (> 50% and > 15 s), which "
                             "wins over scanner (> 30% and < 20 s); then bounce (< 25% and < 10 s); "
                             "skimmer is everything else. A value exactly on a threshold does not meet it. "
                             + BOTS_NOTE)
class ReadingPatterns:
    period: Period
    comparison_period: Period | None = strawberry.field(
        description="The period of the patterns' previous figures, when compare is given.")
    include_bots: bool = strawberry.field(description="Whether bot sessions are counted (the argument).")
    patterns: list[ReadingPatternCount] = strawberry.field(
        description="Every pattern in the reference table's order, zero when none.")
