"""Content analytics from the per-session content facts (analytics.content.derive): time on capsule,
conversations, time to conversion, calls-to-action, documents and videos, popular items.

They count the content sessions (one content item within one session) whose first event of that
item falls in the period, and keep sessions that are not excluded as bots unless ``include_bots``
(the side stored on each content session, ``content_sessions.bot``: its session's when written, set
again by the day correction after a later flag, as the counters are; analytics.content.upkeep).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.content.derive import DOCUMENT_VIEW, VIDEO_COMPLETION, VIDEO_VIEW
from analytics.db import CURRENT_TENANT
from analytics.periods import Period
from analytics.sessions.days import EDGES, Window

# The content sessions of the period (session facts), with the bot filter on their stored side.
_FACT_SESSIONS = f"""
cs AS (
    SELECT cs.session_id, cs.content_id, cs.first_view_at, cs.engaged_ms, cs.first_conversion_at
    FROM content_sessions cs
    WHERE cs.{CURRENT_TENANT} AND cs.started_at >= :start AND cs.started_at < :end
      AND (CAST(:content AS text) IS NULL OR cs.content_id = :content)
      AND (CAST(:include_bots AS boolean) OR NOT cs.bot)
)"""


def _joined(table: str, alias: str) -> str:
    """Rows of a session-fact table that belong to the period's content sessions."""
    return (f"{table} {alias} JOIN cs ON cs.session_id = {alias}.session_id "
            f"AND cs.content_id = {alias}.content_id WHERE {alias}.{CURRENT_TENANT}")


def _fact_params(content_id: str | None, period: Period, include_bots: bool) -> dict[str, Any]:
    return {"start": period.start, "end": period.end, "content": content_id, "include_bots": include_bots}


@dataclass(frozen=True)
class SessionFigures:
    """What the session facts say about a period (one content item, or all of them)."""

    viewing_sessions: int = 0  # content sessions with a ContentViewed
    viewing_engaged_ms: int = 0  # time on capsule of those sessions
    median_time_on_capsule_seconds: float | None = None
    engaged_ms: int = 0  # time on capsule of every content session
    converting_sessions: int = 0  # first conversion at or after the first view
    time_to_conversion_seconds: float = 0.0  # summed over converting sessions
    median_time_to_conversion_seconds: float | None = None
    conversations: int = 0
    messages: int = 0
    user_messages: int = 0
    sessions_with_conversation: int = 0
    conversation_seconds: float = 0.0  # summed over conversations: last message - first
    median_conversation_seconds: float | None = None
    document_views: int = 0
    video_views: int = 0
    video_completions: int = 0

    @property
    def avg_time_on_capsule_seconds(self) -> float | None:
        return metrics.average_time_on_capsule(self.viewing_engaged_ms, self.viewing_sessions)

    @property
    def avg_time_to_conversion_seconds(self) -> float | None:
        return metrics.average_time_to_conversion(self.time_to_conversion_seconds, self.converting_sessions)

    @property
    def messages_per_conversation(self) -> float | None:
        return metrics.messages_per_conversation(self.messages, self.conversations)

    @property
    def avg_conversation_seconds(self) -> float | None:
        return metrics.average_conversation_duration(self.conversation_seconds, self.conversations)

    @property
    def turns_per_session(self) -> float | None:
        return metrics.turns_per_session(self.user_messages, self.sessions_with_conversation)

    @property
    def video_completion_rate(self) -> float | None:
        return metrics.video_completion_rate(self.video_completions, self.video_views)


