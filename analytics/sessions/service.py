"""Session work outside the rollup: behavioural scoring with counter corrections, and retroactive
bot rules. Each runs in one tenant transaction holding the tenant's lock (the rollup's too), so
sessions and counters never see two writers at once, and a crash leaves everything or nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import tenant_transaction
from analytics.rollups.service import TENANT_LOCK
from analytics.sessions.correction import correct_dirty_days
from analytics.sessions.rules import BotRule, apply_rule
from analytics.sessions.scoring import score_sessions


@dataclass(frozen=True)
class Maintenance:
    scored: int
    flag_changes: int
    corrected_days: tuple[date, ...]


async def _locked(conn: AsyncConnection, tenant_id: int) -> ZoneInfo:
    await conn.execute(TENANT_LOCK, {"tenant": tenant_id})
    name = (await conn.execute(text("SELECT timezone FROM tenants WHERE id = :tenant"),
                               {"tenant": tenant_id})).scalar_one()
    return ZoneInfo(name)


async def maintain_sessions(engine: AsyncEngine, tenant_id: int) -> Maintenance:
    """Score the sessions the rollup changed, then correct the days whose counted events changed
    side (from scoring, a later scanner request or merged sessions)."""
    async with tenant_transaction(engine, tenant_id) as conn:
        tz = await _locked(conn, tenant_id)
        scoring = await score_sessions(conn, tenant_id, tz)
        corrected = await correct_dirty_days(conn, tenant_id, tz)
    return Maintenance(scoring.scored, scoring.changed, tuple(corrected))


async def run_bot_rule(engine: AsyncEngine, tenant_id: int, rule_id: int) -> BotRule | None:
    """Apply a tenant bot rule to existing sessions and correct their days; a failure is recorded
    on the rule (status ``failed``) and nothing else changes."""
    try:
        async with tenant_transaction(engine, tenant_id) as conn:
            tz = await _locked(conn, tenant_id)
            return await apply_rule(conn, tenant_id, rule_id, tz)
    except Exception as exc:
        async with tenant_transaction(engine, tenant_id) as conn:
            await conn.execute(text(
                "UPDATE bot_rules SET status = 'failed', error = :error, finished_at = now() "
                "WHERE tenant_id = :tenant AND id = :id"),
                {"tenant": tenant_id, "id": rule_id, "error": f"{type(exc).__name__}: {exc}"[:500]})
        raise


async def pending_session_work(engine: AsyncEngine) -> list[tuple[int, int, list[int]]]:
    """(tenant id, sessions to score + days to correct, queued rule ids) for every tenant with work."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT tenant_id, work, queued_rules FROM analytics_session_work()"))).all()
    return [(int(r.tenant_id), int(r.work), [int(i) for i in r.queued_rules]) for r in rows]
