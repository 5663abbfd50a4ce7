"""Content sessions carry their session's bot side: ``content_sessions.bot``.

Content reads (time on capsule, conversations, CTAs, assets, popular items) used to join every
content session of the period to ``sessions`` for the ``excluded`` flag. The sessions table is wide
and the join read all of it: at one million events, 200 of the 235 ms of the content stats. The
flag is now written beside the row, from the session row written just before it (analytics.content.
upkeep), and set again from ``sessions`` by the day correction for every day a later flag (scorer,
bot rules, exemptions, unknown-agent setting) marks, as the funnel attempts' flag is
(``Consumer.day_resyncs``); ``analytics rollups verify`` compares it with ``sessions``. Filled here
from the stored sessions.

Revision ID: 0042_content_session_bot
Revises: 0041_visitor_sketches
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0042_content_session_bot"
down_revision = "0041_visitor_sketches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE content_sessions ADD COLUMN bot boolean NOT NULL DEFAULT false")
    op.execute("UPDATE content_sessions c SET bot = true FROM sessions s "
               "WHERE s.tenant_id = c.tenant_id AND s.id = c.session_id AND s.excluded")


def downgrade() -> None:
    op.execute("ALTER TABLE content_sessions DROP COLUMN bot")
