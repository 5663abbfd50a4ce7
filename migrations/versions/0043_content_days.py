"""Content sessions per tenant-local day: ``content_days`` holds, per day, content item and bot side,
the additive figures of the content sessions that started that day (content sessions, viewing
sessions and their time on capsule, all time on capsule, converting sessions and their summed time
to conversion), so the average time on capsule and to conversion of a period read its days, not every
content session (analytics.content.facts).

Kept by statement triggers on ``content_sessions``: every writer (the rollup's session upkeep, the
day correction's flag resync, erasure, retention) changes it in the same statement, exactly once,
by subtracting the old rows and adding the new ones, as ``session_days`` follows ``sessions``
(migration 0036). ``analytics rollups verify`` compares it with a recomputation from the content
sessions. Filled here from the stored rows.

Content viewers are also sketched per day from now on (analytics.rollups.sketches: ``content_views``
per item, ``content_viewers`` of all items): every day is made due again here, so the sketch job
builds them for the days it has sketched already.

Revision ID: 0043_content_days
Revises: 0042_content_session_bot
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0043_content_days"
down_revision = "0042_content_session_bot"
branch_labels = None
depends_on = None

_VIEWED = "(first_view_at IS NOT NULL)"
_CONVERTED = "(first_conversion_at >= first_view_at)"  # NULL when either is missing


def _fold(changed: str) -> str:
    """One statement adding the rows of ``changed`` (``sign``, then the content_sessions columns) to
    ``content_days``, and selecting the tenants it touched into ``tenants``."""
    return f"""
        WITH changed AS ({changed}),
        dated AS (
            SELECT c.*, (c.started_at AT TIME ZONE t.timezone)::date AS day
            FROM changed c JOIN tenants t ON t.id = c.tenant_id),
        days AS (
            INSERT INTO content_days AS d (tenant_id, day, bot, content_id, sessions, viewing_sessions,
                                           viewing_engaged_ms, engaged_ms, converting_sessions,
                                           time_to_conversion_seconds)
            SELECT tenant_id, day, bot, content_id, sum(sign),
                   sum(sign * CAST({_VIEWED} AS integer)),
                   sum(sign * CASE WHEN {_VIEWED} THEN engaged_ms ELSE 0 END), sum(sign * engaged_ms),
                   sum(sign * coalesce(CAST({_CONVERTED} AS integer), 0)),
                   sum(sign * CASE WHEN {_CONVERTED}
                                   THEN extract(epoch FROM first_conversion_at - first_view_at) ELSE 0 END)
            FROM dated GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (tenant_id, day, content_id, bot) DO UPDATE SET
                sessions = d.sessions + EXCLUDED.sessions,
                viewing_sessions = d.viewing_sessions + EXCLUDED.viewing_sessions,
                viewing_engaged_ms = d.viewing_engaged_ms + EXCLUDED.viewing_engaged_ms,
                engaged_ms = d.engaged_ms + EXCLUDED.engaged_ms,
                converting_sessions = d.converting_sessions + EXCLUDED.converting_sessions,
                time_to_conversion_seconds =
                    d.time_to_conversion_seconds + EXCLUDED.time_to_conversion_seconds
            RETURNING 1)
        SELECT array_agg(DISTINCT tenant_id) INTO tenants FROM changed;
    """


_CHANGES = {
    "INSERT": "SELECT 1 AS sign, * FROM new_rows",
    "UPDATE": "SELECT -1 AS sign, * FROM old_rows UNION ALL SELECT 1, * FROM new_rows",
    "DELETE": "SELECT -1 AS sign, * FROM old_rows",
}
_REFERENCING = {"INSERT": "NEW TABLE AS new_rows", "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                "DELETE": "OLD TABLE AS old_rows"}


def upgrade() -> None:
    op.execute("""
        CREATE TABLE content_days (
            tenant_id bigint NOT NULL, day date NOT NULL, bot boolean NOT NULL, content_id text NOT NULL,
            sessions bigint NOT NULL, viewing_sessions bigint NOT NULL, viewing_engaged_ms bigint NOT NULL,
            engaged_ms bigint NOT NULL, converting_sessions bigint NOT NULL,
            time_to_conversion_seconds numeric NOT NULL,
            PRIMARY KEY (tenant_id, day, content_id, bot))""")
    tenant_table("content_days")
    # The rows a change emptied, found without scanning the tenant's rows.
    op.execute("CREATE INDEX content_days_emptied ON content_days (tenant_id) WHERE sessions = 0")
    # SECURITY DEFINER: as analytics_session_days (migration 0036): it reads the tenant's time zone and
    # writes the rows of whichever tenants the statement's content sessions belong to.
    branches = "\n        ELS".join(
        f"IF TG_OP = '{operation}' THEN {_fold(changed)}" for operation, changed in _CHANGES.items())
    op.execute(f"""
        CREATE FUNCTION analytics_content_days() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public, pg_temp AS $$
        DECLARE
            tenants bigint[];
        BEGIN
        {branches}
        END IF;
        DELETE FROM content_days WHERE sessions = 0 AND tenant_id = ANY(tenants);
        RETURN NULL;
        END $$""")
    for operation, referencing in _REFERENCING.items():
        op.execute(f"CREATE TRIGGER content_sessions_days_{operation.lower()} AFTER {operation} "
                   f"ON content_sessions REFERENCING {referencing} FOR EACH STATEMENT "
                   "EXECUTE FUNCTION analytics_content_days()")
    fill = _fold("SELECT 1 AS sign, * FROM content_sessions")
    op.execute(f"DO $$ DECLARE tenants bigint[]; BEGIN {fill} END $$")
    op.execute("UPDATE session_day_versions SET due = true WHERE NOT due")


def downgrade() -> None:
    for operation in _REFERENCING:
        op.execute(f"DROP TRIGGER content_sessions_days_{operation.lower()} ON content_sessions")
    op.execute("DROP FUNCTION analytics_content_days()")
    op.execute("DROP TABLE content_days")
