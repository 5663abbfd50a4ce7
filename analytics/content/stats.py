"""Content (capsule) analytics from the counters: counts, unique views, rankings and series (events
counted by the time they happened); and the figures of a period, which add the session facts'
(analytics.content.facts) time on capsule, conversations, time to conversion and assets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.content.facts import ASSETS, CONVERSATIONS, EVERY_PART, MEDIANS, TIME, session_figures
from analytics.db import CURRENT_TENANT
from analytics.db import HUMANS_UNLESS_INCLUDE_BOTS as HUMANS
from analytics.ingest.catalogue import CONTENT
from analytics.periods import Granularity, Period, bucket_day, bucket_starts, local_midnight
from analytics.rollups import sketches
from analytics.rollups.reads import counter_rows, counter_window, ids_filter

CONTENT_METRICS = ("views", "dismissals", "cta_clicks", "conversions", "messages", "asset_views",
                   "video_completions", "engagements")


@dataclass(frozen=True)
class ContentCounts:
    """The content counters of one period (or bucket) and the rates derived from them."""

    views: int = 0
    dismissals: int = 0
    cta_clicks: int = 0
    conversions: int = 0
    messages: int = 0
    asset_views: int = 0
    video_completions: int = 0
    engagements: int = 0

    @classmethod
    def from_mapping(cls, values: dict[str, int]) -> ContentCounts:
        return cls(**{m: int(values.get(m, 0)) for m in CONTENT_METRICS})

    @property
    def cta_click_through_rate(self) -> float | None:
        return metrics.cta_click_through_rate(self.cta_clicks, self.views)

    @property
    def conversion_rate(self) -> float | None:
        return metrics.conversion_rate(self.conversions, self.views)


def combined(counts: Sequence[ContentCounts]) -> ContentCounts:
    return ContentCounts(**{m: sum(getattr(c, m) for c in counts) for m in CONTENT_METRICS})


async def content_counts(conn: AsyncConnection, *, content_ids: Sequence[str] | None, period: Period,
                         include_bots: bool = False) -> dict[str, ContentCounts]:
    """Counter totals per content item (every item with data when ``content_ids`` is None)."""
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    rows = await counter_rows(conn, entity_type=CONTENT, entity_ids=content_ids, period=period, by="total",
                              include_bots=include_bots)
    for content_id, _, metric, value in rows:
        totals[content_id][metric] = value
    result = {content_id: ContentCounts.from_mapping(values) for content_id, values in totals.items()}
    for content_id in content_ids or ():
        result.setdefault(content_id, ContentCounts())
    return result


# Distinct viewers over whole days (``:whole_first`` .. ``:whole_last``): the per-day sketches of the
# days that have them, the daily_users rows of the rest (analytics.rollups.sketches); per item, and of
# all items together.
_VIEWED = sketches.content_views("g.")
_ITEM_VIEWERS = text(sketches.count_sql(
    sketches.CONTENT_VIEWS,
    sketches.daily_users_people("ARRAY[g.entity_id]", f"{_VIEWED} AND {ids_filter('g.entity_id')}"),
    sketch_filter=f" AND {ids_filter('s.key[1]')}"))
_ALL_VIEWERS = text(sketches.count_sql(
    sketches.CONTENT_VIEWERS, sketches.daily_users_people("CAST('{}' AS text[])", _VIEWED)))


async def unique_views(conn: AsyncConnection, *, content_ids: Sequence[str] | None, period: Period,
                       include_bots: bool = False) -> dict[str | None, int] | None:
    """Distinct users (userId, else anonymousId) who viewed each item asked for over the local days of
    the period; the ``None`` key holds those of all items (``content_ids`` None: then only that key) or
    of the one item asked for. Estimates where a day's viewers were sketched (analytics.rollups.
    sketches). None when the period is not whole local days: distinct users are kept per day, and a
    whole day's count beside the views of part of it could exceed them."""
    if period.days is None:
        return None
    window = {"whole_first": period.days[0], "whole_last": period.days[1], "include_bots": include_bots}
    if content_ids is None:
        return {None: sketches.counts_from(await conn.execute(_ALL_VIEWERS, window)).get((), 0)}
    counted = sketches.counts_from(await conn.execute(_ITEM_VIEWERS, {**window, "ids": list(content_ids)}))
    found: dict[str | None, int] = {key[0]: n for key, n in counted.items()}
    if len(content_ids) == 1:
        found[None] = found.get(content_ids[0], 0)
    return found


