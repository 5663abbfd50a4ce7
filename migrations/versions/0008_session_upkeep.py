"""The sweeper asks for session work with the correction delay: a day marked for correction counts
as work only once its first mark is that old, so the sweeper does not queue a job every second for
a day that must wait (analytics.sessions.correction). An index answers the scorer's "does this
tenant send engagement at all?" without reading every session of a tenant that does not. Tenants
keep the scanner path rules their own site needs (analytics.sessions.exemptions).

Revision ID: 0008_session_upkeep
Revises: 0007_content
Create Date: 2026-12-03
"""

from __future__ import annotations

import os

from alembic import op

revision = "0008_session_upkeep"
down_revision = "0007_content"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"


def _session_work(signature: str, due: str) -> None:
    op.execute(
        f"""
        CREATE FUNCTION analytics_session_work({signature})
        RETURNS TABLE (tenant_id bigint, work bigint, queued_rules bigint[])
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT tenant_id, sum(work)::bigint, array_remove(array_agg(rule), NULL) FROM (
                SELECT tenant_id, count(*) AS work, NULL::bigint AS rule FROM sessions
                    WHERE scored_at IS NULL GROUP BY tenant_id
                UNION ALL SELECT tenant_id, count(*), NULL FROM dirty_days {due} GROUP BY tenant_id
                UNION ALL SELECT tenant_id, 0, id FROM bot_rules WHERE status IN ('queued', 'running')
            ) w GROUP BY tenant_id
        $$
        """
    )
    arguments = signature.split()[-1] if signature else ""
    op.execute(f"REVOKE ALL ON FUNCTION analytics_session_work({arguments}) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_session_work({arguments}) TO {APP_ROLE}")


def upgrade() -> None:
    # The tier-2 path rules a tenant's own site needs (analytics.sessions.exemptions); the app role
    # may change this column only, of its own tenant (row-level security).
    op.execute("ALTER TABLE tenants ADD COLUMN scanner_exempt_rules text[] NOT NULL DEFAULT '{}'")
    op.execute(f"GRANT UPDATE (scanner_exempt_rules) ON tenants TO {APP_ROLE}")
    # Which derivation code wrote a session row (analytics.sessions.derive.DERIVATION); 0: before.
    op.execute("ALTER TABLE sessions ADD COLUMN derivation smallint NOT NULL DEFAULT 0")
    op.execute("CREATE INDEX sessions_engaged ON sessions (tenant_id) WHERE engagement_events > 0")
    op.execute("DROP FUNCTION analytics_session_work()")
    _session_work("p_correction_delay interval", "WHERE marked_at <= now() - p_correction_delay")


def downgrade() -> None:
    op.execute("ALTER TABLE tenants DROP COLUMN scanner_exempt_rules")
    op.execute("ALTER TABLE sessions DROP COLUMN derivation")
    op.execute("DROP INDEX sessions_engaged")
    op.execute("DROP FUNCTION analytics_session_work(interval)")
    _session_work("", "")
