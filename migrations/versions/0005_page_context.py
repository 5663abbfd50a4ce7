"""Page views and engagement: event context (referrer, user agent, locale, screen, UTM), engagement
figures, and cookieless visitor ids (under today's and yesterday's daily salt); the instance secret
the salts derive from.

Revision ID: 0005_page_context
Revises: 0004_export_jobs
Create Date: 2026-11-22
"""

from __future__ import annotations

import os

from alembic import op

revision = "0005_page_context"
down_revision = "0004_export_jobs"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"


def upgrade() -> None:
    op.execute("ALTER TABLE events ADD COLUMN context jsonb, ADD COLUMN engagement jsonb, "
               "ADD COLUMN visitor_id text, ADD COLUMN visitor_prev text")
    op.execute("CREATE TABLE instance_secrets (name text PRIMARY KEY, value text NOT NULL)")
    # 244 random bits from two v4 UUIDs (core PostgreSQL, no extension needed).
    op.execute("INSERT INTO instance_secrets VALUES ('visitor_salt', encode(sha256(convert_to("
               "gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'))")
    op.execute(f"GRANT SELECT ON instance_secrets TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP TABLE instance_secrets")
    op.execute("ALTER TABLE events DROP COLUMN context, DROP COLUMN engagement, DROP COLUMN visitor_id, "
               "DROP COLUMN visitor_prev")
