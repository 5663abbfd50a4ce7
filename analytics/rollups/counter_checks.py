"""Recompute the tour and content counters from the raw events in SQL, independently of the
worker's code (analytics.rollups.aggregate), for ``analytics rollups verify``.

An event counts on the bot side when the session it belongs to (``events.session_key``) is
excluded as a bot now, whatever it was when the event was first counted.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.ingest.catalogue import CATALOGUE, USER_METRICS
from analytics.rollups.consumers import Difference, compare


def _kinds_values() -> str:
    return ", ".join(
        f"('{k.name}', {repr(k.entity_type) if k.entity_type else 'NULL'}, '{k.metric}')"
        for k in CATALOGUE.values() if k.rolled_up
    )


def _user_metrics() -> str:
    return ", ".join(f"'{m}'" for m in sorted(USER_METRICS))


# Each raw event, expanded to its whole-entity row and (for tours) its step row.
_EXPANDED = f""",
typed AS (
    SELECT e.*, k.metric,
           coalesce(k.entity_type, CASE WHEN e.tour_id IS NOT NULL THEN 'tour' ELSE 'content' END)
               AS entity_type,
           coalesce(s.excluded, false) AS bot
    FROM events e JOIN (VALUES {_kinds_values()}) AS k(type, entity_type, metric) USING (type)
    LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_key
    WHERE e.tenant_id = :tenant AND e.occurred_at >= (SELECT at FROM kept)
),
located AS (
    SELECT t.*, CASE WHEN t.entity_type = 'tour' THEN t.tour_id ELSE t.content_id END AS entity_id,
           coalesce('u:' || t.user_id, 'a:' || t.anonymous_id) AS user_key,
           t.occurred_at AT TIME ZONE (SELECT timezone FROM kept) AS local_at
    FROM typed t
),
expanded AS (
    SELECT entity_type, entity_id, metric, -1 AS step_index, occurred_at, local_at, user_key, bot
    FROM located
    UNION ALL
    SELECT entity_type, entity_id, metric, step_index, occurred_at, local_at, user_key, bot
    FROM located WHERE entity_type = 'tour' AND step_index IS NOT NULL
)
"""

_CHECKS = {
    "counters_daily": (
        "SELECT entity_type, entity_id, metric, step_index, local_at::date AS day, bot, count(*) AS value "
        "FROM expanded GROUP BY 1, 2, 3, 4, 5, 6",
        "SELECT entity_type, entity_id, metric, step_index, day, bot, value FROM counters_daily "
        "WHERE tenant_id = :tenant AND day >= (SELECT day FROM kept)",
    ),
    "counters_hourly": (
        "SELECT entity_type, entity_id, metric, step_index, "
        "occurred_at - make_interval(mins => extract(minute FROM local_at)::int, "
        "secs => extract(second FROM local_at)) AS bucket, bot, count(*) AS value "
        "FROM expanded GROUP BY 1, 2, 3, 4, 5, 6",
        "SELECT entity_type, entity_id, metric, step_index, bucket, bot, value FROM counters_hourly "
        "WHERE tenant_id = :tenant AND bucket >= (SELECT at FROM kept)",
    ),
    "daily_users": (
        "SELECT DISTINCT entity_type, entity_id, metric, step_index, local_at::date, bot, user_key "
        f"FROM expanded WHERE metric IN ({_user_metrics()})",
        "SELECT entity_type, entity_id, metric, step_index, day, bot, user_key FROM daily_users "
        "WHERE tenant_id = :tenant AND day >= (SELECT day FROM kept)",
    ),
    "selector_failures_daily": (
        "SELECT entity_type, entity_id, selector, coalesce(url, ''), local_at::date, bot, count(*), "
        "max(occurred_at) FROM located WHERE metric = 'target_failures' AND selector IS NOT NULL "
        "GROUP BY 1, 2, 3, 4, 5, 6",
        "SELECT entity_type, entity_id, selector, url, day, bot, failures, last_seen_at "
        "FROM selector_failures_daily WHERE tenant_id = :tenant AND day >= (SELECT day FROM kept)",
    ),
}


async def verify_counters(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    """Counter tables whose rows differ from the recomputation ([] when equal)."""
    found = [await compare(conn, tenant_id, table, want, have, ctes=_EXPANDED)
             for table, (want, have) in _CHECKS.items()]
    return [d for d in found if d is not None]
