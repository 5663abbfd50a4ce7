"""Tenant bot rules: user-agent patterns a tenant adds, applied to new sessions by the rollup and to
existing sessions retroactively by a worker job, which then corrects every affected day's counters.

A pattern is a case-insensitive substring (``python-httpx``) or an RE2 expression between slashes
(``/^curl\\//``); analytics.traffic.agents validates it (never empty, never matching ordinary
browsers). Rules are kept: the rollup's tier-1 check uses them for every session it derives.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT
from analytics.errors import InvalidArgument
from analytics.sessions.correction import mark_days
from analytics.sessions.scoring import local_days
from analytics.traffic.agents import MAX_TENANT_PATTERNS, BotReason, is_bot, validate_bot_patterns


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


log = logging.getLogger("analytics.bots")
_COLUMNS = ("id, pattern, note, created_at, status, sessions_flagged, days_corrected, finished_at, "
            "error")


async def add_rule(conn: AsyncConnection, pattern: str, note: str | None) -> BotRule:
    """Store a validated rule (queued for its retroactive run); ``InvalidArgument`` names the problem."""
    (clean,) = validate_bot_patterns([pattern])
    existing = [r.pattern for r in await list_rules(conn)]
    if clean not in existing and len(existing) >= MAX_TENANT_PATTERNS:
        raise InvalidArgument("pattern", f"a tenant has at most {MAX_TENANT_PATTERNS} bot rules")
    row = (await conn.execute(text(
        f"INSERT INTO bot_rules (tenant_id, pattern, note) "
        f"VALUES (CAST(current_setting('analytics.tenant_id') AS bigint), :pattern, :note) "
        f"ON CONFLICT (tenant_id, pattern) DO UPDATE SET status = 'queued', note = EXCLUDED.note, "
        f"finished_at = NULL, error = NULL, sessions_flagged = NULL, days_corrected = NULL "
        f"RETURNING {_COLUMNS}"), {"pattern": clean, "note": note})).one()
    return BotRule(*row)


def usable_patterns(patterns: Sequence[str]) -> list[str]:
    """The stored patterns the rollup can use: each valid one, at most the limit. A rule stored before
    the rules changed (or a limit lowered) is skipped and logged, never allowed to stop rollups."""
    usable: list[str] = []
    for pattern in patterns:
        try:
            usable.extend(validate_bot_patterns([pattern]))
        except InvalidArgument as exc:
            log.warning("bot rule %r skipped: %s", pattern, exc)
    return usable[:MAX_TENANT_PATTERNS]


async def list_rules(conn: AsyncConnection, rule_id: int | None = None) -> list[BotRule]:
    rows = await conn.execute(text(
        f"SELECT {_COLUMNS} FROM bot_rules WHERE {CURRENT_TENANT} "
        "AND (CAST(:id AS bigint) IS NULL OR id = :id) ORDER BY id"), {"id": rule_id})
    return [BotRule(*row) for row in rows]


async def apply_rule(conn: AsyncConnection, tenant_id: int, rule_id: int, tz: ZoneInfo) -> BotRule | None:
    """Flag the tenant's existing sessions whose user agent the rule matches and mark every local day
    they touched for correction; the caller holds the tenant's lock and corrects the days after."""
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
    await mark_days(conn, tenant_id, days)
    row = (await conn.execute(text(
        f"UPDATE bot_rules SET status = 'running', "
        f"sessions_flagged = coalesce(sessions_flagged, 0) + :flagged, "
        f"days_corrected = coalesce(days_corrected, 0) + :days, error = NULL "
        f"WHERE tenant_id = :tenant AND id = :id RETURNING {_COLUMNS}"),
        {"tenant": tenant_id, "id": rule_id, "flagged": len(flagged), "days": len(days)})).one()
    return BotRule(*row)


async def finish_rule(conn: AsyncConnection, rule_id: int) -> BotRule:
    row = (await conn.execute(text(
        f"UPDATE bot_rules SET status = 'done', finished_at = now() WHERE {CURRENT_TENANT} AND id = :id "
        f"RETURNING {_COLUMNS}"), {"id": rule_id})).one()
    return BotRule(*row)
