"""Export jobs remember whether the rollups' bot rows were asked for (``includeBots``), as the
streamed export does.

Revision ID: 0010_export_bots
Revises: 0009_allowed_origins
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0010_export_bots"
down_revision = "0009_allowed_origins"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE export_jobs ADD COLUMN include_bots boolean NOT NULL DEFAULT false")


def downgrade() -> None:
    op.execute("ALTER TABLE export_jobs DROP COLUMN include_bots")
