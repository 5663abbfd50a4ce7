"""Erasure and access (GDPR articles 15 and 17): ``erasures`` (one row per eraseUser request: the
job's status and its audit record) and ``user_exports`` (one row per exportUser request: a JSON file
written by a worker).

An erasure row holds the person's id only while the job waits or runs: the transaction that erases
the person also clears ``subject``, so the audit record that stays (who asked, when, how many rows
of each kind) holds no personal data. A user export keeps its subject until it expires or the person
is erased.

Revision ID: 0021_erasure
Revises: 0020_identity
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations.rls import APP_ROLE, tenant_table

revision = "0021_erasure"
down_revision = "0020_identity"
branch_labels = None
depends_on = None


_STATUS = "status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed'))"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE erasures (
            tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            subject_kind text NOT NULL CHECK (subject_kind IN ('user', 'anonymous')),
            subject text,
            {_STATUS},
            counts jsonb NOT NULL DEFAULT '{{}}',
            requested_by_key_id bigint,
            requested_by_key_name text,
            error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            PRIMARY KEY (tenant_id, id),
            CHECK (status <> 'done' OR subject IS NULL)
        )
        """
    )
    op.execute("CREATE INDEX erasures_created ON erasures (tenant_id, created_at)")
    op.execute(
        f"""
        CREATE TABLE user_exports (
            tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            subject_kind text NOT NULL CHECK (subject_kind IN ('user', 'anonymous')),
            subject text NOT NULL,
            {_STATUS},
            bytes bigint NOT NULL DEFAULT 0,
            rows bigint,
            requested_by_key_id bigint,
            error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id)
        )
        """
    )
    op.execute("CREATE INDEX user_exports_subject ON user_exports (tenant_id, subject)")
    tenant_table("erasures")
    tenant_table("user_exports")
    # For the sweeper (row-level security hides other tenants from the app role): erasures and
    # user exports still waiting or running, whose Redis job may have been lost or killed.
    op.execute(
        """
        CREATE FUNCTION analytics_pending_user_jobs()
        RETURNS TABLE (tenant_id bigint, kind text, id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT tenant_id, 'erasure', id FROM erasures WHERE status IN ('queued', 'running')
            UNION ALL
            SELECT tenant_id, 'export', id FROM user_exports WHERE status IN ('queued', 'running')
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION analytics_pending_user_jobs() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_pending_user_jobs() TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics_pending_user_jobs()")
    op.execute("DROP TABLE user_exports")
    op.execute("DROP TABLE erasures")