# The three independent parts of SessionFigures (each its own pass over a table), in field order:
# time on capsule and to conversion, conversations, documents and videos. The time part's sums come
# from the per-day rows (content_days) unless its medians (MEDIANS) are asked for too, which only the
# content sessions themselves give.
TIME, CONVERSATIONS, ASSETS, MEDIANS = "time", "conversations", "assets", "medians"
PARTS = (TIME, CONVERSATIONS, ASSETS)
EVERY_PART = (*PARTS, MEDIANS)
_PART_SQL = {
    TIME: """SELECT count(*) FILTER (WHERE viewed), coalesce(sum(engaged_ms) FILTER (WHERE viewed), 0),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY engaged_ms) FILTER (WHERE viewed) / 1000,
               coalesce(sum(engaged_ms), 0), count(*) FILTER (WHERE to_conversion >= 0),
               coalesce(sum(to_conversion) FILTER (WHERE to_conversion >= 0), 0),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY to_conversion) FILTER (WHERE to_conversion >= 0)
        FROM (SELECT engaged_ms, first_view_at IS NOT NULL AS viewed,
                     extract(epoch FROM first_conversion_at - first_view_at) AS to_conversion FROM cs) t""",
    CONVERSATIONS: f"""SELECT count(*), coalesce(sum(messages), 0), coalesce(sum(turns), 0),
            count(DISTINCT session_id), coalesce(sum(lasted), 0),
            percentile_cont(0.5) WITHIN GROUP (ORDER BY lasted)
        FROM (SELECT c.session_id, c.messages, c.turns, extract(epoch FROM c.last_at - c.started_at) AS lasted
              FROM {_joined("content_conversations", "c")}) c""",
    ASSETS: f"""SELECT coalesce(sum(count) FILTER (WHERE kind = '{DOCUMENT_VIEW}'), 0),
            coalesce(sum(count) FILTER (WHERE kind = '{VIDEO_VIEW}'), 0),
            coalesce(sum(count) FILTER (WHERE kind = '{VIDEO_COMPLETION}'), 0)
        FROM {_joined("content_session_items", "i")}""",
}
_PART_WIDTH = {TIME: 7, CONVERSATIONS: 6, ASSETS: 3}


@functools.cache
def _session_figures_sql(parts: frozenset[str]) -> TextClause:
    selected = ", ".join(f"({_PART_SQL[part]}) AS part_{part}" for part in PARTS if part in parts)
    return text(f"WITH {_FACT_SESSIONS} SELECT * FROM {selected}")


# What content_days holds per (day, item, bot side), summed over content_sessions rows: the rows of
# content sessions, the viewing ones and their time on capsule, all time on capsule, the converting
# ones and their time to conversion (migration 0043's triggers keep the same sums; rollups verify
# recomputes them with this list).
DAY_SUMS = ("count(*), count(*) FILTER (WHERE first_view_at IS NOT NULL), "
            "coalesce(sum(engaged_ms) FILTER (WHERE first_view_at IS NOT NULL), 0), "
            "coalesce(sum(engaged_ms), 0), "
            "count(*) FILTER (WHERE first_conversion_at >= first_view_at), "
            "coalesce(sum(extract(epoch FROM first_conversion_at - first_view_at)) "
            "FILTER (WHERE first_conversion_at >= first_view_at), 0)")

# The time part's sums over the period: its whole local days from content_days, its edge hours from
# the content sessions (Window's parameters).
_TIME_DAYS = text(
    f"""
    SELECT coalesce(sum(viewing), 0), coalesce(sum(viewing_ms), 0), coalesce(sum(all_ms), 0),
           coalesce(sum(converting), 0), coalesce(sum(to_conversion), 0)
    FROM (
        SELECT sessions, viewing_sessions, viewing_engaged_ms, engaged_ms, converting_sessions,
               time_to_conversion_seconds
        FROM content_days WHERE {CURRENT_TENANT} AND day BETWEEN :whole_first AND :whole_last
          AND (CAST(:content AS text) IS NULL OR content_id = :content)
          AND (CAST(:include_bots AS boolean) OR NOT bot)
        UNION ALL
        SELECT {DAY_SUMS} FROM content_sessions WHERE {EDGES}
          AND (CAST(:content AS text) IS NULL OR content_id = :content)
          AND (CAST(:include_bots AS boolean) OR NOT bot)
    ) AS d(sessions, viewing, viewing_ms, all_ms, converting, to_conversion)
    """
)
_TIME_SUMS = ("viewing_sessions", "viewing_engaged_ms", "engaged_ms", "converting_sessions",
              "time_to_conversion_seconds")


