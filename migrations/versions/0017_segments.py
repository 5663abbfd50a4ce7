"""Segments: the rollup inputs of segment rules (per-user per-day per-event-name counts, the latest
properties per user, the users whose events changed), tenant rule segments and thresholds, and the
assignments with their history (valid_from / valid_to).

Revision ID: 0017_segments
Revises: 0016_funnels
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations.rls import APP_ROLE, tenant_table

revision = "0017_segments"
down_revision = "0016_funnels"
branch_labels = None
depends_on = None

TABLES = ("user_event_days", "user_properties", "segment_dirty_users", "segment_definitions",
          "segment_settings", "segment_users", "segment_members")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE user_event_days (
            tenant_id bigint NOT NULL,
            day date NOT NULL,
            bot boolean NOT NULL,
            user_key text NOT NULL,
            name text NOT NULL,
            events integer NOT NULL,
            PRIMARY KEY (tenant_id, day, bot, user_key, name)
        )
        """
    )
    op.execute("CREATE INDEX user_event_days_user ON user_event_days (tenant_id, user_key, day)")
    op.execute(
        """
        CREATE TABLE user_properties (
            tenant_id bigint NOT NULL,
            user_key text NOT NULL,
            property text NOT NULL,
            value jsonb NOT NULL,
            at timestamptz NOT NULL,
            event_id uuid NOT NULL,
            PRIMARY KEY (tenant_id, user_key, property)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE segment_dirty_users (
            tenant_id bigint NOT NULL,
            user_key text NOT NULL,
            marked_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, user_key)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE segment_definitions (
            tenant_id bigint NOT NULL,
            id text NOT NULL,
            name text NOT NULL,
            rule jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE segment_settings (
            tenant_id bigint PRIMARY KEY,
            window_days integer NOT NULL,
            depth_target double precision NOT NULL,
            power_min double precision NOT NULL,
            regular_min double precision NOT NULL,
            new_days integer NOT NULL,
            at_risk_days integer NOT NULL,
            daily_at timestamptz
        )
        """
    )
    op.execute(
        """
        CREATE TABLE segment_users (
            tenant_id bigint NOT NULL,
            user_key text NOT NULL,
            evaluated_at timestamptz NOT NULL,
            score double precision NOT NULL,
            PRIMARY KEY (tenant_id, user_key)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE segment_members (
            tenant_id bigint NOT NULL,
            segment_id text NOT NULL,
            user_key text NOT NULL,
            valid_from timestamptz NOT NULL,
            valid_to timestamptz,
            PRIMARY KEY (tenant_id, segment_id, user_key, valid_from),
            CHECK (valid_to IS NULL OR valid_to > valid_from)
        )
        """
    )
    op.execute("CREATE UNIQUE INDEX segment_members_open ON segment_members "
               "(tenant_id, user_key, segment_id) WHERE valid_to IS NULL")
    op.execute("CREATE INDEX segment_members_changes ON segment_members (tenant_id, user_key, valid_from)")
    for table in TABLES:
        tenant_table(table)
    # Tenants with segment work: users marked by the rollup, or a daily re-evaluation due (the last
    # one started before the tenant's local midnight, or never, while it has users).
    op.execute(
        """
        CREATE FUNCTION analytics_segment_work()
        RETURNS TABLE (tenant_id bigint, dirty bigint, daily_due boolean)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT t.id, coalesce(d.n, 0),
                   coalesce(s.daily_at < (date_trunc('day', now() AT TIME ZONE t.timezone)
                                          AT TIME ZONE t.timezone), true)
                   AND EXISTS (SELECT 1 FROM segment_users u WHERE u.tenant_id = t.id)
            FROM tenants t
            LEFT JOIN (SELECT tenant_id, count(*) AS n FROM segment_dirty_users GROUP BY tenant_id) d
                ON d.tenant_id = t.id
            LEFT JOIN segment_settings s ON s.tenant_id = t.id
            WHERE d.n IS NOT NULL OR EXISTS (SELECT 1 FROM segment_users u WHERE u.tenant_id = t.id)
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION analytics_segment_work() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_segment_work() TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics_segment_work()")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
