"""Row-level security for tenant tables, shared by the migrations that create them."""

from __future__ import annotations

import os

from alembic import op

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"
TENANT_CHECK = "NULLIF(current_setting('analytics.tenant_id', true), '')::bigint"


def tenant_table(table: str) -> None:
    """Grant the app role the table under row-level security (one tenant per transaction); the owner
    (migrations, maintenance jobs) keeps every row."""
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON {table} TO {APP_ROLE} "
               f"USING (tenant_id = {TENANT_CHECK}) WITH CHECK (tenant_id = {TENANT_CHECK})")
    op.execute(f"CREATE POLICY maintenance ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")
