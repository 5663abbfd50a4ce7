"""Principal changes announced: a NOTIFY on channel ``analytics_principals`` (payload: the tenant id)
whenever an API key or its tenant's row changes, so the API processes drop the keys they resolved
for that tenant (api.principals) at the commit that revokes or changes them, whoever made it.

Revision ID: 0028_principal_changes
Revises: 0025_experiment_cuped
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0028_principal_changes"
down_revision = "0025_experiment_cuped"
branch_labels = None
depends_on = None

CHANNEL = "analytics_principals"


def upgrade() -> None:
    # pg_notify is delivered at commit (never for a rolled-back change) and folds identical payloads
    # of one transaction into one message. api_keys rows name their tenant in tenant_id, tenants in id.
    op.execute(f"""
        CREATE FUNCTION analytics_principals_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            changed jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
        BEGIN
            PERFORM pg_notify('{CHANNEL}', coalesce(changed ->> 'tenant_id', changed ->> 'id'));
            RETURN NULL;
        END $$
    """)
    for table in ("api_keys", "tenants"):
        op.execute(f"CREATE TRIGGER {table}_principals_changed AFTER UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION analytics_principals_changed()")


def downgrade() -> None:
    for table in ("api_keys", "tenants"):
        op.execute(f"DROP TRIGGER {table}_principals_changed ON {table}")
    op.execute("DROP FUNCTION analytics_principals_changed()")
