"""Segments as the graph and other domains read them: definitions, members as of an instant (with
history), sizes, shares, movements and engagement.

A membership is valid over ``[valid_from, valid_to)``. "As of" an instant ``at`` (a range's end,
exclusive) means the memberships that held just before it: ``valid_from < at`` and ``valid_to``
null or ``>= at``. Shares are of the users in any built-in segment at the same instant (the
tenant's current users: new, power, regular and at risk), so the built-in shares add up to 100.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.db import CURRENT_TENANT, lock_tenant
from analytics.errors import InvalidArgument
from analytics.segments.assign import tenant_zone
from analytics.segments.engagement import (
    BUILT_IN,
    FEATURES_SQL,
    SCORE_SQL,
    Thresholds,
    load_thresholds,
    mark_all_users,
    score_params,
)
from analytics.segments.rules import parse_rule, rule_json

MAX_RULE_SEGMENTS = 50
NOW = text("SELECT now()")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")

# The user keys in segment :segment as of :segment_at: what funnels, features and sessions filter on
# (a sub-select; the caller's transaction is scoped to the tenant).
MEMBERS_AT_SQL = (f"SELECT user_key FROM segment_members WHERE {CURRENT_TENANT} AND segment_id = :segment "
                  "AND valid_from < :segment_at AND (valid_to IS NULL OR valid_to >= :segment_at)")



def member_of(column: str) -> str:
    """A condition keeping rows whose user key ``column`` is a member of ``:segment`` as of
    ``:segment_at`` (true for every row when ``:segment`` is null): the segment filter of the
    product fields (usage, feature adoption, funnels), as sessions apply it."""
    return f"(CAST(:segment AS text) IS NULL OR {column} IN ({MEMBERS_AT_SQL}))"


_MEMBERS_OF_ANY = (f"SELECT DISTINCT user_key FROM segment_members WHERE {CURRENT_TENANT} "
                   "AND segment_id = ANY(:builtins) AND valid_from < :segment_at "
                   "AND (valid_to IS NULL OR valid_to >= :segment_at)")


async def members_at(conn: AsyncConnection, *, segment_id: str, at: datetime) -> list[str]:
    """The user keys (``u:<userId>`` / ``a:<anonymousId>``) in the segment as of ``at``, sorted."""
    rows = await conn.execute(text(MEMBERS_AT_SQL + " ORDER BY user_key"),
                              {"segment": segment_id, "segment_at": at})
    return list(rows.scalars())


@dataclass(frozen=True)
class Segment:
    id: str
    name: str
    built_in: bool
    rule: dict[str, Any] | None


async def list_segments(conn: AsyncConnection, tenant_id: int) -> list[Segment]:
    """The four built-in segments, then the tenant's rule segments by id."""
    rows = await conn.execute(text("SELECT id, name, rule FROM segment_definitions WHERE tenant_id = :tenant "
                                   "ORDER BY id"), {"tenant": tenant_id})
    return [*(Segment(i, n, True, None) for i, n in BUILT_IN.items()),
            *(Segment(r.id, r.name, False, r.rule) for r in rows)]


async def get_segment(conn: AsyncConnection, tenant_id: int, segment_id: str) -> Segment | None:
    return next((s for s in await list_segments(conn, tenant_id) if s.id == segment_id), None)


async def define_segment(conn: AsyncConnection, tenant_id: int, *, segment_id: str, name: str,
                         rule: dict[str, Any]) -> Segment:
    """Create or replace a rule segment; every known user is re-evaluated by the segments job (its
    memberships keep their history: users who no longer match leave, others join)."""
    if segment_id in BUILT_IN or not _ID.fullmatch(segment_id):
        raise InvalidArgument("id", "must be 1 to 63 lower-case letters, digits, _ or -, and not one of "
                                    + ", ".join(BUILT_IN))
    if not name.strip() or len(name) > 100:
        raise InvalidArgument("name", "is required (at most 100 characters)")
    parsed = rule_json(parse_rule(rule))
    count = (await conn.execute(text("SELECT count(*) FILTER (WHERE id <> :id) FROM segment_definitions "
                                     "WHERE tenant_id = :tenant"), {"tenant": tenant_id, "id": segment_id})
             ).scalar_one()
    if count >= MAX_RULE_SEGMENTS:
        raise InvalidArgument("id", f"a tenant has at most {MAX_RULE_SEGMENTS} rule segments")
    await conn.execute(text(
        "INSERT INTO segment_definitions (tenant_id, id, name, rule) "
        "VALUES (:tenant, :id, :name, CAST(:rule AS jsonb)) ON CONFLICT (tenant_id, id) DO UPDATE "
        "SET name = EXCLUDED.name, rule = EXCLUDED.rule, updated_at = now()"),
        {"tenant": tenant_id, "id": segment_id, "name": name.strip(), "rule": _json(parsed)})
    await mark_all_users(conn, tenant_id)
    await conn.execute(text(
        "INSERT INTO segment_dirty_users (tenant_id, user_key) "
        "SELECT DISTINCT CAST(:tenant AS bigint), user_key FROM user_days "
        "WHERE tenant_id = :tenant AND NOT bot ON CONFLICT DO NOTHING"), {"tenant": tenant_id})
    return Segment(segment_id, name.strip(), False, parsed)