async def session_figures(conn: AsyncConnection, *, content_id: str | None, period: Period,
                          include_bots: bool = False, parts: Collection[str] = EVERY_PART) -> SessionFigures:
    """The figures of the content sessions of the period; only those of ``parts`` are read (the others
    keep their defaults: zeros and None). The time part without ``MEDIANS`` reads the per-day sums."""
    chosen = (frozenset(parts) | ({TIME} if MEDIANS in parts else set())) & frozenset(PARTS)
    from_days = TIME in chosen and MEDIANS not in parts
    from_rows = chosen - {TIME} if from_days else chosen
    values: dict[str, Any] = {}
    if from_days:
        window = Window.of(period).params()
        sums = (await conn.execute(_TIME_DAYS, {**window, "content": content_id,
                                                "include_bots": include_bots})).one()
        values.update((name, float(v) if name.endswith("seconds") else int(v)) for name, v in zip(
            _TIME_SUMS, sums, strict=True))
    if not from_rows:
        return SessionFigures(**values)
    params = _fact_params(content_id, period, include_bots)
    row = iter((await conn.execute(_session_figures_sql(frozenset(from_rows)), params)).one())
    names = iter(f.name for f in fields(SessionFigures))
    for part in PARTS:
        for name in itertools.islice(names, _PART_WIDTH[part]):
            if part not in from_rows:
                continue
            value = next(row)
            if value is None or not name.endswith("seconds"):
                values[name] = None if value is None else int(value)
            else:
                values[name] = metrics.seconds(float(value)) if "median" in name else float(value)
    return SessionFigures(**values)


@dataclass(frozen=True)
class CtaRow:
    """Clicks and conversions of one call-to-action (or CTA type), against the content's views."""

    cta_id: str | None
    cta_type: str | None
    clicks: int
    conversions: int
    views: int

    @property
    def click_through_rate(self) -> float | None:
        return metrics.cta_click_through_rate(self.clicks, self.views)

    @property
    def conversion_rate(self) -> float | None:
        return metrics.conversion_rate(self.conversions, self.views)


async def by_cta(conn: AsyncConnection, *, content_id: str | None, period: Period, views: int, limit: int,
                 by_type: bool = False, include_bots: bool = False) -> list[CtaRow]:
    """Clicks and conversions by ctaId and ctaType (by ctaType alone with ``by_type``), most
    conversions first; events that named no CTA form the row whose id (and type) is null."""
    keys = "'' AS key, i.detail" if by_type else "i.key, i.detail"
    sql = text(f"""
        WITH {_FACT_SESSIONS}
        SELECT {keys}, coalesce(sum(i.count) FILTER (WHERE i.kind = 'cta_click'), 0) AS clicks,
               coalesce(sum(i.count) FILTER (WHERE i.kind = 'conversion'), 0) AS conversions
        FROM {_joined("content_session_items", "i")} AND i.kind IN ('cta_click', 'conversion')
        GROUP BY 1, 2 ORDER BY conversions DESC, clicks DESC, 1, 2 LIMIT :limit""")
    rows = await conn.execute(sql, {**_fact_params(content_id, period, include_bots), "limit": limit})
    return [CtaRow(r[0] or None, r[1] or None, int(r[2]), int(r[3]), views) for r in rows]


@dataclass(frozen=True)
class AssetRow:
    """Opens of one document or video; completions and their rate for videos."""

    asset_id: str
    views: int  # ContentAssetViewed events
    sessions: int  # content sessions that opened it
    completions: int  # VideoCompleted events (0 for documents)

    @property
    def completion_rate(self) -> float | None:
        return metrics.video_completion_rate(self.completions, self.views)