_EXISTS = text(f"SELECT EXISTS (SELECT 1 FROM counters_daily WHERE {CURRENT_TENANT} "
               "AND entity_type = 'content' AND entity_id = :id)")


async def content_exists(conn: AsyncConnection, content_id: str) -> bool:
    """Whether any event (bots included, any time) was counted for this content id."""
    return bool((await conn.execute(_EXISTS, {"id": content_id})).scalar_one())


@dataclass(frozen=True)
class RankedContent:
    content_id: str
    counts: ContentCounts
    unique_views: int | None  # None unless the period is whole local days (see unique_views)


async def top_content(conn: AsyncConnection, *, period: Period, limit: int,
                      include_bots: bool = False) -> list[RankedContent]:
    """Content items with views in the period, most views first (ties: content id)."""
    table, time_filter, params = counter_window(period)
    sql = (f"SELECT entity_id FROM {table} WHERE {CURRENT_TENANT} AND entity_type = 'content' "
           f"AND step_index = -1 AND metric = 'views' AND {time_filter} AND {HUMANS} "
           "GROUP BY entity_id ORDER BY sum(value) DESC, entity_id LIMIT :limit")
    ids = [r[0] for r in await conn.execute(text(sql), {**params, "limit": limit,
                                                          "include_bots": include_bots})]
    ranked = await ranked_content(conn, content_ids=ids, period=period, include_bots=include_bots)
    return [ranked[i] for i in ids]


async def ranked_content(conn: AsyncConnection, *, content_ids: Sequence[str], period: Period,
                         include_bots: bool = False) -> dict[str, RankedContent]:
    """The figures of these items in the period (zeros for an item without any)."""
    counts = await content_counts(conn, content_ids=content_ids, period=period, include_bots=include_bots)
    uniques = await unique_views(conn, content_ids=content_ids, period=period, include_bots=include_bots)
    return {i: RankedContent(i, counts.get(i, ContentCounts()),
                             None if uniques is None else uniques.get(i, 0)) for i in content_ids}


@dataclass(frozen=True)
class UnusedContent:
    content_id: str
    last_viewed: date  # the last local day with a view, before the period


async def unused_content(conn: AsyncConnection, *, period: Period, limit: int,
                         include_bots: bool = False) -> list[UnusedContent]:
    """Content items viewed before the period and not once in it (whole local days), the longest
    unused first (ties: content id)."""
    whole = period.whole_days()
    assert whole.days is not None
    sql = (f"SELECT entity_id, max(day) AS last FROM counters_daily WHERE {CURRENT_TENANT} "
           f"AND entity_type = 'content' AND step_index = -1 AND metric = 'views' AND value > 0 "
           f"AND day <= :last AND {HUMANS} GROUP BY entity_id HAVING max(day) < :first "
           "ORDER BY last, entity_id LIMIT :limit")
    rows = await conn.execute(text(sql), {"first": whole.days[0], "last": whole.days[1], "limit": limit,
                                          "include_bots": include_bots})
    return [UnusedContent(r.entity_id, r.last) for r in rows]


@dataclass(frozen=True)
class SeriesPoint:
    start: datetime
    counts: ContentCounts