async def delete_segment(conn: AsyncConnection, tenant_id: int, segment_id: str) -> bool:
    """Delete a rule segment with its memberships and their history; False when there was none.
    Built-in segments cannot be deleted. Under the tenant's lock: the segments job (which holds it)
    never writes memberships of a segment deleted meanwhile."""
    if segment_id in BUILT_IN:
        raise InvalidArgument("id", "a built-in segment cannot be deleted")
    await lock_tenant(conn, tenant_id)
    params = {"tenant": tenant_id, "id": segment_id}
    await conn.execute(text("DELETE FROM segment_members WHERE tenant_id = :tenant AND segment_id = :id"),
                       params)
    deleted = await conn.execute(
        text("DELETE FROM segment_definitions WHERE tenant_id = :tenant AND id = :id"), params)
    return bool(getattr(deleted, "rowcount", 0))


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


@dataclass(frozen=True)
class SegmentFigures:
    segment: Segment
    size: int
    share: float | None
    mean_engagement: float | None


def _as_of_day(at: datetime, conn_tz: Any) -> date:
    return (at - timedelta(microseconds=1)).astimezone(conn_tz).date()


async def segment_figures(conn: AsyncConnection, tenant_id: int, segments: Sequence[Segment],
                          at: datetime, *, stored: bool | None = None) -> list[SegmentFigures]:
    """Size, share and mean engagement score (as of ``at``'s local day) of each segment as of ``at``.

    A range ending today or later reads the scores the worker stored at each member's last
    evaluation (the rollup's segment job for users whose events changed, the daily job for everyone
    else: today's scores once it ran); an earlier range recomputes each member's score as of its end
    day. ``stored`` forces one or the other."""
    tz = await tenant_zone(conn, tenant_id)
    day = _as_of_day(at, tz)
    if stored is None:
        today = (await conn.execute(NOW)).scalar_one().astimezone(tz).date()
        stored = day >= today
    params: dict[str, Any] = {"tenant": tenant_id, "segment_at": at, "ids": [s.id for s in segments],
                              "builtins": list(BUILT_IN), "day": day}
    members = (f"SELECT segment_id, user_key FROM segment_members WHERE {CURRENT_TENANT} "
               "AND segment_id = ANY(:ids) AND valid_from < :segment_at "
               "AND (valid_to IS NULL OR valid_to >= :segment_at)")
    if stored:
        rows = await conn.execute(text(
            f"SELECT m.segment_id, count(*) AS size, avg(u.score) AS mean FROM ({members}) m "
            "LEFT JOIN segment_users u ON u.tenant_id = :tenant AND u.user_key = m.user_key "
            "GROUP BY m.segment_id"), params)
    else:
        params.update(score_params(await load_thresholds(conn, tenant_id)))
        features = FEATURES_SQL.format(keys="SELECT DISTINCT user_key FROM m")
        rows = await conn.execute(text(
            f"WITH m AS MATERIALIZED ({members}), f AS ({features}), "
            f"scored AS (SELECT user_key, {SCORE_SQL.format(p='')} AS score FROM f) "
            "SELECT m.segment_id, count(*) AS size, avg(scored.score) AS mean "
            "FROM m JOIN scored USING (user_key) GROUP BY m.segment_id"), params)
    found = {r.segment_id: r for r in rows}
    base = int((await conn.execute(text(f"SELECT count(*) FROM ({_MEMBERS_OF_ANY}) b"), params)).scalar_one())
    result = []
    for s in segments:
        row = found.get(s.id)
        size = int(row.size) if row else 0
        result.append(SegmentFigures(s, size, metrics.share(size, base) if base else None,
                                     None if row is None or row.mean is None else round(float(row.mean), 1)))
    return result


