"""Session and traffic analytics over the ``sessions`` rows (each metric's SQL defined once, in
analytics.sessions.measures): whole days from their per-day rollup (analytics.sessions.days) where it
holds the figure, the rows themselves for the rest.

A session belongs to a period by ``started_at``. ``include_bots=False`` (the default everywhere)
keeps ``NOT excluded`` sessions only; the bot summary always reads every session, since its job is
to show what the filter removed. The graph (api.sessions, api.traffic) reads these functions, and the
CLI reads the graph.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.db import CURRENT_TENANT
from analytics.periods import MAX_BUCKETS, Granularity, Period, PeriodError, bucket_starts
from analytics.sessions import days
from analytics.sessions.measures import AGGREGATE_SQL, BOT_FLAGS, Dimension

# Defined in analytics.sessions.measures; still importable from here, where they were first defined.
from analytics.sessions.measures import BOUNCED as BOUNCED
from analytics.sessions.measures import DIMENSIONS as DIMENSIONS
from analytics.sessions.measures import DURATION as DURATION
from analytics.sessions.measures import REFERRER_HOST as REFERRER_HOST
from analytics.sessions.measures import SessionCounts as SessionCounts
from analytics.traffic.reading import ReadingPattern

# analytics.traffic.agents.DeviceType.UNKNOWN, spelled out: the API process never loads the parser.
UNKNOWN_DEVICE = "unknown"

LIVE_WINDOW = timedelta(minutes=5)

# A session is a return visit when an earlier session (at any time) has its visitor id, its user id or
# its anonymous id: the first session start per id, over all the tenant's sessions, precedes it.
# MATERIALIZED: each is computed once; inlined, a fresh table's one-row estimate made the planner run
# it again for every session of the period (300 visitors: 2.5 s).
_FIRST_SEEN = """{name} AS MATERIALIZED (SELECT {key}, min(started_at) AS first FROM sessions
    WHERE {tenant}{scope} AND {key} IN (SELECT {key} FROM s) GROUP BY {key})"""
_RETURNING = """SELECT count(DISTINCT s.visitor_id) FROM s
    LEFT JOIN by_visitor v ON v.visitor_id = s.visitor_id LEFT JOIN by_user u ON u.user_id = s.user_id
    LEFT JOIN by_anonymous a ON a.anonymous_id = s.anonymous_id
    WHERE s.started_at > v.first OR s.started_at > u.first OR s.started_at > a.first"""


def _scope(include_bots: bool, alias: str = "") -> str:
    return "" if include_bots else f" AND NOT {alias}excluded"


def _in_period(alias: str = "") -> str:
    """The tenant's sessions that started in the period (``:start``, ``:end``) and, when ``:content``
    is not null, used that content item (a capsule's audience), and when ``:segment`` is not null,
    belong to that segment: the session's user id (``u:``) or anonymous id (``a:``) is a member as of
    ``:segment_at`` (analytics.segments.service); :func:`_range` gives the values."""
    table = alias.rstrip(".") or "sessions"
    return (f"{alias}{CURRENT_TENANT} AND {alias}started_at >= :start AND {alias}started_at < :end "
            f"AND (CAST(:content AS text) IS NULL OR EXISTS (SELECT 1 FROM content_sessions c "
            f"WHERE c.tenant_id = {table}.tenant_id AND c.session_id = {table}.id "
            f"AND c.content_id = :content)) "
            f"AND (CAST(:segment AS text) IS NULL OR EXISTS (SELECT 1 FROM segment_members g "
            f"WHERE g.tenant_id = {table}.tenant_id AND g.segment_id = :segment "
            f"AND g.user_key IN ('u:' || {table}.user_id, 'a:' || {table}.anonymous_id) "
            f"AND g.valid_from < :segment_at AND (g.valid_to IS NULL OR g.valid_to >= :segment_at)))")


@dataclass(frozen=True)
class SessionTotals(SessionCounts):
    """A period's session figures, including those that are not additive across buckets."""

    median_duration_seconds: float | None = None
    returning_visitors: int | None = 0  # None: not computed (session_totals(returning=False))
    bot_sessions: int = 0  # excluded sessions of the period, reported whatever include_bots says

    @property
    def return_visit_rate(self) -> float | None:
        if self.returning_visitors is None:
            return None
        return metrics.return_visit_rate(self.returning_visitors, self.visitors)


def _range(period: Period, content_id: str | None = None, segment: str | None = None) -> dict[str, object]:
    """Members of ``segment`` are taken as of the period's end."""
    return {"start": period.start, "end": period.end, "content": content_id, "segment": segment,
            "segment_at": period.end}


async def session_totals(conn: AsyncConnection, *, period: Period, include_bots: bool,
                         content_id: str | None = None, segment: str | None = None,
                         returning: bool = True, median: bool = True) -> SessionTotals:
    """The period's figures (of the sessions that used ``content_id`` when given); earlier sessions
    count for returning visitors only when ``include_bots`` admits them. ``returning=False`` leaves
    returning visitors uncomputed (None): the only figure that reads the tenant's sessions of all
    time, not just the period's. ``median=False`` leaves the median uncomputed (None). Without a
    content item or segment, and without the median and returning visitors, the figures come from the
    per-day rollup (analytics.sessions.days; distinct people from its sketches where a day's group is
    large); otherwise every figure comes from the period's session rows, exact (returning visitors
    are then counted against exact visitors)."""
    if content_id is None and segment is None and not (median or returning):
        values = days.params(period, include_bots)
        row = (await conn.execute(text(days.TOTALS_SQL), values)).one()
        sessions = int(row.sessions)  # a visitor has a session: an estimate is held under the sessions
        counts = replace(SessionCounts.of(row),
                         visitors=min(await days.people_count(conn, "visitors", values), sessions),
                         users=min(await days.people_count(conn, "users", values), sessions))
        return SessionTotals(**counts.__dict__, median_duration_seconds=None, returning_visitors=None,
                             bot_sessions=int(row.bots))
    scope = _scope(include_bots)
    firsts = "".join(", " + _FIRST_SEEN.format(name=name, key=key, tenant=CURRENT_TENANT, scope=scope)
                     for name, key in (("by_visitor", "visitor_id"), ("by_user", "user_id"),
                                       ("by_anonymous", "anonymous_id")) if returning)
    sql = f"""
        WITH s AS MATERIALIZED (SELECT * FROM sessions WHERE {_in_period()}{scope}){firsts}
        SELECT {AGGREGATE_SQL},
               {f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {DURATION})" if median else "NULL"} AS median,
               ({_RETURNING if returning else "NULL"}) AS returning,
               (SELECT count(*) FROM sessions WHERE {_in_period()} AND excluded) AS bots
        FROM s"""
    row = (await conn.execute(text(sql), _range(period, content_id, segment))).one()
    counts, bots = SessionCounts.of(row), int(row.bots)
    middle = None if row.median is None else metrics.seconds(float(row.median))
    return SessionTotals(**counts.__dict__, median_duration_seconds=middle,
                         returning_visitors=None if row.returning is None else int(row.returning),
                         bot_sessions=bots)


@dataclass(frozen=True)
class SeriesPoint:
    start: datetime
    counts: SessionCounts


async def session_series(conn: AsyncConnection, *, period: Period, granularity: Granularity,
                         bucket_starts: Sequence[datetime], include_bots: bool) -> list[SeriesPoint]:
    """One point per bucket start (zero-filled); sessions are counted in the bucket they started in."""
    if granularity is Granularity.HOUR:  # each session by the position of the bucket start it follows
        sql = f"""
            SELECT width_bucket(started_at, CAST(:starts AS timestamptz[])) AS bucket, {AGGREGATE_SQL}
            FROM sessions WHERE {_in_period()}{_scope(include_bots)} GROUP BY 1"""
        rows = (await conn.execute(text(sql), {**_range(period), "starts": list(bucket_starts)})).all()
        positions = [row.bucket - 1 for row in rows]
        counted = [SessionCounts.of(row) for row in rows]
    else:  # whole days: the per-day rollup, a row per bucket as date_trunc starts it. Its bucket is the
        # one holding that start: a week or month bucket may start before the range (its sessions
        # belong to the first bucket), and date_trunc gives a local midnight that occurs twice
        # (America/Havana, 2025-11-02) as its later instant, an hour into the day.
        values = {**days.params(period.whole_days(), include_bots), "unit": granularity.value.lower()}
        rows = (await conn.execute(text(days.SERIES_SQL), values)).all()
        positions = [bisect_right(bucket_starts, row.bucket) - 1 for row in rows]
        visitors, users = (await days.people_by_bucket(conn, "visitors", values),
                           await days.people_by_bucket(conn, "users", values))
        held = [(int(row.sessions), visitors.get(row.bucket, 0), users.get(row.bucket, 0)) for row in rows]
        counted = [replace(SessionCounts.of(row), visitors=min(v, n), users=min(u, n))
                   for row, (n, v, u) in zip(rows, held, strict=True)]
    buckets: dict[datetime, SessionCounts] = {start: SessionCounts() for start in bucket_starts}
    for counts, at in zip(counted, positions, strict=True):
        buckets[bucket_starts[max(at, 0)]] = counts
    return [SeriesPoint(start, counts) for start, counts in buckets.items()]


@dataclass(frozen=True)
class SessionFilter:
    """Equality filters of the session list; None leaves a column unfiltered."""

    source: str | None = None
    country: str | None = None
    device_type: str | None = None
    browser: str | None = None
    is_bot: bool | None = None
    is_scanner: bool | None = None
    is_behavioural_bot: bool | None = None
    excluded: bool | None = None

    def sql(self) -> tuple[str, dict[str, object]]:
        columns = {"source": "referrer_source", "country": "country", "device_type": "device_type",
                   "browser": "browser", "is_bot": "is_bot", "is_scanner": "is_scanner",
                   "is_behavioural_bot": "is_behavioural_bot", "excluded": "excluded"}
        given = {name: value for name in columns if (value := getattr(self, name)) is not None}
        clause = "".join(f" AND {columns[name]} = :f_{name}" for name in given)
        return clause, {f"f_{name}": value for name, value in given.items()}


@dataclass(frozen=True)
class SessionRow:
    """One session as stored, plus whether it bounced (``BOUNCED``)."""

    id: UUID
    visitor_id: str
    user_id: str | None
    anonymous_id: str | None
    started_at: datetime
    last_seen_at: datetime
    request_count: int
    page_views: int
    unique_pages: int
    landing_page: str | None
    entry_url: str | None
    exit_page: str | None
    referrer_url: str | None
    referrer_source: str
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    country: str | None
    region: str | None
    city: str | None
    device_type: str
    browser: str | None
    os: str | None
    user_agent: str | None
    ip_address: str | None
    engagement_events: int
    engaged_ms: int
    zero_dwell_page_views: int
    interval_stddev_ms: float | None
    is_bot: bool
    is_scanner: bool
    agent_reasons: list[dict[str, Any]]
    behavioural_bot_score: int | None
    behaviour_signals: dict[str, int]
    is_behavioural_bot: bool
    excluded: bool
    bounced: bool

    @property
    def duration_seconds(self) -> float:
        return metrics.seconds((self.last_seen_at - self.started_at).total_seconds())


_ROW_COLUMNS = ", ".join(
    "CAST(ip_address AS text) AS ip_address" if name == "ip_address"
    else f"{BOUNCED} AS bounced" if name == "bounced" else name
    for name in SessionRow.__dataclass_fields__)


def _session(row: Any) -> SessionRow:
    return SessionRow(**row._mapping)


async def list_sessions(conn: AsyncConnection, *, period: Period, filter: SessionFilter,
                        include_bots: bool, after: tuple[datetime, UUID] | None,
                        limit: int, segment: str | None = None) -> tuple[list[SessionRow], int]:
    """Newest first (started_at, then id, descending), after the cursor; and how many match in all."""
    clause, params = filter.sql()
    where = f"{_in_period()}{_scope(include_bots)}{clause}"
    page_where = where + (" AND (started_at, id) < (:after_at, :after_id)" if after else "")
    params.update(_range(period, segment=segment), limit=limit)
    if after:
        params.update(after_at=after[0], after_id=after[1])
    rows = await conn.execute(text(f"SELECT {_ROW_COLUMNS} FROM sessions WHERE {page_where} "
                                   "ORDER BY started_at DESC, id DESC LIMIT :limit"), params)
    total = (await conn.execute(text(f"SELECT count(*) FROM sessions WHERE {where}"), params)).scalar_one()
    return [_session(r) for r in rows], int(total)


async def live_sessions(conn: AsyncConnection, *, include_bots: bool, limit: int) -> list[SessionRow]:
    """Sessions active within ``LIVE_WINDOW`` of the database clock, most recently active first."""
    rows = await conn.execute(text(
        f"SELECT {_ROW_COLUMNS} FROM sessions WHERE {CURRENT_TENANT} "
        f"AND last_seen_at >= now() - CAST(:window AS interval){_scope(include_bots)} "
        "ORDER BY last_seen_at DESC, id DESC LIMIT :limit"), {"window": LIVE_WINDOW, "limit": limit})
    return [_session(r) for r in rows]


@dataclass(frozen=True)
class BreakdownRow:
    keys: tuple[str | None, ...]
    counts: SessionCounts
    share: float | None  # sessions / all sessions of the period * 100


def _breakdown_sql(spec: Dimension, include_bots: bool, tail: str, only_keys: bool = False) -> str:
    """Sessions of the period grouped by the dimension's keys (``k0``, ``k1``...), with each group's
    aggregates and the period's total; ``only_keys`` joins the groups to the ``:k<i>`` arrays."""
    # Byte order (collation "C") for ties, so the ranking does not depend on the database's locale.
    keys = ", ".join(f'{k} COLLATE "C" AS k{i}' for i, k in enumerate(spec.keys))
    names = [f"k{i}" for i in range(len(spec.keys))]
    where = f"{_in_period()}{_scope(include_bots)}"
    join = ""
    if only_keys:  # IS NOT DISTINCT FROM: an unknown (null) key is a group too
        arrays = ", ".join(f"CAST(:{k} AS text[])" for k in names)
        join = (f"JOIN unnest({arrays}) AS wanted({', '.join(names)}) ON "
                + " AND ".join(f"s.{k} IS NOT DISTINCT FROM wanted.{k}" for k in names))
    return f"""
        WITH s AS (SELECT {keys}, * FROM sessions WHERE {where} AND {spec.where})
        SELECT {", ".join(f"s.{k} AS {k}" for k in names)}, {AGGREGATE_SQL},
               (SELECT count(*) FROM sessions WHERE {where}) AS total
        FROM s {join} GROUP BY {", ".join(f"s.{k}" for k in names)} {tail}"""


def _breakdown_row(spec: Dimension, row: Any) -> BreakdownRow:
    return BreakdownRow(tuple(getattr(row, f"k{i}") for i in range(len(spec.keys))), SessionCounts.of(row),
                        metrics.share(int(row.sessions), int(row.total)))


def _from_days(content_id: str | None) -> bool:
    """Whether a breakdown reads the per-day rollup: it keeps no content audiences."""
    return content_id is None


async def breakdown(conn: AsyncConnection, *, dimension: str, period: Period, include_bots: bool,
                    limit: int, content_id: str | None = None, people: bool = True) -> list[BreakdownRow]:
    """Sessions by one dimension, most sessions first (ties by key in byte order, unknown last).
    ``people=False``: visitors and users are not computed (0). Without ``content_id`` the rows come from
    the rollup, which counts visitors but not users per key (users: 0)."""
    spec = DIMENSIONS[dimension]
    order = "ORDER BY sessions DESC, " + ", ".join(f"k{i} NULLS LAST" for i in range(len(spec.keys)))
    if _from_days(content_id):
        values = days.params(period, include_bots)
        rows = await conn.execute(text(days.breakdown_sql(dimension, order, limit=True)),
                                  {**values, "limit": limit})
        return await _with_visitors(conn, dimension, values, [_breakdown_row(spec, r) for r in rows], people)
    tail = f"{order} LIMIT :limit"
    rows = await conn.execute(text(_breakdown_sql(spec, include_bots, tail)),
                              {**_range(period, content_id), "limit": limit})
    return [_breakdown_row(spec, r) for r in rows]


async def _with_visitors(conn: AsyncConnection, dimension: str, values: dict[str, object],
                         rows: list[BreakdownRow], people: bool) -> list[BreakdownRow]:
    """Rollup rows with their keys' distinct visitors (analytics.sessions.days.key_visitors) when
    ``people``."""
    if not people:
        return rows
    visitors = await days.key_visitors(conn, dimension, values, [row.keys for row in rows])
    # A visitor has a session: an estimate is held under the key's sessions.
    return [replace(row, counts=replace(row.counts,
                                        visitors=min(visitors.get(row.keys, 0), row.counts.sessions)))
            for row in rows]


async def breakdown_of(conn: AsyncConnection, *, dimension: str, period: Period, include_bots: bool,
                       keys: Sequence[tuple[str | None, ...]], content_id: str | None = None,
                       people: bool = True) -> dict[tuple[str | None, ...], BreakdownRow]:
    """The groups with these keys, every one: a key without sessions in the period gets zeros
    (``people`` as for :func:`breakdown`)."""
    spec = DIMENSIONS[dimension]
    arrays = {f"k{i}": [key[i] for key in keys] for i in range(len(spec.keys))}
    rolled = _from_days(content_id)
    found: dict[tuple[str | None, ...], BreakdownRow] = {}
    if keys:
        sql, values = ((days.breakdown_sql(dimension, only_keys=True), days.params(period, include_bots))
                       if rolled else
                       (_breakdown_sql(spec, include_bots, "", only_keys=True), _range(period, content_id)))
        listed = [_breakdown_row(spec, r) for r in await conn.execute(text(sql), {**values, **arrays})]
        if rolled:
            listed = await _with_visitors(conn, dimension, values, listed, people)
        found = {row.keys: row for row in listed}
    if len(found) < len(keys):
        sql, values = ((days.PERIOD_SESSIONS_SQL, days.params(period, include_bots)) if rolled else
                       (f"SELECT count(*) FROM sessions WHERE {_in_period()}{_scope(include_bots)}",
                        _range(period, content_id)))
        total = int((await conn.execute(text(sql), values)).scalar_one())
        for key in keys:
            found.setdefault(key, BreakdownRow(key, SessionCounts(), metrics.share(0, total)))
    return found


@dataclass(frozen=True)
class BotDay:
    day: date
    sessions: int  # excluded sessions that started that local day
    by_tier: tuple[int, int, int]  # user agent, scanner, behavioural


@dataclass(frozen=True)
class BotReasonCount:
    tier: int
    code: str
    sessions: int


@dataclass(frozen=True)
class BotAgent:
    user_agent: str | None
    sessions: int
    tiers: tuple[int, ...]


@dataclass(frozen=True)
class BotSummary:
    """What the bot filter removed from a period: every session, whatever include_bots says."""

    period: Period
    total_sessions: int
    excluded_sessions: int
    by_tier: tuple[int, int, int]  # sessions flagged by tier 1, 2 and 3 (one session may be in several)
    by_reason: list[BotReasonCount]
    # Server-sourced sessions without any user agent (device type ``unknown``), excluded or not.
    unknown_agent_sessions: int = 0

    @property
    def excluded_share(self) -> float | None:
        return metrics.share(self.excluded_sessions, self.total_sessions)


TIER_FLAGS = ("is_bot", "is_scanner", "is_behavioural_bot")
_TIER_COUNTS = ", ".join(f"count(*) FILTER (WHERE {flag}) AS tier{i + 1}"
                         for i, flag in enumerate(TIER_FLAGS))


async def bot_summary(conn: AsyncConnection, *, period: Period, content_id: str | None = None) -> BotSummary:
    """Excluded sessions by tier and by reason code: whole days from the per-day rollup, the rest (and
    a capsule's audience) from the session rows."""
    if content_id is None:
        params = {**days.params(period, include_bots=True), "unknown": UNKNOWN_DEVICE}
        totals = (await conn.execute(text(days.BOT_TOTALS_SQL), params)).one()
        flags = await conn.execute(text(days.BOT_FLAGS_SQL), params)
    else:
        params = _range(period, content_id)
        totals = (await conn.execute(text(
            f"SELECT count(*) AS total, count(*) FILTER (WHERE excluded) AS excluded, "
            f"count(*) FILTER (WHERE device_type = '{UNKNOWN_DEVICE}') AS unknown_agent "
            f"FROM sessions WHERE {_in_period()}"), params)).one()
        flags = await conn.execute(text(
            f"SELECT f.tier, f.code, count(*) AS sessions FROM sessions s "
            f"CROSS JOIN LATERAL {BOT_FLAGS} AS f WHERE {_in_period('s.')} GROUP BY 1, 2"), params)
    tiers = [0, 0, 0]
    reasons = []
    for row in flags:
        if row.code == "":
            tiers[int(row.tier) - 1] = int(row.sessions)
        elif row.sessions:
            reasons.append(BotReasonCount(int(row.tier), row.code, int(row.sessions)))
    # Most sessions first, then tier, then code in byte order.
    reasons.sort(key=lambda r: (-r.sessions, r.tier, r.code.encode()))
    return BotSummary(period, int(totals.total), int(totals.excluded), (tiers[0], tiers[1], tiers[2]),
                      reasons, int(totals.unknown_agent))


async def bot_days(conn: AsyncConnection, *, period: Period, content_id: str | None = None) -> list[BotDay]:
    """Excluded sessions by local day, every day of the period (zero-filled, at most
    ``MAX_BUCKETS`` days like any series)."""
    try:
        days = [start.astimezone(period.tz).date() for start in bucket_starts(period, Granularity.DAY)]
    except PeriodError:
        raise PeriodError("range", f"bots by day lists at most {MAX_BUCKETS} days; choose a shorter "
                                   "range") from None
    params: dict[str, object] = {**_range(period, content_id), "tz": period.tz.key}
    found = {r.day: r for r in await conn.execute(text(
        f"SELECT CAST(started_at AT TIME ZONE :tz AS date) AS day, count(*) AS sessions, {_TIER_COUNTS} "
        f"FROM sessions WHERE {_in_period()} AND excluded GROUP BY 1"), params)}
    return [BotDay(day, int(row.sessions), (int(row.tier1), int(row.tier2), int(row.tier3)))
            if (row := found.get(day)) else BotDay(day, 0, (0, 0, 0)) for day in days]


async def bot_user_agents(conn: AsyncConnection, *, period: Period, limit: int,
                          content_id: str | None = None) -> list[BotAgent]:
    """The user agents of the period's excluded sessions, most sessions first (empty agent as None)."""
    rows = await conn.execute(text(
        f"SELECT nullif(user_agent, '') COLLATE \"C\" AS agent, count(*) AS sessions, {_TIER_COUNTS} "
        f"FROM sessions WHERE {_in_period()} AND excluded GROUP BY 1 "
        "ORDER BY sessions DESC, agent NULLS LAST LIMIT :limit"),
        {**_range(period, content_id), "limit": limit})
    return [BotAgent(r.agent, int(r.sessions), tuple(t for t in (1, 2, 3) if getattr(r, f"tier{t}")))
            for r in rows]


@dataclass(frozen=True)
class PatternCount:
    pattern: str
    page_views: int
    share: float | None  # of the page views with an engagement report


async def reading_patterns(conn: AsyncConnection, *, period: Period,
                           include_bots: bool) -> list[PatternCount]:
    """Page views (with engagement reports) of the period's sessions by reading pattern, in the
    reference table's order; every pattern is listed, zero when none."""
    rows = await conn.execute(text(
        f"SELECT p.key, sum(p.value::bigint) FROM sessions, jsonb_each_text(reading_patterns) AS p "
        f"WHERE {_in_period()}{_scope(include_bots)} GROUP BY p.key"), _range(period))
    counts = {key: int(total) for key, total in rows}
    whole = sum(counts.values())
    return [PatternCount(str(p), counts.get(str(p), 0), metrics.share(counts.get(str(p), 0), whole))
            for p in ReadingPattern]
