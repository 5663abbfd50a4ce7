"""Funnels: tenant-defined funnels and each person's attempts at them, kept by the rollup's funnel
consumer (analytics.funnels.progress) and built for a new or changed funnel by a backfill job.

Two partial indexes on events let the worker reload one person's events (by user id, else by
anonymous id) when it re-derives that person's attempts.

Revision ID: 0016_funnels
Revises: 0015_event_definitions
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations.rls import APP_ROLE, tenant_table

revision = "0016_funnels"
down_revision = "0015_event_definitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE funnels (
            tenant_id bigint NOT NULL,
            id bigint GENERATED ALWAYS AS IDENTITY,
            name text NOT NULL,
            definition jsonb NOT NULL,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            backfill_status text NOT NULL DEFAULT 'pending',
            backfill_cursor text NOT NULL DEFAULT '',
            backfill_processed bigint NOT NULL DEFAULT 0,
            backfill_total bigint,
            backfill_finished_at timestamptz,
            PRIMARY KEY (tenant_id, id),
            UNIQUE (tenant_id, name)
        )
        """
    )
    tenant_table("funnels")
    op.execute(
        """
        CREATE TABLE funnel_attempts (
            tenant_id bigint NOT NULL,
            funnel_id bigint NOT NULL,
            person text NOT NULL,
            first_event uuid NOT NULL,
            actor text NOT NULL,
            started_at timestamptz NOT NULL,
            step_ats timestamptz[] NOT NULL,
            ended_at timestamptz NOT NULL,
            voided boolean NOT NULL,
            session_key uuid,
            properties jsonb,
            PRIMARY KEY (tenant_id, funnel_id, person, first_event)
        )
        """
    )
    op.execute("CREATE INDEX funnel_attempts_started ON funnel_attempts (tenant_id, funnel_id, started_at)")
    tenant_table("funnel_attempts")
    op.execute("CREATE INDEX events_user ON events (tenant_id, user_id, occurred_at) "
               "WHERE user_id IS NOT NULL")
    op.execute("CREATE INDEX events_anonymous ON events (tenant_id, anonymous_id, occurred_at) "
               "WHERE user_id IS NULL AND anonymous_id IS NOT NULL")
    op.execute(
        """
        CREATE FUNCTION analytics_pending_funnel_backfills()
        RETURNS TABLE (tenant_id bigint, funnel_id bigint)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT tenant_id, id FROM funnels WHERE backfill_status <> 'done' ORDER BY tenant_id, id
        $$
        """
    )
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_pending_funnel_backfills() TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics_pending_funnel_backfills()")
    op.execute("DROP INDEX events_anonymous")
    op.execute("DROP INDEX events_user")
    op.execute("DROP TABLE funnel_attempts")
    op.execute("DROP TABLE funnels")