@dataclass(frozen=True)
class Member:
    user_key: str
    since: datetime
    score: float | None

    @property
    def user_id(self) -> str | None:
        return self.user_key[2:] if self.user_key.startswith("u:") else None

    @property
    def anonymous_id(self) -> str | None:
        return self.user_key[2:] if self.user_key.startswith("a:") else None


async def current_members(conn: AsyncConnection, *, segment_id: str, after: str | None,
                          limit: int) -> tuple[list[Member], int]:
    """Members now, by user key after ``after``; with their score at their last evaluation, and the total."""
    rows = await conn.execute(text(
        f"SELECT m.user_key, m.valid_from, u.score FROM segment_members m LEFT JOIN segment_users u "
        f"ON u.tenant_id = m.tenant_id AND u.user_key = m.user_key WHERE m.{CURRENT_TENANT} "
        "AND m.segment_id = :segment AND m.valid_to IS NULL AND (CAST(:after AS text) IS NULL "
        "OR m.user_key COLLATE \"C\" > :after) ORDER BY m.user_key COLLATE \"C\" LIMIT :limit"),
        {"segment": segment_id, "after": after, "limit": limit})
    total = (await conn.execute(text(
        f"SELECT count(*) FROM segment_members WHERE {CURRENT_TENANT} AND segment_id = :segment "
        "AND valid_to IS NULL"), {"segment": segment_id})).scalar_one()
    return [Member(r.user_key, r.valid_from, r.score) for r in rows], int(total)


@dataclass(frozen=True)
class Movement:
    from_segment: str | None  # None: joined from no built-in segment (or, for rule segments, joined)
    to_segment: str | None
    users: int


async def movements(conn: AsyncConnection, *, segment_id: str, start: datetime, end: datetime
                    ) -> list[Movement]:
    """Users who left or joined the segment in ``[start, end)``, by where they went or came from: for a
    built-in segment the other built-in segment (None: none), for a rule segment None. A user who
    moved several times counts once per (from, to)."""
    peers = [s for s in BUILT_IN if s != segment_id] if segment_id in BUILT_IN else []
    params = {"segment": segment_id, "start": start, "end": end, "peers": peers}
    rows = await conn.execute(text(
        f"""
        WITH mine AS (SELECT * FROM segment_members WHERE {CURRENT_TENANT} AND segment_id = :segment),
        other AS (SELECT * FROM segment_members WHERE {CURRENT_TENANT} AND segment_id = ANY(:peers))
        SELECT :segment AS f, o.segment_id AS t, count(DISTINCT x.user_key) AS users FROM mine x
            LEFT JOIN other o ON o.user_key = x.user_key AND o.valid_from = x.valid_to
            WHERE x.valid_to >= :start AND x.valid_to < :end GROUP BY 2
        UNION ALL
        SELECT o.segment_id, :segment, count(DISTINCT x.user_key) FROM mine x
            LEFT JOIN other o ON o.user_key = x.user_key AND o.valid_to = x.valid_from
            WHERE x.valid_from >= :start AND x.valid_from < :end GROUP BY 1
        """), params)
    found = [Movement(r[0], r[1], int(r[2])) for r in rows]
    return sorted(found, key=lambda m: (-m.users, m.from_segment or "", m.to_segment or ""))


@dataclass(frozen=True)
class Engagement:
    members: int
    mean: float | None
    histogram: tuple[int, ...]  # members by whole score 0, 1, ... 10 (10 only for a perfect 10)


async def engagement(conn: AsyncConnection, tenant_id: int, *, segment_id: str, at: datetime) -> Engagement:
    """The members' engagement scores as of ``at`` (their local day): mean and histogram."""
    tz = await tenant_zone(conn, tenant_id)
    thresholds = await load_thresholds(conn, tenant_id)
    features = FEATURES_SQL.format(keys=MEMBERS_AT_SQL)
    rows = (await conn.execute(text(
        f"SELECT least(floor({SCORE_SQL.format(p='f.')}), 10) AS bucket, count(*) AS n, "
        f"sum({SCORE_SQL.format(p='f.')}) AS total FROM ({features}) f GROUP BY 1"),
        {"tenant": tenant_id, "segment": segment_id, "segment_at": at, "day": _as_of_day(at, tz),
         **score_params(thresholds)})).all()
    histogram = [0] * 11
    for r in rows:
        histogram[int(r.bucket)] += int(r.n)
    members = sum(histogram)
    total = sum(float(r.total) for r in rows)
    return Engagement(members, round(total / members, 1) if members else None, tuple(histogram))


async def thresholds_of(conn: AsyncConnection, tenant_id: int) -> Thresholds:
    return await load_thresholds(conn, tenant_id)
