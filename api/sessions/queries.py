"""Tenant-level session fields: the session list, totals, series and live sessions."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from uuid import UUID

from analytics.periods import Compare as DomainCompare
from analytics.periods import Period as DomainPeriod
from analytics.periods import comparison
from analytics.sessions import stats
from analytics.traffic.agents import DeviceType
from analytics.traffic.referrers import TrafficSource
from api.common import (
    Compare,
    Granularity,
    Period,
    RangeInput,
    check_granularity,
    check_limit,
    selected_names,
)
from api.context import AppInfo
from api.errors import BadInput
from api.sessions.types import (
    ReadingPatternCount,
    ReadingPatterns,
    Session,
    SessionConnection,
    SessionEdge,
    SessionFilter,
    SessionSeries,
    SessionSeriesPoint,
    SessionStats,
)
from api.tours.queries import PageInfo

MAX_PAGE = 500
MAX_LIVE = 500
_BOT_FLAGS = ("is_bot", "is_scanner", "is_behavioural_bot", "excluded")


def _cursor(row: stats.SessionRow) -> str:
    return base64.urlsafe_b64encode(f"{row.started_at.isoformat()}|{row.id}".encode()).decode()


def _after(cursor: str | None) -> tuple[datetime, UUID] | None:
    if cursor is None:
        return None
    try:
        at, _, session_id = base64.b64decode(cursor.encode(), altchars=b"-_", validate=True
                                             ).decode().partition("|")
        return datetime.fromisoformat(at), UUID(session_id)
    except (ValueError, binascii.Error):
        raise BadInput("after", "is not a cursor returned by this field") from None


def check_filter(given: SessionFilter | None, include_bots: bool) -> stats.SessionFilter:
    """The domain filter; names the field that cannot match anything."""
    if given is None:
        return stats.SessionFilter()
    domain = given.domain()
    for field, value, allowed in (("filter.source", domain.source, TrafficSource),
                                  ("filter.deviceType", domain.device_type, DeviceType)):
        if value is not None and value not in {m.value for m in allowed}:
            raise BadInput(field, "must be one of " + ", ".join(m.value for m in allowed))
    if not include_bots and any(getattr(domain, flag) for flag in _BOT_FLAGS):
        raise BadInput("includeBots", "must be true to list sessions flagged as bots (the filter "
                                      "asks for them, and bots are left out by default)")
    return domain


async def sessions_page(info: AppInfo, range: RangeInput, first: int, after: str | None,
                        filter: SessionFilter | None, include_bots: bool,
                        segment: str | None = None) -> SessionConnection:
    tz = info.context.require_secret().timezone
    period = range.resolve(tz)
    check_limit("first", first, MAX_PAGE)
    domain = check_filter(filter, include_bots)
    async with info.context.read() as conn:
        rows, total = await stats.list_sessions(conn, period=period, filter=domain,
                                                include_bots=include_bots, after=_after(after),
                                                limit=first + 1, segment=segment)
    page = rows[:first]
    nodes = [Session.of(row, tz) for row in page]
    return SessionConnection(
        edges=[SessionEdge(cursor=_cursor(row), node=node) for row, node in zip(page, nodes, strict=True)],
        nodes=nodes, total_count=total,
        page_info=PageInfo(has_next_page=len(rows) > first,
                           end_cursor=_cursor(page[-1]) if page else None),
    )


async def stats_with_comparison(info: AppInfo, period: DomainPeriod, compare: DomainCompare | None,
                                include_bots: bool, content_id: str | None = None,
                                segment: str | None = None) -> SessionStats:
    """Session totals of the period and, with ``compare``, of the comparison period (of the sessions
    that used ``content_id`` when given). Returning visitors, which read every earlier session of the
    tenant, and the median, which reads the period's session rows, are computed only when the
    selection asks for them (at any depth)."""
    selected = selected_names(info)
    returning = bool({"returningVisitors", "returnVisitRate"} & selected)
    median = "medianSessionDurationSeconds" in selected
    async with info.context.read() as conn:
        totals = await stats.session_totals(conn, period=period, include_bots=include_bots,
                                            content_id=content_id, segment=segment, returning=returning,
                                            median=median)
        previous = None
        if compare is not None:
            before = comparison(period, compare)
            previous = (before, await stats.session_totals(conn, period=before, include_bots=include_bots,
                                                           content_id=content_id, segment=segment,
                                                           returning=returning, median=median))
    return SessionStats.build(period, totals, previous)


async def session_stats(info: AppInfo, range: RangeInput, compare: Compare | None,
                        include_bots: bool, segment: str | None = None) -> SessionStats:
    period = range.resolve(info.context.require_secret().timezone)
    return await stats_with_comparison(info, period, compare, include_bots, segment=segment)


async def session_series(info: AppInfo, range: RangeInput, granularity: Granularity | None,
                         include_bots: bool) -> SessionSeries:
    period = range.resolve(info.context.require_secret().timezone)
    chosen, starts = check_granularity(period, granularity)
    async with info.context.read() as conn:
        points = await stats.session_series(conn, period=period, granularity=chosen, bucket_starts=starts,
                                            include_bots=include_bots)
    return SessionSeries(period=Period.of(period), granularity=chosen,
                         points=[SessionSeriesPoint.of(p, period) for p in points])


async def live_sessions(info: AppInfo, limit: int, include_bots: bool) -> list[Session]:
    tz = info.context.require_secret().timezone
    check_limit("limit", limit, MAX_LIVE)
    async with info.context.read() as conn:
        rows = await stats.live_sessions(conn, include_bots=include_bots, limit=limit)
    return [Session.of(row, tz) for row in rows]


async def reading_patterns(info: AppInfo, range: RangeInput, compare: Compare | None,
                           include_bots: bool) -> ReadingPatterns:
    period = range.resolve(info.context.require_secret().timezone)
    compared = comparison(period, compare)
    async with info.context.read() as conn:
        rows = await stats.reading_patterns(conn, period=period, include_bots=include_bots)
        before = (await stats.reading_patterns(conn, period=compared, include_bots=include_bots)
                  if compared is not None else [None] * len(rows))
    return ReadingPatterns(period=Period.of(period), include_bots=include_bots,
                           comparison_period=Period.of(compared) if compared else None,
                           patterns=[ReadingPatternCount.of(r, b) for r, b in zip(rows, before, strict=True)])
