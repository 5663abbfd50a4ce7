"""Tenant bot rules: user-agent patterns a tenant adds, applied to new sessions by the rollup and to
existing sessions retroactively by a worker job, which then corrects every affected day's counters.

A pattern is a case-insensitive substring (``python-httpx``) or an RE2 expression between slashes
(``/^curl\\//``); analytics.traffic.agents validates it (never empty, never matching ordinary
browsers). Rules are kept: the rollup's tier-1 check uses them for every session it derives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT
from analytics.sessions.correction import correct_days
from analytics.sessions.scoring import local_days
from analytics.traffic.agents import BotReason, is_bot, validate_bot_patterns


@dataclass(frozen=True)
class BotRule:
    id: int
    pattern: str
    note: str | None
    created_at: datetime
    status: str  # queued, running, done, failed
    sessions_flagged: int | None
    days_corrected: int | None
    finished_at: datetime | None
    error: str | None


_COLUMNS = ("id, pattern, note, created_at, status, sessions_flagged, days_corrected, finished_at, "
            "error")


async def add_rule(conn: AsyncConnection, pattern: str, note: str | None) -> BotRule:
    """Store a validated rule (queued for its retroactive run); ``InvalidArgument`` names the problem."""
    (clean,) = validate_bot_patterns([pattern])
    row = (await conn.execute(text(
        f"INSERT INTO bot_rules (tenant_id, pattern, note) "
        f"VALUES (CAST(current_setting('analytics.tenant_id') AS bigint), :pattern, :note) "
        f"ON CONFLICT (tenant_id, pattern) DO UPDATE SET status = 'queued', note = EXCLUDED.note, "
        f"finished_at = NULL, error = NULL RETURNING {_COLUMNS}"), {"pattern": clean, "note": note})).one()
    return BotRule(*row)


async def list_rules(conn: AsyncConnection, rule_id: int | None = None) -> list[BotRule]:
    rows = await conn.execute(text(
        f"SELECT {_COLUMNS} FROM bot_rules WHERE {CURRENT_TENANT} "
        "AND (CAST(:id AS bigint) IS NULL OR id = :id) ORDER BY id"), {"id": rule_id})
    return [BotRule(*row) for row in rows]


async def apply_rule(conn: AsyncConnection, tenant_id: int, rule_id: int, tz: ZoneInfo) -> BotRule | None:
    """Flag the tenant's existing sessions whose user agent the rule matches, then correct the
    counters of every local day they touched; the caller holds the tenant's lock."""
    found = await list_rules(conn, rule_id)
    if not found:
        return None
    rule = found[0]
    agents = [row[0] for row in await conn.execute(text(
        "SELECT DISTINCT user_agent FROM sessions WHERE tenant_id = :tenant AND NOT is_bot "
        "AND user_agent IS NOT NULL"), {"tenant": tenant_id})]
    matched = [agent for agent in agents
               if is_bot(agent, [rule.pattern]).reason_code == BotReason.TENANT_RULE]
    reason = json.dumps([{"tier": 1, "code": str(BotReason.TENANT_RULE), "detail": rule.pattern}])
    flagged = (await conn.execute(text(
        "UPDATE sessions SET is_bot = true, agent_reasons = CAST(:reason AS jsonb) || agent_reasons "
        "WHERE tenant_id = :tenant AND NOT is_bot AND user_agent = ANY(:agents) "
        "RETURNING started_at, last_seen_at, is_scanner OR is_behavioural_bot AS was_excluded"),
        {"tenant": tenant_id, "agents": matched, "reason": reason})).all()
    days: set[date] = set()
    for row in flagged:
        if not row.was_excluded:
            days.update(local_days(row.started_at, row.last_seen_at, tz))
    await correct_days(conn, tenant_id, sorted(days), tz)
    row = (await conn.execute(text(
        f"UPDATE bot_rules SET status = 'done', sessions_flagged = :flagged, days_corrected = :days, "
        f"finished_at = now(), error = NULL WHERE tenant_id = :tenant AND id = :id RETURNING {_COLUMNS}"),
        {"tenant": tenant_id, "id": rule_id, "flagged": len(flagged), "days": len(days)})).one()
    return BotRule(*row)
