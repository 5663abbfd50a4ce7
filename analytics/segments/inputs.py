"""What segment rules read, kept by the rollup: events per user, day, bot side and event name
(``user_event_days``), the latest value of each property a user's events carried
(``user_properties``), and the users whose events changed (``segment_dirty_users``, which the
segments job re-evaluates: analytics.segments.assign).

An event's name is a Custom event's own name, else its catalogue type (what analytics.matchers
matches). A property's latest value is the one of the user's latest event carrying it (ties by event
id), whatever the event's bot side: properties describe the person, not the visit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.ingest.catalogue import CUSTOM
from analytics.rollups.aggregate import RawEvent, user_key
from analytics.rollups.consumers import Claim, Consumer, Difference, compare

# The claim's three inputs in one statement (one round trip, one plan): per-day counts, the latest
# property values (an older value never overwrites a newer one), and the users to re-evaluate.
# Each list is folded by its key first, so no statement touches a row twice; empty lists insert nothing.
_WRITE = text(
    """
    WITH counts AS (
        INSERT INTO user_event_days (tenant_id, day, bot, user_key, name, events)
        SELECT :tenant, * FROM unnest(CAST(:day AS date[]), CAST(:bot AS boolean[]),
            CAST(:user_key AS text[]), CAST(:name AS text[]), CAST(:events AS integer[]))
        ON CONFLICT (tenant_id, day, bot, user_key, name) DO UPDATE SET
            events = user_event_days.events + EXCLUDED.events
    ), properties AS (
        INSERT INTO user_properties AS p (tenant_id, user_key, property, value, at, event_id)
        SELECT :tenant, k, prop, CAST(v AS jsonb), a, e FROM unnest(CAST(:prop_user AS text[]),
            CAST(:property AS text[]), CAST(:value AS text[]), CAST(:at AS timestamptz[]),
            CAST(:event AS uuid[])) AS x(k, prop, v, a, e)
        ON CONFLICT (tenant_id, user_key, property) DO UPDATE SET
            value = EXCLUDED.value, at = EXCLUDED.at, event_id = EXCLUDED.event_id
        WHERE (EXCLUDED.at, EXCLUDED.event_id) > (p.at, p.event_id)
    )
    INSERT INTO segment_dirty_users (tenant_id, user_key) SELECT :tenant, unnest(CAST(:dirty AS text[]))
    ON CONFLICT (tenant_id, user_key) DO NOTHING
    """
)


def event_name(event: RawEvent) -> str:
    return event.name if event.type == CUSTOM and event.name else event.type


def fold_event_days(events: Iterable[tuple[RawEvent, bool]], tz: ZoneInfo
                    ) -> dict[tuple[date, bool, str, str], int]:
    """(day, bot, user key, event name) -> events, for the events that name a person."""
    counts: dict[tuple[date, bool, str, str], int] = {}
    for event, bot in events:
        if event.user_id is None and event.anonymous_id is None:
            continue
        key = (event.occurred_at.astimezone(tz).date(), bot, user_key(event.user_id, event.anonymous_id),
               event_name(event))
        counts[key] = counts.get(key, 0) + 1
    return counts


def fold_properties(events: Iterable[RawEvent]) -> dict[tuple[str, str], tuple[datetime, UUID, Any]]:
    """(user key, top-level property) -> (at, event id, value) of the latest event carrying it."""
    latest: dict[tuple[str, str], tuple[datetime, UUID, Any]] = {}
    for event in events:
        if (event.user_id is None and event.anonymous_id is None) or not event.properties or event.id is None:
            continue
        who = user_key(event.user_id, event.anonymous_id)
        for prop, value in event.properties.items():
            seen = latest.get((who, prop))
            if seen is None or (event.occurred_at, event.id) > (seen[0], seen[1]):
                latest[(who, prop)] = (event.occurred_at, event.id, value)
    return latest


async def _consume(conn: AsyncConnection, claim: Claim) -> None:
    counts = sorted(fold_event_days(claim.with_bot(), claim.tz).items())
    props = sorted(fold_properties(claim.events).items())
    if not counts and not props:
        return
    await conn.execute(_WRITE, {
        "tenant": claim.tenant_id, "day": [k[0] for k, _ in counts], "bot": [k[1] for k, _ in counts],
        "user_key": [k[2] for k, _ in counts], "name": [k[3] for k, _ in counts],
        "events": [v for _, v in counts],
        "prop_user": [k[0] for k, _ in props], "property": [k[1] for k, _ in props],
        "value": [json.dumps(v[2]) for _, v in props], "at": [v[0] for _, v in props],
        "event": [v[1] for _, v in props],
        "dirty": sorted({k[2] for k, _ in counts})})


_NAME = "coalesce(CASE WHEN e.type = 'Custom' THEN e.name END, e.type)"
_KEY = "coalesce('u:' || e.user_id, 'a:' || e.anonymous_id)"


async def _verify(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    found = [await compare(
        conn, tenant_id, "user_event_days",
        "SELECT (e.occurred_at AT TIME ZONE (SELECT timezone FROM kept))::date, "
        "coalesce(s.excluded, false), "
        f"{_KEY}, {_NAME}, count(*)::int FROM events e "
        "LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_key "
        "WHERE e.tenant_id = :tenant AND e.occurred_at >= (SELECT at FROM kept) "
        "AND (e.user_id IS NOT NULL OR e.anonymous_id IS NOT NULL) GROUP BY 1, 2, 3, 4",
        "SELECT day, bot, user_key, name, events FROM user_event_days "
        "WHERE tenant_id = :tenant AND day >= (SELECT day FROM kept)"),
        await compare(
        conn, tenant_id, "user_properties",
        f"SELECT DISTINCT ON (1, 2) {_KEY}, p.key, p.value, e.occurred_at, e.id FROM events e, "
        "jsonb_each(CASE WHEN jsonb_typeof(e.properties) = 'object' THEN e.properties END) p "
        "WHERE e.tenant_id = :tenant AND e.occurred_at >= (SELECT at FROM kept) "
        "AND (e.user_id IS NOT NULL OR e.anonymous_id IS NOT NULL) "
        "ORDER BY 1, 2, e.occurred_at DESC, e.id DESC",
        "SELECT user_key, property, value, at, event_id FROM user_properties "
        "WHERE tenant_id = :tenant AND at >= (SELECT at FROM kept)")]
    return [d for d in found if d]


SEGMENT_INPUTS = Consumer(
    "segment_inputs", _consume, _verify,
    day_clears=("DELETE FROM user_event_days WHERE tenant_id = :tenant AND day = :day",),
    # Past the rollup retention: counts, properties not seen since, and memberships that ended.
    expiry={"user_event_days": "DELETE FROM user_event_days WHERE tenant_id = :tenant "
                               "AND day < (SELECT day FROM kept)",
            "user_properties": "DELETE FROM user_properties WHERE tenant_id = :tenant "
                               "AND at < (SELECT at FROM kept)",
            "segment_members": "DELETE FROM segment_members WHERE tenant_id = :tenant "
                               "AND valid_to < (SELECT at FROM kept)"},
    tables=("user_event_days", "user_properties"),
    erase=tuple(f"DELETE FROM {table} WHERE tenant_id = :tenant AND user_key = :user_key" for table in (
        "user_event_days", "user_properties", "segment_dirty_users", "segment_users", "segment_members")),
)
