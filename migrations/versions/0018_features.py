"""Features (a name and an event matcher per tenant) with their backfill progress, the rollup
consumer's ``feature_user_days`` (per feature, tenant-local day, bot side and user key: the events
that matched), and the tenant switch for the business gauges of /metrics.

Revision ID: 0018_features
Revises: 0017_segments
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations.rls import APP_ROLE, tenant_table

revision = "0018_features"
down_revision = "0017_segments"
branch_labels = None
depends_on = None


def _function(sql: str, name: str) -> None:
    op.execute(sql)
    op.execute(f"REVOKE ALL ON FUNCTION {name}() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {name}() TO {APP_ROLE}")


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE features (
            tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id bigint GENERATED ALWAYS AS IDENTITY,
            name text NOT NULL,
            matcher jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            backfill_status text NOT NULL DEFAULT 'queued'
                CHECK (backfill_status IN ('queued', 'running', 'done', 'failed')),
            backfill_from date,
            backfill_processed integer NOT NULL DEFAULT 0,
            backfill_total integer,
            backfill_finished_at timestamptz,
            backfill_error text,
            PRIMARY KEY (tenant_id, id),
            UNIQUE (tenant_id, name)
        )
        """
    )
    op.execute(
        """
        CREATE TABLE feature_user_days (
            tenant_id bigint NOT NULL,
            feature_id bigint NOT NULL,
            day date NOT NULL,
            bot boolean NOT NULL,
            user_key text NOT NULL,
            events integer NOT NULL,
            PRIMARY KEY (tenant_id, day, feature_id, bot, user_key)
        )
        """
    )
    # Day first: adoption reads ranges of days, day corrections and retention delete whole days. No
    # foreign key to features (a look-up per upserted row in the rollup): removeFeature and a
    # redefinition delete the feature's rows themselves.
    tenant_table("features")
    tenant_table("feature_user_days")
    op.execute("ALTER TABLE tenants ADD COLUMN business_metrics boolean NOT NULL DEFAULT false")
    op.execute(f"GRANT UPDATE (business_metrics) ON tenants TO {APP_ROLE}")
    # The worker's sweeper and gauge refresher look across tenants (row-level security keeps the app
    # role to one tenant per transaction): these return only ids and names.
    _function(
        """
        CREATE FUNCTION analytics_feature_backfills()
        RETURNS TABLE (tenant_id bigint, feature_id bigint)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT tenant_id, id FROM features WHERE backfill_status IN ('queued', 'running')
        $$
        """, "analytics_feature_backfills")
    _function(
        """
        CREATE FUNCTION analytics_business_metric_tenants()
        RETURNS TABLE (tenant_id bigint, name text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT id, name FROM tenants WHERE business_metrics ORDER BY id
        $$
        """, "analytics_business_metric_tenants")


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics_business_metric_tenants()")
    op.execute("DROP FUNCTION analytics_feature_backfills()")
    op.execute("ALTER TABLE tenants DROP COLUMN business_metrics")
    op.execute("DROP TABLE feature_user_days")
    op.execute("DROP TABLE features")
