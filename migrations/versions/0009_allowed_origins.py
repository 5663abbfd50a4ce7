"""Tenants name the web origins whose pages may read answers to their secret keys (CORS, api.cors);
the key lookup answers them with the key, so the API needs no second round trip per request.

Revision ID: 0009_allowed_origins
Revises: 0008_session_upkeep
Create Date: 2026-12-03
"""

from __future__ import annotations

import os

from alembic import op

revision = "0009_allowed_origins"
down_revision = "0008_session_upkeep"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"


def _resolve_key(*, with_origins: bool) -> None:
    extra_type, extra_column = ((", allowed_origins text[]", ", t.allowed_origins") if with_origins
                                else ("", ""))
    op.execute("DROP FUNCTION analytics_resolve_key(bytea)")
    op.execute(
        f"""
        CREATE FUNCTION analytics_resolve_key(p_hash bytea)
        RETURNS TABLE (tenant_id bigint, kind text, timezone text, raw_retention_days integer,
                       key_id bigint, persisted_only boolean, store_ip boolean{extra_type})
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.tenant_id, k.kind, t.timezone, t.raw_retention_days, k.id, t.persisted_only,
                   t.store_ip {extra_column}
            FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE k.key_hash = p_hash AND k.revoked_at IS NULL
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION analytics_resolve_key(bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_resolve_key(bytea) TO {APP_ROLE}")


def upgrade() -> None:
    # Exact browser origins (scheme://host[:port], analytics.tenants.origins); the app role may
    # change this column only, of its own tenant (row-level security).
    op.execute("ALTER TABLE tenants ADD COLUMN allowed_origins text[] NOT NULL DEFAULT '{}'")
    op.execute(f"GRANT UPDATE (allowed_origins) ON tenants TO {APP_ROLE}")
    _resolve_key(with_origins=True)


def downgrade() -> None:
    _resolve_key(with_origins=False)
    op.execute("ALTER TABLE tenants DROP COLUMN allowed_origins")