async def assets(conn: AsyncConnection, *, content_id: str | None, period: Period, videos: bool,
                 limit: int, include_bots: bool = False) -> list[AssetRow]:
    """The most opened documents (or videos), most views first (ties: more sessions, asset id)."""
    opened = VIDEO_VIEW if videos else DOCUMENT_VIEW
    sql = text(f"""
        WITH {_FACT_SESSIONS}
        SELECT i.key, coalesce(sum(i.count) FILTER (WHERE i.kind = :opened), 0) AS views,
               count(DISTINCT i.session_id) FILTER (WHERE i.kind = :opened) AS sessions,
               coalesce(sum(i.count) FILTER (WHERE i.kind = '{VIDEO_COMPLETION}'), 0)
        FROM {_joined("content_session_items", "i")} AND i.kind IN (:opened, :completed)
        GROUP BY 1 ORDER BY views DESC, sessions DESC, 1 LIMIT :limit""")
    params = {**_fact_params(content_id, period, include_bots), "opened": opened, "limit": limit,
              "completed": VIDEO_COMPLETION if videos else opened}
    return [AssetRow(r[0], int(r[1]), int(r[2]), int(r[3])) for r in await conn.execute(sql, params)]


@dataclass(frozen=True)
class DropOffPoint:
    """Conversations that ended after ``turn`` user messages without converting."""

    turn: int
    conversations: int
    share: float | None  # of all unconverted conversations, in percent


async def drop_off_points(conn: AsyncConnection, *, content_id: str | None, period: Period, limit: int,
                          include_bots: bool = False) -> list[DropOffPoint]:
    """The ``limit`` lowest turns at which unconverted conversations ended; shares are of all of
    them, so the points of a long tail left out still count in each share's denominator."""
    sql = text(f"""
        WITH {_FACT_SESSIONS}
        SELECT c.turns, count(*), sum(count(*)) OVER ()
        FROM {_joined("content_conversations", "c")} AND NOT c.converted
        GROUP BY 1 ORDER BY 1 LIMIT :limit""")
    rows = [(int(r[0]), int(r[1]), int(r[2])) for r in await conn.execute(
        sql, {**_fact_params(content_id, period, include_bots), "limit": limit})]
    return [DropOffPoint(turn, n, metrics.drop_off_share(n, unconverted)) for turn, n, unconverted in rows]


@dataclass(frozen=True)
class PopularContent:
    content_id: str
    engaged_ms: int  # time on capsule of all its content sessions
    viewing_sessions: int
    viewing_engaged_ms: int

    @property
    def avg_time_on_capsule_seconds(self) -> float | None:
        return metrics.average_time_on_capsule(self.viewing_engaged_ms, self.viewing_sessions)


_POPULAR = f"""
    WITH {_FACT_SESSIONS}
    SELECT content_id, sum(engaged_ms) AS engaged, count(*) FILTER (WHERE first_view_at IS NOT NULL),
           coalesce(sum(engaged_ms) FILTER (WHERE first_view_at IS NOT NULL), 0)
    FROM cs {{where}} GROUP BY 1 {{tail}}"""


async def popular_content(conn: AsyncConnection, *, period: Period, limit: int,
                          include_bots: bool = False) -> list[PopularContent]:
    """Content items by engaged time (sum of ContentEngagement timeOnPageMs), most first."""
    sql = _POPULAR.format(where="", tail="HAVING sum(engaged_ms) > 0 ORDER BY engaged DESC, 1 LIMIT :limit")
    rows = await conn.execute(text(sql), {**_fact_params(None, period, include_bots), "limit": limit})
    return [PopularContent(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]


async def popular_of(conn: AsyncConnection, *, content_ids: Sequence[str], period: Period,
                     include_bots: bool = False) -> dict[str, PopularContent]:
    """The engaged time of these items in the period (zeros for an item without any)."""
    sql = _POPULAR.format(where="WHERE content_id = ANY(:ids)", tail="")
    params = {**_fact_params(None, period, include_bots), "ids": list(content_ids)}
    rows = await conn.execute(text(sql), params)
    found = {r[0]: PopularContent(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows}
    return {i: found.get(i, PopularContent(i, 0, 0, 0)) for i in content_ids}
