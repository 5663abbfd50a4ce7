"""Tenants may honour Do Not Track and Global Privacy Control: events sent with the signal are dropped
at ingest (``OPTED_OUT``), never stored. The key look-up returns the setting with the rest.

Revision ID: 0012_privacy_signals
Revises: 0011_daily_salts
Create Date: 2026-12-03
"""

from __future__ import annotations

import os

from alembic import op

revision = "0012_privacy_signals"
down_revision = "0011_daily_salts"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"


def _resolve_key(*, with_privacy: bool) -> None:
    extra_type, extra_column = ((", honour_privacy_signals boolean", ", t.honour_privacy_signals")
                                if with_privacy else ("", ""))
    op.execute("DROP FUNCTION analytics_resolve_key(bytea)")
    op.execute(
        f"""
        CREATE FUNCTION analytics_resolve_key(p_hash bytea)
        RETURNS TABLE (tenant_id bigint, kind text, timezone text, raw_retention_days integer,
                       key_id bigint, persisted_only boolean, store_ip boolean,
                       allowed_origins text[]{extra_type})
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.tenant_id, k.kind, t.timezone, t.raw_retention_days, k.id, t.persisted_only,
                   t.store_ip, t.allowed_origins {extra_column}
            FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE k.key_hash = p_hash AND k.revoked_at IS NULL
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION analytics_resolve_key(bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_resolve_key(bytea) TO {APP_ROLE}")


def upgrade() -> None:
    op.execute("ALTER TABLE tenants ADD COLUMN honour_privacy_signals boolean NOT NULL DEFAULT false")
    op.execute(f"GRANT UPDATE (honour_privacy_signals) ON tenants TO {APP_ROLE}")
    _resolve_key(with_privacy=True)


def downgrade() -> None:
    _resolve_key(with_privacy=False)
    op.execute("ALTER TABLE tenants DROP COLUMN honour_privacy_signals")
