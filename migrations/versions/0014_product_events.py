"""Product events: a Custom event's own ``name`` on the raw event, and ``user_days`` (who was active
on which tenant-local day, per bot side), the first table of the rollup consumers' registry beside
the counters.

Revision ID: 0014_product_events
Revises: 0013_retention
Create Date: 2026-12-03
"""

from __future__ import annotations

import os

from alembic import op

revision = "0014_product_events"
down_revision = "0013_retention"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"
TENANT_CHECK = "NULLIF(current_setting('analytics.tenant_id', true), '')::bigint"


def tenant_table(table: str) -> None:
    """Grant the app role the table under row-level security (one tenant per transaction)."""
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON {table} TO {APP_ROLE} "
               f"USING (tenant_id = {TENANT_CHECK}) WITH CHECK (tenant_id = {TENANT_CHECK})")
    op.execute(f"CREATE POLICY maintenance ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")


def upgrade() -> None:
    op.execute("ALTER TABLE events ADD COLUMN name text")
    op.execute(
        """
        CREATE TABLE user_days (
            tenant_id bigint NOT NULL,
            day date NOT NULL,
            bot boolean NOT NULL,
            user_key text NOT NULL,
            events integer NOT NULL,
            first_at timestamptz NOT NULL,
            last_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, day, bot, user_key)
        )
        """
    )
    op.execute("CREATE INDEX user_days_user ON user_days (tenant_id, user_key, day)")
    tenant_table("user_days")


def downgrade() -> None:
    op.execute("DROP TABLE user_days")
    op.execute("ALTER TABLE events DROP COLUMN name")
