"""Scanner exemptions: the tier-2 path rules a tenant's own site needs, so its visitors are not taken
for scanners. A PHP site exempts ``php``; a WordPress site ``wordpress`` and ``php`` (a path meets
every rule that matches it, and ``/wp-login.php`` is a PHP path too).

Setting them applies to every session the worker derives from then on, and lifts them at once
from stored sessions: a session's tier-2 path reasons name every rule its paths met, each with its
first path (``php: index.php``), so the reasons of newly exempt rules are removed, the session
stays a scanner only if another tier-2 reason remains, and the local days of every session that
left the bot side are marked for a counter correction. Rows derived before reasons named every
rule (``derivation`` below ``PER_RULE_REASONS``) are not lifted: they are derived again when
their visitor next sends events. Removing an exemption applies to new sessions only: stored
sessions do not remember the paths an exempt rule let through.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import lock_tenant
from analytics.sessions.correction import mark_days
from analytics.sessions.derive import PER_RULE_REASONS
from analytics.sessions.scoring import local_days
from analytics.traffic.scanner import PATH_RULES, ScannerReason, check_path_rules


@dataclass(frozen=True)
class Exemptions:
    rules: tuple[str, ...]  # in PATH_RULES order
    sessions_lifted: int  # stored sessions that are no longer scanners
    days_marked: int  # local days marked for a counter correction


def usable_exemptions(stored: Sequence[str] | None) -> tuple[str, ...]:
    """The stored exemptions that name a rule, in ``PATH_RULES`` order (a rule renamed since is
    ignored)."""
    return tuple(name for name in PATH_RULES if name in set(stored or ()))


async def scanner_exemptions(conn: AsyncConnection, tenant_id: int) -> tuple[str, ...]:
    stored = (await conn.execute(text("SELECT scanner_exempt_rules FROM tenants WHERE id = :tenant"),
                                 {"tenant": tenant_id})).scalar_one()
    return usable_exemptions(stored)


_EXEMPT = f"(r->>'code' = '{ScannerReason.PATH}' AND split_part(r->>'detail', ':', 1) = ANY(:rules))"
# Drop the path reasons of the exempt rules from the tenant's scanner sessions that have one; a
# session stays a scanner while another tier-2 reason remains.
_LIFT = text(
    f"""
    WITH lifted AS (
        SELECT s.id, coalesce(jsonb_agg(r ORDER BY n) FILTER (WHERE NOT {_EXEMPT}), '[]'::jsonb) AS reasons
        FROM sessions s CROSS JOIN jsonb_array_elements(s.agent_reasons) WITH ORDINALITY AS x(r, n)
        WHERE s.tenant_id = :tenant AND s.is_scanner AND s.derivation >= {PER_RULE_REASONS}
        GROUP BY s.id HAVING bool_or({_EXEMPT})
    )
    UPDATE sessions s SET agent_reasons = lifted.reasons,
        is_scanner = jsonb_path_exists(lifted.reasons, '$[*] ? (@.tier == 2)')
    FROM lifted WHERE s.tenant_id = :tenant AND s.id = lifted.id
    RETURNING s.started_at, s.last_seen_at, s.excluded, s.is_scanner
    """
)


async def set_scanner_exemptions(conn: AsyncConnection, tenant_id: int, rules: Collection[str],
                                 tz: ZoneInfo) -> Exemptions:
    """Store the tenant's exemptions and lift newly exempt rules from stored sessions (takes the
    tenant's lock, so no rollup writes sessions meanwhile); ``InvalidArgument`` names a bad rule."""
    chosen = check_path_rules("rules", rules)
    await lock_tenant(conn, tenant_id)
    before = set(await scanner_exemptions(conn, tenant_id))
    await conn.execute(text("UPDATE tenants SET scanner_exempt_rules = :rules WHERE id = :tenant"),
                       {"rules": list(chosen), "tenant": tenant_id})
    added = [name for name in chosen if name not in before]
    if not added:
        return Exemptions(chosen, 0, 0)
    lifted = (await conn.execute(_LIFT, {"tenant": tenant_id, "rules": added})).all()
    days: set[date] = set()
    for row in lifted:
        if not row.excluded:  # left the bot side: its counted events move to the human side
            days.update(local_days(row.started_at, row.last_seen_at, tz))
    await mark_days(conn, tenant_id, days)
    return Exemptions(chosen, sum(1 for row in lifted if not row.is_scanner), len(days))
