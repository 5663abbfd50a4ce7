"""Content (capsule) facts per session: what counters cannot give (time on capsule, conversations
and their turns, time to conversion, clicks and conversions by call-to-action, documents and videos
accessed). The rollup worker replaces a session's rows whenever it re-derives the session; reads
join ``sessions`` for the bot flag, so a flag changed later needs no rewrite here.

Revision ID: 0007_content
Revises: 0006_sessions
Create Date: 2026-11-22
"""

from __future__ import annotations

import os

from alembic import op

revision = "0007_content"
down_revision = "0006_sessions"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"
TENANT_CHECK = "NULLIF(current_setting('analytics.tenant_id', true), '')::bigint"
NEW_TABLES = ("content_sessions", "content_conversations", "content_session_items")

CONTENT = """
CREATE TABLE content_sessions (
    tenant_id bigint NOT NULL,
    session_id uuid NOT NULL,
    content_id text NOT NULL,
    started_at timestamptz NOT NULL,  -- first event of this content in the session
    first_view_at timestamptz,
    engaged_ms bigint NOT NULL DEFAULT 0,
    first_conversion_at timestamptz,
    PRIMARY KEY (tenant_id, session_id, content_id)
);
CREATE INDEX content_sessions_started ON content_sessions (tenant_id, started_at);
CREATE INDEX content_sessions_content ON content_sessions (tenant_id, content_id, started_at);

CREATE TABLE content_conversations (
    tenant_id bigint NOT NULL,
    session_id uuid NOT NULL,
    content_id text NOT NULL,
    conversation_id text NOT NULL,
    started_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    messages integer NOT NULL,
    turns integer NOT NULL,  -- messages with capsule.role user
    converted boolean NOT NULL,
    PRIMARY KEY (tenant_id, session_id, content_id, conversation_id)
);

CREATE TABLE content_session_items (
    tenant_id bigint NOT NULL,
    session_id uuid NOT NULL,
    content_id text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('cta_click', 'conversion', 'document_view', 'video_view',
                                       'video_completion')),
    key text NOT NULL,  -- ctaId or assetId, '' when the event named none
    detail text NOT NULL DEFAULT '',  -- ctaType for cta_click and conversion, '' when none
    count integer NOT NULL,
    PRIMARY KEY (tenant_id, session_id, content_id, kind, key, detail)
)
"""


def upgrade() -> None:
    for statement in CONTENT.split(";"):
        if statement.strip():
            op.execute(statement)
    for table in NEW_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} TO {APP_ROLE} "
                   f"USING (tenant_id = {TENANT_CHECK}) WITH CHECK (tenant_id = {TENANT_CHECK})")
        op.execute(f"CREATE POLICY maintenance ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")


def downgrade() -> None:
    for table in reversed(NEW_TABLES):
        op.execute(f"DROP TABLE {table}")
