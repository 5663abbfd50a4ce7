"""Session work outside the rollup: behavioural scoring with counter corrections, retroactive bot
rules, and the identity re-derivation of sessions stored before the identity rule. Each runs in one
tenant transaction holding the tenant's lock (the rollup's too), so sessions and counters never see
two writers at once, and a crash leaves everything or nothing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import lock_tenant, tenant_transaction
from analytics.sessions.correction import correct_dirty_days
from analytics.sessions.identity import IdentityRun, rederive_identities
from analytics.sessions.rules import BotRule, apply_rule, finish_rule
from analytics.sessions.scoring import score_sessions

log = logging.getLogger("analytics.sessions")
MAX_DAYS_PER_RUN = 31


@dataclass(frozen=True)
class Maintenance:
    scored: int
    flag_changes: int
    corrected_days: tuple[date, ...]


async def _locked(conn: AsyncConnection, tenant_id: int) -> ZoneInfo:
    await lock_tenant(conn, tenant_id)
    name = (await conn.execute(text("SELECT timezone FROM tenants WHERE id = :tenant"),
                               {"tenant": tenant_id})).scalar_one()
    return ZoneInfo(name)


async def maintain_sessions(engine: AsyncEngine, tenant_id: int, *, max_days: int = MAX_DAYS_PER_RUN,
                            correction_delay: timedelta = timedelta(0)) -> Maintenance:
    """Score the sessions the rollup changed, then correct the days whose counted events changed
    side (from scoring, a later scanner request or merged sessions) once their first mark is
    ``correction_delay`` old: a day marked again meanwhile is still recomputed once."""
    async with tenant_transaction(engine, tenant_id) as conn:
        tz = await _locked(conn, tenant_id)
        scoring = await score_sessions(conn, tenant_id, tz)
    corrected = await correct_marked_days(engine, tenant_id, max_days=max_days, delay=correction_delay)
    return Maintenance(scoring.scored, scoring.changed, tuple(corrected))


async def correct_marked_days(engine: AsyncEngine, tenant_id: int, *, max_days: int,
                              delay: timedelta = timedelta(0)) -> list[date]:
    """Correct days marked at least ``delay`` ago, one transaction each (the lock is released between
    days, so rollups go on); days left over wait for the next run, which the sweeper queues."""
    corrected: list[date] = []
    for _ in range(max_days):
        async with tenant_transaction(engine, tenant_id) as conn:
            done = await correct_dirty_days(conn, tenant_id, await _locked(conn, tenant_id), limit=1,
                                            delay=delay)
        if not done:
            break
        corrected.extend(done)
    return corrected


async def run_bot_rule(engine: AsyncEngine, tenant_id: int, rule_id: int) -> BotRule | None:
    """Apply a tenant bot rule to existing sessions (marking their days), correct those days one
    transaction each, then mark the rule done. A run that stops part way is queued again by the
    sweeper and finishes the days left; a failure is recorded on the rule without its details,
    which go to the worker log."""
    try:
        async with tenant_transaction(engine, tenant_id) as conn:
            rule = await apply_rule(conn, tenant_id, rule_id, await _locked(conn, tenant_id))
        if rule is None:
            return None
        await correct_marked_days(engine, tenant_id, max_days=10_000)
        async with tenant_transaction(engine, tenant_id) as conn:
            return await finish_rule(conn, rule_id)
    except Exception:
        log.exception("bot rule %s of tenant %s failed", rule_id, tenant_id)
        async with tenant_transaction(engine, tenant_id) as conn:
            await conn.execute(text(
                "UPDATE bot_rules SET status = 'failed', error = :error, finished_at = now() "
                "WHERE tenant_id = :tenant AND id = :id"),
                {"tenant": tenant_id, "id": rule_id,
                 "error": "the retroactive run failed; the worker log has the details (add the rule "
                          "again to retry)"})
        raise


async def pending_session_work(engine: AsyncEngine, *, correction_delay: timedelta = timedelta(0)
                               ) -> list[tuple[int, int, list[int]]]:
    """(tenant id, sessions to score + days due for correction, queued rule ids) for every tenant
    with work; a day is due once it was marked ``correction_delay`` ago."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT tenant_id, work, queued_rules FROM analytics_session_work(:delay)"),
            {"delay": correction_delay})).all()
    return [(int(r.tenant_id), int(r.work), [int(i) for i in r.queued_rules]) for r in rows]


async def run_identity_rederivation(engine: AsyncEngine, tenant_id: int) -> IdentityRun:
    """Re-derive the tenant's stored sessions under the identity rule (analytics.sessions.identity),
    then correct every day whose counted events changed side."""
    run = await rederive_identities(engine, tenant_id)
    await correct_marked_days(engine, tenant_id, max_days=10_000)
    return run
