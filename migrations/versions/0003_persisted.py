"""Trusted documents (persisted operations per tenant), the per-tenant allowlist switch, key ids.

Revision ID: 0003_persisted
Revises: 0002_outbox_stats
Create Date: 2026-11-22
"""

from __future__ import annotations

import os

from alembic import op

revision = "0003_persisted"
down_revision = "0002_outbox_stats"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"
TENANT_CHECK = "NULLIF(current_setting('analytics.tenant_id', true), '')::bigint"


def upgrade() -> None:
    op.execute("ALTER TABLE tenants ADD COLUMN persisted_only boolean NOT NULL DEFAULT false")
    op.execute(
        """
        CREATE TABLE persisted_documents (
            tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
            id text NOT NULL,
            sha256 text NOT NULL,
            operation_name text,
            operation_type text NOT NULL CHECK (operation_type IN ('query', 'mutation')),
            body text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        )
        """
    )
    op.execute("CREATE INDEX persisted_documents_sha256 ON persisted_documents (tenant_id, sha256)")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON persisted_documents TO {APP_ROLE}")
    op.execute("ALTER TABLE persisted_documents ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE persisted_documents FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON persisted_documents TO {APP_ROLE} "
        f"USING (tenant_id = {TENANT_CHECK}) WITH CHECK (tenant_id = {TENANT_CHECK})"
    )
    op.execute("CREATE POLICY maintenance ON persisted_documents TO CURRENT_USER "
               "USING (true) WITH CHECK (true)")
    # The key lookup now also answers the key's id (rate limits) and the tenant's allowlist switch.
    op.execute("DROP FUNCTION analytics_resolve_key(bytea)")
    op.execute(
        """
        CREATE FUNCTION analytics_resolve_key(p_hash bytea)
        RETURNS TABLE (tenant_id bigint, kind text, timezone text, raw_retention_days integer,
                       key_id bigint, persisted_only boolean)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.tenant_id, k.kind, t.timezone, t.raw_retention_days, k.id, t.persisted_only
            FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE k.key_hash = p_hash AND k.revoked_at IS NULL
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION analytics_resolve_key(bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_resolve_key(bytea) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics_resolve_key(bytea)")
    op.execute(
        """
        CREATE FUNCTION analytics_resolve_key(p_hash bytea)
        RETURNS TABLE (tenant_id bigint, kind text, timezone text, raw_retention_days integer)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.tenant_id, k.kind, t.timezone, t.raw_retention_days
            FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE k.key_hash = p_hash AND k.revoked_at IS NULL
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION analytics_resolve_key(bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_resolve_key(bytea) TO {APP_ROLE}")
    op.execute("DROP TABLE persisted_documents")
    op.execute("ALTER TABLE tenants DROP COLUMN persisted_only")