async def content_series(conn: AsyncConnection, *, content_id: str | None, period: Period,
                         granularity: Granularity, include_bots: bool = False) -> list[SeriesPoint]:
    """One point per bucket in the tenant's time zone, empty buckets as zeros; ``content_id=None``
    sums every item. Hours read the hourly counters, longer buckets the daily ones."""
    starts = bucket_starts(period, granularity)
    buckets: dict[datetime, dict[str, int]] = {start: defaultdict(int) for start in starts}
    ids = None if content_id is None else [content_id]
    if granularity is Granularity.HOUR:
        hourly = Period(period.start, period.end, period.tz, None)
        for _, at, metric, value in await counter_rows(conn, entity_type=CONTENT, entity_ids=ids,
                                                       period=hourly, by="bucket", include_bots=include_bots):
            assert isinstance(at, datetime)
            key = max(at, starts[0])
            if key in buckets:
                buckets[key][metric] += value
    else:
        whole = period.whole_days()
        assert whole.days is not None
        for _, at, metric, value in await counter_rows(conn, entity_type=CONTENT, entity_ids=ids,
                                                       period=whole, by="day", include_bots=include_bots):
            assert isinstance(at, date)
            key = local_midnight(max(bucket_day(at, granularity), whole.days[0]), period.tz)
            if key in buckets:
                buckets[key][metric] += value
    return [SeriesPoint(start, ContentCounts.from_mapping(values)) for start, values in buckets.items()]


# The figures content_figures takes from the session facts, by the part of them each needs (each part
# a pass over the period's content sessions or their rows); ``unique_views`` reads the viewers, the
# others the counters.
FIGURE_PARTS = {
    **dict.fromkeys(("viewing_sessions", "total_time_on_content_seconds", "avg_time_on_content_seconds",
                     "converting_sessions", "avg_time_to_conversion_seconds"), TIME),
    **dict.fromkeys(("median_time_on_content_seconds", "median_time_to_conversion_seconds"), MEDIANS),
    **dict.fromkeys(("conversations", "messages", "messages_per_conversation", "sessions_with_conversation",
                     "conversation_turns", "turns_per_session", "avg_conversation_duration_seconds",
                     "median_conversation_duration_seconds"), CONVERSATIONS),
    **dict.fromkeys(("document_views", "video_views", "video_completions", "video_completion_rate"), ASSETS),
}


async def content_figures(conn: AsyncConnection, *, content_id: str | None, period: Period,
                          include_bots: bool = False, wanted: Collection[str] | None = None
                          ) -> dict[str, Any]:
    """Every figure of one item (all items when ``content_id`` is None) over the period, by name, in
    the order reports show them; the graph and the CLI both read this. With ``wanted`` (figure names),
    only the parts those figures need are read: the others are zeros (unique views None)."""
    ids = None if content_id is None else [content_id]
    counts = combined(list((await content_counts(conn, content_ids=ids, period=period,
                                                 include_bots=include_bots)).values()))
    uniques: dict[str | None, int] | None = None
    if wanted is None or "unique_views" in wanted:
        uniques = await unique_views(conn, content_ids=ids, period=period, include_bots=include_bots)
    parts = EVERY_PART if wanted is None else {FIGURE_PARTS[f] for f in wanted if f in FIGURE_PARTS}
    facts = await session_figures(conn, content_id=content_id, period=period, include_bots=include_bots,
                                  parts=parts)
    return {
        "views": counts.views, "unique_views": None if uniques is None else uniques[None],
        "dismissals": counts.dismissals,
        "cta_clicks": counts.cta_clicks, "cta_click_through_rate": counts.cta_click_through_rate,
        "conversions": counts.conversions, "conversion_rate": counts.conversion_rate,
        "viewing_sessions": facts.viewing_sessions,
        "total_time_on_content_seconds": metrics.seconds(facts.engaged_ms / 1000),
        "avg_time_on_content_seconds": facts.avg_time_on_capsule_seconds,
        "median_time_on_content_seconds": facts.median_time_on_capsule_seconds,
        "conversations": facts.conversations, "messages": facts.messages,
        "messages_per_conversation": facts.messages_per_conversation,
        "sessions_with_conversation": facts.sessions_with_conversation,
        "conversation_turns": facts.user_messages, "turns_per_session": facts.turns_per_session,
        "avg_conversation_duration_seconds": facts.avg_conversation_seconds,
        "median_conversation_duration_seconds": facts.median_conversation_seconds,
        "converting_sessions": facts.converting_sessions,
        "avg_time_to_conversion_seconds": facts.avg_time_to_conversion_seconds,
        "median_time_to_conversion_seconds": facts.median_time_to_conversion_seconds,
        "document_views": facts.document_views, "video_views": facts.video_views,
        "video_completions": facts.video_completions, "video_completion_rate": facts.video_completion_rate,
    }
