"""Re-derive stored sessions under the identity rule (analytics.ingest.origin): events stored before
it carry the visitor id of their request's address and agent, so a relay's users were one visitor.

For each UTC day of the tenant's events, one transaction under the tenant's lock:

1. every event with a userId or anonymousId gets its identity's visitor id (and no ``visitor_prev``);
   one whose stored agent is not a browser's and whose context sent none (a library's request, or a
   request without an agent) becomes server-sourced as ingest now files it: no agent (the
   unknown-agent class) and no request address;
2. the sessions of the visitors before and after, from 24 hours before the day to 24 hours after,
   are derived again (analytics.sessions.upkeep.rederive_visitors); local days whose counted events
   change side are marked, and corrected after the last day, so counters equal a recomputation.

Events ingested under the rule are left as they are (the update is a fixed point for them), so a
run stopped part way is simply run again. ``tenants.identity_version`` says when a tenant is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import lock_tenant, tenant_transaction
from analytics.ingest.origin import IDENTITY_SQL
from analytics.sessions.exemptions import usable_exemptions
from analytics.sessions.rules import usable_patterns
from analytics.sessions.upkeep import rederive_visitors
from analytics.traffic.sessions import LENGTH_LIMIT

IDENTITY_VERSION = 1  # tenants.identity_version once every stored event follows the identity rule
_BROWSER = r"^\s*(Mozilla|Opera)/"  # analytics.ingest.origin.is_browser_agent

_REKEY = text(
    f"""
    WITH old AS (
        SELECT id, occurred_at, visitor_id AS old_visitor, visitor_prev AS old_prev,
               {IDENTITY_SQL} AS identity,
               coalesce(user_agent, '') !~ '{_BROWSER}'
                   AND NOT coalesce(context ? 'userAgent', false) AS server
        FROM events
        WHERE tenant_id = :tenant AND occurred_at >= :lo AND occurred_at < :hi AND NOT server_source
          AND (user_id IS NOT NULL OR anonymous_id IS NOT NULL) AND visitor_id IS NOT NULL
    )
    UPDATE events e SET visitor_id = old.identity, visitor_prev = NULL, server_source = old.server,
        user_agent = CASE WHEN old.server THEN NULL ELSE e.user_agent END,
        ip_address = CASE WHEN old.server THEN NULL ELSE e.ip_address END
    FROM old
    WHERE e.tenant_id = :tenant AND e.occurred_at = old.occurred_at AND e.id = old.id
      AND (old.old_visitor <> old.identity OR old.old_prev IS NOT NULL OR old.server)
    RETURNING old.old_visitor, old.old_prev, old.identity
    """
)
_PENDING = text("SELECT tenant_id FROM analytics_identity_pending(CAST(:v AS smallint))")
_SPAN = text("SELECT min(occurred_at), max(occurred_at) FROM events WHERE tenant_id = :tenant")
_TENANT = text("SELECT timezone, scanner_exempt_rules, exclude_unknown_agents, "
               "ARRAY(SELECT pattern FROM bot_rules WHERE tenant_id = :tenant ORDER BY id) AS patterns "
               "FROM tenants WHERE id = :tenant")


@dataclass(frozen=True)
class IdentityRun:
    events_rekeyed: int
    sessions_written: int
    sessions_removed: int
    days_marked: int


async def rederive_identities(engine: AsyncEngine, tenant_id: int) -> IdentityRun:
    """Bring the tenant's stored events and sessions under the identity rule, one UTC day a
    transaction, and set ``identity_version``; the caller corrects the marked days afterwards."""
    async with tenant_transaction(engine, tenant_id) as conn:
        first, last = (await conn.execute(_SPAN, {"tenant": tenant_id})).one()
    rekeyed = written = removed = 0
    days: set[date] = set()
    day = datetime.combine(first.astimezone(UTC).date(), datetime.min.time(), UTC) if first else None
    while day is not None and last is not None and day <= last:
        async with tenant_transaction(engine, tenant_id) as conn:
            await lock_tenant(conn, tenant_id)
            tenant = (await conn.execute(_TENANT, {"tenant": tenant_id})).one()
            moved = (await conn.execute(_REKEY, {"tenant": tenant_id, "lo": day,
                                                 "hi": day + timedelta(days=1)})).all()
            if moved:
                visitors = {v for row in moved for v in row if v}
                upkeep = await rederive_visitors(
                    conn, tenant_id, visitors, day - LENGTH_LIMIT, day + timedelta(days=1) + LENGTH_LIMIT,
                    ZoneInfo(tenant.timezone), usable_patterns(tenant.patterns),
                    usable_exemptions(tenant.scanner_exempt_rules), tenant.exclude_unknown_agents)
                rekeyed += len(moved)
                written, removed = written + upkeep.sessions_written, removed + upkeep.sessions_removed
                days.update(upkeep.dirty_days)
        day += timedelta(days=1)
    async with tenant_transaction(engine, tenant_id) as conn:
        await conn.execute(text("UPDATE tenants SET identity_version = GREATEST(identity_version, :v) "
                                "WHERE id = :tenant"), {"v": IDENTITY_VERSION, "tenant": tenant_id})
    return IdentityRun(rekeyed, written, removed, len(days))


async def tenants_to_rederive(engine: AsyncEngine) -> list[int]:
    """Tenants whose stored events predate the identity rule (migration 0020)."""
    async with engine.connect() as conn:
        rows = await conn.execute(_PENDING, {"v": IDENTITY_VERSION})
        return [int(row.tenant_id) for row in rows]
