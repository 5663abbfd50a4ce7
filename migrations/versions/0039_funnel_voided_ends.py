"""An index of the voided funnel attempts by their end: the only ones ending on the day of a funnel
query's ``as_of`` that the day sums cannot settle without reading them (the others are counted by
step from ``funnel_days`` and split at ``as_of`` by the ``ended_at`` index), so the query no longer
reads every attempt ending that day to find them.

Revision ID: 0039_funnel_voided_ends
Revises: 0038_day_starts
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0039_funnel_voided_ends"
down_revision = "0038_day_starts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX funnel_attempts_voided_ended ON funnel_attempts "
               "(tenant_id, funnel_id, ended_at) "
               "WHERE voided")


def downgrade() -> None:
    op.execute("DROP INDEX funnel_attempts_voided_ended")
