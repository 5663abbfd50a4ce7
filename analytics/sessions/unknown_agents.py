"""The tenant's choice for the unknown-agent class: sessions a server or relay sent without the end
user's agent (device type ``unknown``) are counted as people by default; a tenant may exclude them.

Changing the setting applies to sessions derived from then on and to the stored ones: their tier-1
flag and reason change at once, and every local day whose events change side is marked for the
counter correction (analytics.sessions.correction), as scanner exemptions do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import lock_tenant
from analytics.sessions.correction import mark_days
from analytics.sessions.scoring import local_days

UNKNOWN_AGENT = "unknown_agent"  # analytics.traffic.bot_lists.BotReason.UNKNOWN_AGENT (no parser here)
UNKNOWN_DEVICE = "unknown"  # analytics.traffic.agents.DeviceType.UNKNOWN


@dataclass(frozen=True)
class UnknownAgents:
    exclude: bool
    sessions_changed: int  # stored sessions whose tier-1 flag changed
    days_marked: int  # local days marked for a counter correction


_FLIP = text(
    f"""
    UPDATE sessions SET is_bot = :exclude, agent_reasons = CASE WHEN :exclude
        THEN CAST(:reason AS jsonb) || agent_reasons
        ELSE coalesce((SELECT jsonb_agg(r ORDER BY n) FROM jsonb_array_elements(agent_reasons)
                       WITH ORDINALITY AS x(r, n) WHERE r->>'code' <> '{UNKNOWN_AGENT}'), '[]'::jsonb) END
    WHERE tenant_id = :tenant AND device_type = '{UNKNOWN_DEVICE}' AND is_bot <> :exclude
    RETURNING started_at, last_seen_at, is_scanner OR is_behavioural_bot AS still_excluded
    """
)


async def set_unknown_agents(conn: AsyncConnection, tenant_id: int, exclude: bool,
                             tz: ZoneInfo) -> UnknownAgents:
    """Store the choice and apply it to the stored sessions (under the tenant's lock, so no rollup
    writes sessions meanwhile)."""
    await lock_tenant(conn, tenant_id)
    await conn.execute(text("UPDATE tenants SET exclude_unknown_agents = :exclude WHERE id = :tenant"),
                       {"exclude": exclude, "tenant": tenant_id})
    reason = json.dumps([{"tier": 1, "code": UNKNOWN_AGENT, "detail": None}])
    flipped = (await conn.execute(_FLIP, {"tenant": tenant_id, "exclude": exclude, "reason": reason})).all()
    days: set[date] = set()
    for row in flipped:
        if not row.still_excluded:  # its counted events change side
            days.update(local_days(row.started_at, row.last_seen_at, tz))
    await mark_days(conn, tenant_id, days)
    return UnknownAgents(exclude, len(flipped), len(days))
