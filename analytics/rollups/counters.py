"""The tour and content counters as a rollup consumer. Writing counter increments: one upsert per
table, in sorted key order, so concurrent writers never deadlock (the rollup and the day
corrections both write through here)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.rollups.aggregate import Aggregate, aggregate
from analytics.rollups.consumers import Claim, Consumer
from analytics.rollups.counter_checks import verify_counters

_UPSERT_HOURLY = text(
    """
    INSERT INTO counters_hourly (tenant_id, entity_type, entity_id, metric, step_index, bucket, bot,
                                 value)
    SELECT :tenant, * FROM unnest(CAST(:entity_type AS text[]), CAST(:entity_id AS text[]),
        CAST(:metric AS text[]), CAST(:step_index AS integer[]), CAST(:bucket AS timestamptz[]),
        CAST(:bot AS boolean[]), CAST(:value AS bigint[]))
    ON CONFLICT (tenant_id, entity_type, entity_id, metric, step_index, bucket, bot)
    DO UPDATE SET value = counters_hourly.value + EXCLUDED.value
    """
)
_UPSERT_DAILY = text(
    """
    INSERT INTO counters_daily (tenant_id, entity_type, entity_id, metric, step_index, day, bot, value)
    SELECT :tenant, * FROM unnest(CAST(:entity_type AS text[]), CAST(:entity_id AS text[]),
        CAST(:metric AS text[]), CAST(:step_index AS integer[]), CAST(:day AS date[]),
        CAST(:bot AS boolean[]), CAST(:value AS bigint[]))
    ON CONFLICT (tenant_id, entity_type, entity_id, metric, step_index, day, bot)
    DO UPDATE SET value = counters_daily.value + EXCLUDED.value
    """
)
_INSERT_USERS = text(
    """
    INSERT INTO daily_users (tenant_id, entity_type, entity_id, metric, step_index, day, bot, user_key)
    SELECT :tenant, * FROM unnest(CAST(:entity_type AS text[]), CAST(:entity_id AS text[]),
        CAST(:metric AS text[]), CAST(:step_index AS integer[]), CAST(:day AS date[]),
        CAST(:bot AS boolean[]), CAST(:user_key AS text[]))
    ON CONFLICT DO NOTHING
    """
)
_UPSERT_SELECTORS = text(
    """
    INSERT INTO selector_failures_daily
        (tenant_id, entity_type, entity_id, selector, url, day, bot, failures, last_seen_at)
    SELECT :tenant, * FROM unnest(CAST(:entity_type AS text[]), CAST(:entity_id AS text[]),
        CAST(:selector AS text[]), CAST(:url AS text[]), CAST(:day AS date[]), CAST(:bot AS boolean[]),
        CAST(:failures AS bigint[]), CAST(:last_seen_at AS timestamptz[]))
    ON CONFLICT (tenant_id, entity_type, entity_id, selector, url, day, bot)
    DO UPDATE SET failures = selector_failures_daily.failures + EXCLUDED.failures,
                  last_seen_at = greatest(selector_failures_daily.last_seen_at, EXCLUDED.last_seen_at)
    """
)
_UPSERT_TOURS = text(
    """
    INSERT INTO tours (tenant_id, id, first_seen_at, last_seen_at)
    SELECT :tenant, * FROM unnest(CAST(:id AS text[]), CAST(:first_seen_at AS timestamptz[]),
        CAST(:last_seen_at AS timestamptz[]))
    ON CONFLICT (tenant_id, id) DO UPDATE SET
        first_seen_at = least(tours.first_seen_at, EXCLUDED.first_seen_at),
        last_seen_at = greatest(tours.last_seen_at, EXCLUDED.last_seen_at)
    """
)
_UPSERT_STEPS = text(
    """
    INSERT INTO tour_steps (tenant_id, tour_id, step_index, step_id)
    SELECT :tenant, * FROM unnest(CAST(:tour_id AS text[]), CAST(:step_index AS integer[]),
        CAST(:step_id AS text[]))
    ON CONFLICT (tenant_id, tour_id, step_index)
    DO UPDATE SET step_id = coalesce(tour_steps.step_id, EXCLUDED.step_id)
    """
)


def _columns(names: tuple[str, ...], rows: Sequence[Sequence[object]]) -> dict[str, object]:
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


async def write_counters(conn: AsyncConnection, tenant_id: int, agg: Aggregate) -> None:
    """Upserts in sorted key order, one statement per table, so concurrent jobs never deadlock."""
    key_names = ("entity_type", "entity_id", "metric", "step_index")
    writes: list[tuple[TextClause, tuple[str, ...], list[tuple[object, ...]]]] = [
        (_UPSERT_TOURS, ("id", "first_seen_at", "last_seen_at"),
         [(tour, *seen) for tour, seen in sorted(agg.tours_seen.items())]),
        (_UPSERT_STEPS, ("tour_id", "step_index", "step_id"),
         [(*key, step_id) for key, step_id in sorted(agg.steps_seen.items())]),
        (_UPSERT_HOURLY, (*key_names, "bucket", "bot", "value"),
         [(*key, value) for key, value in sorted(agg.hourly.items())]),
        (_UPSERT_DAILY, (*key_names, "day", "bot", "value"),
         [(*key, value) for key, value in sorted(agg.daily.items())]),
        (_INSERT_USERS, (*key_names, "day", "bot", "user_key"), [tuple(row) for row in sorted(agg.users)]),
        (_UPSERT_SELECTORS,
         ("entity_type", "entity_id", "selector", "url", "day", "bot", "failures", "last_seen_at"),
         [(*key, *seen) for key, seen in sorted(agg.selector_failures.items())]),
    ]
    for statement, names, rows in writes:
        if rows:
            await conn.execute(statement, {"tenant": tenant_id, **_columns(names, rows)})


async def _consume(conn: AsyncConnection, claim: Claim) -> None:
    await write_counters(conn, claim.tenant_id, aggregate(claim.with_bot(), claim.tz))


_DAY = "WHERE tenant_id = :tenant AND day < (SELECT day FROM kept)"
COUNTERS = Consumer(
    "counters", _consume, verify_counters,
    day_clears=(
        "DELETE FROM counters_hourly WHERE tenant_id = :tenant AND bucket >= :start AND bucket < :end",
        "DELETE FROM counters_daily WHERE tenant_id = :tenant AND day = :day",
        "DELETE FROM daily_users WHERE tenant_id = :tenant AND day = :day",
        "DELETE FROM selector_failures_daily WHERE tenant_id = :tenant AND day = :day",
    ),
    expiry={
        "counters_hourly": "DELETE FROM counters_hourly WHERE tenant_id = :tenant "
                           "AND bucket < (SELECT at FROM kept)",
        "counters_daily": f"DELETE FROM counters_daily {_DAY}",
        "daily_users": f"DELETE FROM daily_users {_DAY}",
        "selector_failures_daily": f"DELETE FROM selector_failures_daily {_DAY}",
    },
    tables=("counters_hourly", "counters_daily", "daily_users", "selector_failures_daily"),
    erase=("DELETE FROM daily_users WHERE tenant_id = :tenant AND user_key = :user_key",),
)
