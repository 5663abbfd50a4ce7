"""Retention: raw events kept per tenant, rollups, sessions and content facts kept for a deployment."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import tenant_transaction
from analytics.errors import InvalidArgument
from analytics.periods import local_midnight_sql
from analytics.rollups.registry import CONSUMERS
from analytics.settings import MIN_RAW_RETENTION_DAYS

# The first local day whose rollups are kept, and its local midnight (hour buckets start there).
_ROLLUP_DAY = "((CAST(:now AS timestamptz) AT TIME ZONE t.timezone)::date - CAST(:days AS integer))"
_ROLLUPS_FROM = (
    f"WITH kept AS (SELECT {_ROLLUP_DAY} AS day, {local_midnight_sql(_ROLLUP_DAY, 't.timezone')} AS at "
    "FROM tenants t WHERE t.id = :tenant) "
)
# Content items have no time of their own: they go with their content session. The rollup
# consumers' tables expire by their own statements (analytics.rollups.registry).
_EXPIRE_ROLLUPS = {
    **{table: statement for consumer in CONSUMERS for table, statement in consumer.expiry.items()},
    "sessions": "DELETE FROM sessions WHERE tenant_id = :tenant AND started_at < (SELECT at FROM kept)",
    "content_session_items": "DELETE FROM content_session_items i USING content_sessions c "
                             "WHERE i.tenant_id = :tenant AND c.tenant_id = :tenant "
                             "AND c.session_id = i.session_id AND c.content_id = i.content_id "
                             "AND c.started_at < (SELECT at FROM kept)",
    "content_sessions": "DELETE FROM content_sessions WHERE tenant_id = :tenant "
                        "AND started_at < (SELECT at FROM kept)",
    "content_conversations": "DELETE FROM content_conversations WHERE tenant_id = :tenant "
                             "AND started_at < (SELECT at FROM kept)",
}


@dataclass(frozen=True)
class TenantRetention:
    """What one run removed for one tenant; ``raw_events_from``: nothing older is kept."""

    tenant_id: int
    raw_events_from: datetime | None
    events_dropped: int  # in partitions dropped whole
    events_deleted: int
    rollup_rows: dict[str, int] = field(default_factory=dict)  # per table, rows past rollup retention

    @property
    def removed(self) -> int:
        return self.events_dropped + self.events_deleted + sum(self.rollup_rows.values())


@dataclass(frozen=True)
class RetentionRun:
    partitions_dropped: tuple[str, ...]
    tenants: tuple[TenantRetention, ...]

    def removed_rows(self) -> dict[str, int]:
        """Rows removed per table ("events" counts both dropped and deleted ones)."""
        totals: Counter[str] = Counter()
        for tenant in self.tenants:
            totals["events"] += tenant.events_dropped + tenant.events_deleted
            totals.update(tenant.rollup_rows)
        return dict(totals)


def check_raw_retention_days(days: int, rollup_days: int, *, name: str = "rawDays") -> int:
    """A tenant's raw retention: from a week up to the rollup retention (raw days must stay verifiable)."""
    if not MIN_RAW_RETENTION_DAYS <= days <= rollup_days:
        raise InvalidArgument(name, f"must be from {MIN_RAW_RETENTION_DAYS} to {rollup_days} days "
                                    f"(the rollup retention), not {days}")
    return days


async def set_raw_retention(conn: AsyncConnection, tenant_id: int, days: int, *, rollup_days: int) -> None:
    """Keep the tenant's raw events ``days`` days from the next retention run on (owner connection)."""
    check_raw_retention_days(days, rollup_days)
    await conn.execute(text("UPDATE tenants SET raw_retention_days = :days WHERE id = :tenant"),
                       {"days": days, "tenant": tenant_id})


@dataclass(frozen=True)
class RawRetention:
    days: int
    oldest_raw_event: datetime | None


async def raw_retention(conn: AsyncConnection, tenant_id: int) -> RawRetention:
    row = (await conn.execute(text(
        "SELECT raw_retention_days, "
        "(SELECT min(occurred_at) FROM events WHERE tenant_id = :tenant) AS oldest "
        "FROM tenants WHERE id = :tenant"), {"tenant": tenant_id})).one()
    return RawRetention(int(row.raw_retention_days), row.oldest)


async def enforce_retention(engine: AsyncEngine, *, now: datetime, rollup_days: int) -> RetentionRun:
    """Drop raw-event partitions expired for every tenant, then delete each tenant's raw events
    before its cutoff (recorded as ``raw_events_from``), then its rollups, sessions and content
    facts older than ``rollup_days`` local days. ``engine`` acts as the app role: the raw part goes
    through the SECURITY DEFINER functions of migration 0013, the rest under row-level security.
    Counters of expired raw days stay (they are the product)."""
    async with engine.begin() as conn:
        dropped = (await conn.execute(text("SELECT * FROM analytics_drop_expired_event_partitions(:now)"),
                                      {"now": now})).all()
    in_partitions: Counter[int] = Counter()
    for row in dropped:
        if row.tenant is not None:
            in_partitions[int(row.tenant)] += int(row.events)
    async with engine.begin() as conn:
        deleted = (await conn.execute(text("SELECT * FROM analytics_delete_expired_events(:now)"),
                                      {"now": now})).all()
    tenants = []
    for row in deleted:
        tenant_id = int(row.tenant)
        rollups = await _expire_rollups(engine, tenant_id, now=now, days=rollup_days)
        tenants.append(TenantRetention(tenant_id, row.kept_from, in_partitions[tenant_id], int(row.deleted),
                                       rollups))
    return RetentionRun(tuple(sorted({row.partition_name for row in dropped})), tuple(tenants))


async def _expire_rollups(engine: AsyncEngine, tenant_id: int, *, now: datetime, days: int) -> dict[str, int]:
    removed: dict[str, int] = {}
    async with tenant_transaction(engine, tenant_id) as conn:
        for table, statement in _EXPIRE_ROLLUPS.items():
            result = await conn.execute(text(_ROLLUPS_FROM + statement),
                                        {"tenant": tenant_id, "now": now, "days": days})
            if result.rowcount:
                removed[table] = int(result.rowcount)
    return removed

