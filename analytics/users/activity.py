"""Who was active on which day: one row per tenant-local day, bot side and user key (``u:`` + the
user id, else ``a:`` + the anonymous id: analytics.rollups.aggregate.user_key) with the number of
events and the first and last of them. Any event that names a person counts (tour, content, page
and custom events alike); cookieless page views without an id are visitors, not users.

Active users, DAU/WAU/MAU, total users and the segments' recency and frequency read this table.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.rollups.aggregate import RawEvent, user_key
from analytics.rollups.consumers import Claim, Consumer, Difference, compare

_UPSERT = text(
    """
    INSERT INTO user_days (tenant_id, day, bot, user_key, events, first_at, last_at)
    SELECT :tenant, * FROM unnest(CAST(:day AS date[]), CAST(:bot AS boolean[]), CAST(:user_key AS text[]),
        CAST(:events AS integer[]), CAST(:first_at AS timestamptz[]), CAST(:last_at AS timestamptz[]))
    ON CONFLICT (tenant_id, day, bot, user_key) DO UPDATE SET
        events = user_days.events + EXCLUDED.events,
        first_at = least(user_days.first_at, EXCLUDED.first_at),
        last_at = greatest(user_days.last_at, EXCLUDED.last_at)
    """
)


def fold_user_days(events: Iterable[tuple[RawEvent, bool]], tz: ZoneInfo
                   ) -> dict[tuple[date, bool, str], list[Any]]:
    """(day, bot, user key) -> [events, first, last] for the events that name a person."""
    days: dict[tuple[date, bool, str], list[Any]] = {}
    for event, bot in events:
        if event.user_id is None and event.anonymous_id is None:
            continue
        key = (event.occurred_at.astimezone(tz).date(), bot, user_key(event.user_id, event.anonymous_id))
        seen = days.get(key)
        if seen is None:
            days[key] = [1, event.occurred_at, event.occurred_at]
        else:
            seen[0] += 1
            seen[1] = min(seen[1], event.occurred_at)
            seen[2] = max(seen[2], event.occurred_at)
    return days


async def _consume(conn: AsyncConnection, claim: Claim) -> None:
    rows = sorted(fold_user_days(claim.with_bot(), claim.tz).items())
    if rows:
        await conn.execute(_UPSERT, {
            "tenant": claim.tenant_id, "day": [k[0] for k, _ in rows], "bot": [k[1] for k, _ in rows],
            "user_key": [k[2] for k, _ in rows], "events": [v[0] for _, v in rows],
            "first_at": [v[1] for _, v in rows], "last_at": [v[2] for _, v in rows]})


async def _verify(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    found = await compare(
        conn, tenant_id, "user_days",
        "SELECT (e.occurred_at AT TIME ZONE (SELECT timezone FROM kept))::date, coalesce(s.excluded, false), "
        "coalesce('u:' || e.user_id, 'a:' || e.anonymous_id), count(*)::int, min(e.occurred_at), "
        "max(e.occurred_at) FROM events e "
        "LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_key "
        "WHERE e.tenant_id = :tenant AND e.occurred_at >= (SELECT at FROM kept) "
        "AND (e.user_id IS NOT NULL OR e.anonymous_id IS NOT NULL) GROUP BY 1, 2, 3",
        "SELECT day, bot, user_key, events, first_at, last_at FROM user_days "
        "WHERE tenant_id = :tenant AND day >= (SELECT day FROM kept)")
    return [found] if found else []


USER_DAYS = Consumer(
    "user_days", _consume, _verify,
    day_clears=("DELETE FROM user_days WHERE tenant_id = :tenant AND day = :day",),
    expiry={"user_days": "DELETE FROM user_days WHERE tenant_id = :tenant AND day < (SELECT day FROM kept)"},
    tables=("user_days",),
    erase=("DELETE FROM user_days WHERE tenant_id = :tenant AND user_key = :user_key",),
)
