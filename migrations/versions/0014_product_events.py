"""Product events: a Custom event's own ``name`` on the raw event, and ``user_days`` (who was active
on which tenant-local day, per bot side), the first table of the rollup consumers' registry beside
the counters.

Revision ID: 0014_product_events
Revises: 0013_retention
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0014_product_events"
down_revision = "0013_retention"
branch_labels = None
depends_on = None


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
