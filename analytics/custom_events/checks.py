"""Recompute the custom event rollups from the raw events in SQL, for ``analytics rollups verify``.

Exact: counts per name and hour or day, distinct users per day, and every dimension value's count
given the values the day admitted (an admitted value counts every one of its events; the rest of the
day's values count under ``(other)``, missing ones under ``(none)``). Which values arrived first is
not in the raw events, so of the admissions only their number is checked: the smaller of the day's
distinct values and the cap.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.custom_events.values import DIMENSION_CAP, NONE, OTHER, value_sql
from analytics.rollups.consumers import Difference, compare

_CUSTOM = f""",
custom AS (
    SELECT e.name, e.occurred_at, e.properties,
           e.occurred_at AT TIME ZONE (SELECT timezone FROM kept) AS local_at,
           coalesce('u:' || e.user_id, 'a:' || e.anonymous_id) AS user_key,
           coalesce(s.excluded, false) AS bot
    FROM events e LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_key
    WHERE e.tenant_id = :tenant AND e.type = 'Custom' AND e.occurred_at >= (SELECT at FROM kept)
),
valued AS (
    SELECT c.name, d.dimension, c.local_at::date AS day, c.bot,
           {value_sql('c.properties', 'd.dimension')} AS value
    FROM custom c JOIN event_dimensions d ON d.tenant_id = :tenant AND d.name = c.name
    WHERE d.status = 'done' OR (d.status = 'running' AND c.local_at::date <= d.backfill_through)
),
admitted AS (
    SELECT name, dimension, day, value FROM custom_event_admitted
    WHERE tenant_id = :tenant AND day >= (SELECT day FROM kept)
)
"""

_CHECKS = {
    "custom_events_hourly": (
        "SELECT name, occurred_at - make_interval(mins => extract(minute FROM local_at)::int, "
        "secs => extract(second FROM local_at)) AS bucket, bot, count(*) FROM custom GROUP BY 1, 2, 3",
        "SELECT name, bucket, bot, value FROM custom_events_hourly "
        "WHERE tenant_id = :tenant AND bucket >= (SELECT at FROM kept)",
    ),
    "custom_events_daily": (
        "SELECT name, local_at::date, bot, count(*) FROM custom GROUP BY 1, 2, 3",
        "SELECT name, day, bot, value FROM custom_events_daily WHERE tenant_id = :tenant "
        "AND day >= (SELECT day FROM kept)",
    ),
    "custom_event_users": (
        "SELECT DISTINCT name, local_at::date, bot, user_key FROM custom WHERE user_key IS NOT NULL",
        "SELECT name, day, bot, user_key FROM custom_event_users WHERE tenant_id = :tenant "
        "AND day >= (SELECT day FROM kept)",
    ),
    "custom_event_values": (
        f"SELECT v.name, v.dimension, v.day, v.bot, CASE WHEN v.value = '{NONE}' OR a.value IS NOT NULL "
        f"THEN v.value ELSE '{OTHER}' END, count(*) FROM valued v LEFT JOIN admitted a ON a.name = v.name "
        "AND a.dimension = v.dimension AND a.day = v.day AND a.value = v.value GROUP BY 1, 2, 3, 4, 5",
        "SELECT name, dimension, day, bot, value, count FROM custom_event_values "
        "WHERE tenant_id = :tenant AND day >= (SELECT day FROM kept)",
    ),
    "custom_event_admitted": (
        f"SELECT name, dimension, day, least(count(DISTINCT value), {DIMENSION_CAP}) FROM valued "
        f"WHERE value <> '{NONE}' GROUP BY 1, 2, 3",
        "SELECT name, dimension, day, count(*) FROM admitted GROUP BY 1, 2, 3",
    ),
}


async def verify_custom_events(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    found = [await compare(conn, tenant_id, table, want, have, ctes=_CUSTOM)
             for table, (want, have) in _CHECKS.items()]
    return [d for d in found if d is not None]
