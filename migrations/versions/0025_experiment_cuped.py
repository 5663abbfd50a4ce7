"""Experiments: CUPED. Each exposed actor's metric value in the 14 days before the exposure (``pre``)
beside its value after, and per variant, metric and day the sums of the pre-period values, of their
squares and of the products with the values after; an experiment option ``cuped``.

Revision ID: 0025_experiment_cuped
Revises: 0024_costs_daily
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0025_experiment_cuped"
down_revision = "0024_costs_daily"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE experiments ADD COLUMN cuped boolean NOT NULL DEFAULT false")
    op.execute("ALTER TABLE experiment_actor_values ADD COLUMN pre double precision NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE experiment_variant_days "
               "ADD COLUMN pre_total double precision NOT NULL DEFAULT 0, "
               "ADD COLUMN pre_total_sq double precision NOT NULL DEFAULT 0, "
               "ADD COLUMN cross_total double precision NOT NULL DEFAULT 0")


def downgrade() -> None:
    op.execute("ALTER TABLE experiment_variant_days DROP COLUMN pre_total, DROP COLUMN pre_total_sq, "
               "DROP COLUMN cross_total")
    op.execute("ALTER TABLE experiment_actor_values DROP COLUMN pre")
    op.execute("ALTER TABLE experiments DROP COLUMN cuped")
