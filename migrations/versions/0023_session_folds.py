"""Session folds: ``sessions.fold`` holds the state a visitor's latest session folds its next events
into (analytics.sessions.fold), so a batch that only appends to an open session reads that state
instead of the session's events. NULL on older rows and on sessions no batch can extend; such a
session is derived from its events once, as before, and keeps a fold from then on.

Revision ID: 0023_session_folds
Revises: 0022_experiments
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0023_session_folds"
down_revision = "0022_experiments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE sessions ADD COLUMN fold jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE sessions DROP COLUMN fold")
