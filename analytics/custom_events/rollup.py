"""Custom events as a rollup consumer: hourly and daily counts per event name, distinct users per
day and name, and daily counts per declared dimension value under the cardinality cap.

Every row is split by ``bot`` per tenant-local day (day corrections re-fold it). The cap: on each
local day, the first ``DIMENSION_CAP`` distinct values of a (name, dimension) to be counted win a
place (``custom_event_admitted``, which corrections leave alone so a re-fold lands on the same
values); later values count under ``(other)``. Events without the property count under ``(none)``,
which takes no place. A dimension counts from the moment its backfill is done; while the backfill
runs, only for the local days it has reached (analytics.custom_events.backfill).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.custom_events.checks import verify_custom_events
from analytics.custom_events.values import DIMENSION_CAP, NONE, OTHER, dimension_value
from analytics.periods import hour_floor
from analytics.rollups.aggregate import RawEvent, user_key
from analytics.rollups.consumers import Claim, Consumer

_UPSERT_HOURLY = text(
    """
    INSERT INTO custom_events_hourly (tenant_id, name, bucket, bot, value)
    SELECT :tenant, * FROM unnest(CAST(:name AS text[]), CAST(:bucket AS timestamptz[]),
        CAST(:bot AS boolean[]), CAST(:value AS bigint[]))
    ON CONFLICT (tenant_id, name, bucket, bot)
    DO UPDATE SET value = custom_events_hourly.value + EXCLUDED.value
    """
)
_UPSERT_DAILY = text(
    """
    INSERT INTO custom_events_daily (tenant_id, name, day, bot, value)
    SELECT :tenant, * FROM unnest(CAST(:name AS text[]), CAST(:day AS date[]), CAST(:bot AS boolean[]),
        CAST(:value AS bigint[]))
    ON CONFLICT (tenant_id, name, day, bot) DO UPDATE SET value = custom_events_daily.value + EXCLUDED.value
    """
)
_INSERT_USERS = text(
    """
    INSERT INTO custom_event_users (tenant_id, name, day, bot, user_key)
    SELECT :tenant, * FROM unnest(CAST(:name AS text[]), CAST(:day AS date[]), CAST(:bot AS boolean[]),
        CAST(:user_key AS text[]))
    ON CONFLICT DO NOTHING
    """
)
_UPSERT_VALUES = text(
    """
    INSERT INTO custom_event_values (tenant_id, name, dimension, day, bot, value, count)
    SELECT :tenant, * FROM unnest(CAST(:name AS text[]), CAST(:dimension AS text[]), CAST(:day AS date[]),
        CAST(:bot AS boolean[]), CAST(:value AS text[]), CAST(:count AS bigint[]))
    ON CONFLICT (tenant_id, name, dimension, day, bot, value)
    DO UPDATE SET count = custom_event_values.count + EXCLUDED.count
    """
)
_ADMIT = text(
    """
    INSERT INTO custom_event_admitted (tenant_id, name, dimension, day, value)
    SELECT :tenant, * FROM unnest(CAST(:name AS text[]), CAST(:dimension AS text[]), CAST(:day AS date[]),
        CAST(:value AS text[]))
    ON CONFLICT DO NOTHING
    """
)
_ACTIVE = text(
    "SELECT name, dimension, status, backfill_through FROM event_dimensions "
    "WHERE tenant_id = :tenant AND name = ANY(CAST(:names AS text[])) AND status <> 'pending'"
)
# How many values each (name, dimension, day) has admitted, and which of the candidates are among them.
_ADMITTED_COUNTS = text(
    """
    SELECT a.name, a.dimension, a.day, count(*) FROM custom_event_admitted a
    JOIN unnest(CAST(:name AS text[]), CAST(:dimension AS text[]), CAST(:day AS date[]))
        AS k(name, dimension, day)
      ON a.name = k.name AND a.dimension = k.dimension AND a.day = k.day
    WHERE a.tenant_id = :tenant GROUP BY 1, 2, 3
    """
)
_ADMITTED_VALUES = text(
    """
    SELECT a.name, a.dimension, a.day, a.value FROM custom_event_admitted a
    JOIN unnest(CAST(:name AS text[]), CAST(:dimension AS text[]), CAST(:day AS date[]),
                CAST(:value AS text[])) AS k(name, dimension, day, value)
      ON a.name = k.name AND a.dimension = k.dimension AND a.day = k.day AND a.value = k.value
    WHERE a.tenant_id = :tenant
    """
)

DayKey = tuple[str, str, date]  # (event name, dimension, local day)


@dataclass
class CustomAggregate:
    hourly: Counter[tuple[str, datetime, bool]] = field(default_factory=Counter)
    daily: Counter[tuple[str, date, bool]] = field(default_factory=Counter)
    users: set[tuple[str, date, bool, str]] = field(default_factory=set)


def fold_counts(events: Iterable[tuple[RawEvent, bool]], tz: ZoneInfo) -> CustomAggregate:
    agg = CustomAggregate()
    for event, bot in events:
        assert event.name is not None
        day = event.occurred_at.astimezone(tz).date()
        agg.hourly[(event.name, hour_floor(event.occurred_at, tz), bot)] += 1
        agg.daily[(event.name, day, bot)] += 1
        if event.user_id is not None or event.anonymous_id is not None:
            agg.users.add((event.name, day, bot, user_key(event.user_id, event.anonymous_id)))
    return agg


def _columns(names: tuple[str, ...], rows: Sequence[Sequence[object]]) -> dict[str, object]:
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


async def _write(conn: AsyncConnection, tenant_id: int, statement: TextClause, names: tuple[str, ...],
                 rows: list[tuple[object, ...]]) -> None:
    if rows:
        await conn.execute(statement, {"tenant": tenant_id, **_columns(names, rows)})


async def write_counts(conn: AsyncConnection, tenant_id: int, agg: CustomAggregate) -> None:
    await _write(conn, tenant_id, _UPSERT_HOURLY, ("name", "bucket", "bot", "value"),
                 [(*k, v) for k, v in sorted(agg.hourly.items())])
    await _write(conn, tenant_id, _UPSERT_DAILY, ("name", "day", "bot", "value"),
                 [(*k, v) for k, v in sorted(agg.daily.items())])
    await _write(conn, tenant_id, _INSERT_USERS, ("name", "day", "bot", "user_key"),
                 [tuple(k) for k in sorted(agg.users)])


# name -> [(dimension, last local day it counts, None: every day)]
ActiveDimensions = Mapping[str, Sequence[tuple[str, date | None]]]


async def active_dimensions(conn: AsyncConnection, tenant_id: int, names: Sequence[str]) -> ActiveDimensions:
    active: dict[str, list[tuple[str, date | None]]] = {}
    for row in await conn.execute(_ACTIVE, {"tenant": tenant_id, "names": sorted(set(names))}):
        if row.status == "done":
            active.setdefault(row.name, []).append((row.dimension, None))
        elif row.backfill_through is not None:
            active.setdefault(row.name, []).append((row.dimension, row.backfill_through))
    return active


async def write_dimensions(conn: AsyncConnection, tenant_id: int, tz: ZoneInfo,
                           events: Iterable[tuple[RawEvent, bool]], active: ActiveDimensions,
                           cap: int = DIMENSION_CAP) -> None:
    """Count the events' values of their names' active dimensions, admitting new values (in order of
    occurrence) while the day has room under ``cap``."""
    found: list[tuple[DayKey, str, bool]] = []
    for event, bot in sorted(events, key=lambda pair: (pair[0].occurred_at, str(pair[0].id))):
        dimensions = active.get(event.name or "")
        if not dimensions:
            continue
        day = event.occurred_at.astimezone(tz).date()
        for dimension, through in dimensions:
            if through is None or day <= through:
                value = dimension_value(event.properties, dimension)
                found.append(((event.name or "", dimension, day), value, bot))
    if not found:
        return
    keys = sorted({key for key, _, _ in found})
    candidates = sorted({(*key, value) for key, value, _ in found if value != NONE})
    admitted_count: dict[DayKey, int] = {}
    for row in await conn.execute(_ADMITTED_COUNTS, {"tenant": tenant_id, **_columns(
            ("name", "dimension", "day"), keys)}):
        admitted_count[(row[0], row[1], row[2])] = int(row[3])
    admitted: set[tuple[str, str, date, str]] = set()
    if candidates:
        admitted = {(r[0], r[1], r[2], r[3]) for r in await conn.execute(_ADMITTED_VALUES, {
            "tenant": tenant_id, **_columns(("name", "dimension", "day", "value"), candidates)})}
    new: list[tuple[str, str, date, str]] = []
    counts: Counter[tuple[str, str, date, bool, str]] = Counter()
    for key, value, bot in found:
        if value != NONE and (*key, value) not in admitted:
            if admitted_count.get(key, 0) < cap:
                admitted.add((*key, value))
                admitted_count[key] = admitted_count.get(key, 0) + 1
                new.append((*key, value))
            else:
                value = OTHER
        counts[(*key, bot, value)] += 1
    await _write(conn, tenant_id, _ADMIT, ("name", "dimension", "day", "value"), sorted(new))
    await _write(conn, tenant_id, _UPSERT_VALUES, ("name", "dimension", "day", "bot", "value", "count"),
                 [(*k, v) for k, v in sorted(counts.items())])


async def consume(conn: AsyncConnection, claim: Claim) -> None:
    customs = [(event, bot) for event, bot in claim.with_bot() if event.name is not None]
    if not customs:
        return
    await write_counts(conn, claim.tenant_id, fold_counts(customs, claim.tz))
    active = await active_dimensions(conn, claim.tenant_id, [e.name for e, _ in customs if e.name])
    if active:
        await write_dimensions(conn, claim.tenant_id, claim.tz, customs, active)


_DAY = "WHERE tenant_id = :tenant AND day < (SELECT day FROM kept)"
CUSTOM_EVENTS = Consumer(
    "custom_events", consume, verify_custom_events,
    day_clears=(
        "DELETE FROM custom_events_hourly WHERE tenant_id = :tenant AND bucket >= :start AND bucket < :end",
        "DELETE FROM custom_events_daily WHERE tenant_id = :tenant AND day = :day",
        "DELETE FROM custom_event_users WHERE tenant_id = :tenant AND day = :day",
        "DELETE FROM custom_event_values WHERE tenant_id = :tenant AND day = :day",
    ),
    expiry={
        "custom_events_hourly": "DELETE FROM custom_events_hourly WHERE tenant_id = :tenant "
                                "AND bucket < (SELECT at FROM kept)",
        "custom_events_daily": f"DELETE FROM custom_events_daily {_DAY}",
        "custom_event_users": f"DELETE FROM custom_event_users {_DAY}",
        "custom_event_values": f"DELETE FROM custom_event_values {_DAY}",
        "custom_event_admitted": f"DELETE FROM custom_event_admitted {_DAY}",
    },
    tables=("custom_events_hourly", "custom_events_daily", "custom_event_users", "custom_event_values",
            "custom_event_admitted"),
    erase=("DELETE FROM custom_event_users WHERE tenant_id = :tenant AND user_key = :user_key",),
)
