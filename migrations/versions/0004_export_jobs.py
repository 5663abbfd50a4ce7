"""Export jobs: very large exports written to a file by a worker, with progress and a download.

Revision ID: 0004_export_jobs
Revises: 0003_persisted
Create Date: 2026-11-22
"""

from __future__ import annotations

import os

from alembic import op

revision = "0004_export_jobs"
down_revision = "0003_persisted"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"
TENANT_CHECK = "NULLIF(current_setting('analytics.tenant_id', true), '')::bigint"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE export_jobs (
            tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id uuid NOT NULL DEFAULT gen_random_uuid(),
            dataset text NOT NULL,
            format text NOT NULL,
            timezone text NOT NULL,
            period_start timestamptz NOT NULL,
            period_end timestamptz NOT NULL,
            first_day date,
            last_day date,
            status text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed')),
            bytes bigint NOT NULL DEFAULT 0,
            rows bigint,
            error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            started_at timestamptz,
            finished_at timestamptz,
            PRIMARY KEY (tenant_id, id)
        )
        """
    )
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON export_jobs TO {APP_ROLE}")
    op.execute("ALTER TABLE export_jobs ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE export_jobs FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON export_jobs TO {APP_ROLE} "
        f"USING (tenant_id = {TENANT_CHECK}) WITH CHECK (tenant_id = {TENANT_CHECK})"
    )
    op.execute("CREATE POLICY maintenance ON export_jobs TO CURRENT_USER USING (true) WITH CHECK (true)")


def downgrade() -> None:
    op.execute("DROP TABLE export_jobs")
