"""Experiments: breakdown by traffic source and device, and session metrics. Each exposed actor's
source and device (its first exposure's session: referrer class and device type, ``unknown`` without
a session), and per experiment, dimension, value, metric, variant, exposure day and bot side the
actors, conversions, sums and sums of squares the results' breakdown reads (kept by the rollup like
experiment_variant_days). A metric kind ``SESSION`` with the figure it sums over the actor's sessions
(``session_figure``: SESSIONS, DURATION or PAGE_VIEWS).

Revision ID: 0033_experiment_breakdowns
Revises: 0028_principal_changes
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0033_experiment_breakdowns"
down_revision = "0028_principal_changes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE experiment_actors ADD COLUMN source text NOT NULL DEFAULT 'unknown', "
               "ADD COLUMN device text NOT NULL DEFAULT 'unknown'")
    op.execute(
        """
        CREATE TABLE experiment_breakdown_days (
            tenant_id bigint NOT NULL,
            experiment text NOT NULL,
            dimension text NOT NULL CHECK (dimension IN ('SOURCE', 'DEVICE')),
            value text NOT NULL,
            metric text NOT NULL,
            variant text NOT NULL,
            day date NOT NULL,
            bot boolean NOT NULL,
            actors bigint NOT NULL DEFAULT 0,
            conversions bigint NOT NULL DEFAULT 0,
            total double precision NOT NULL DEFAULT 0,
            total_sq double precision NOT NULL DEFAULT 0,
            PRIMARY KEY (tenant_id, experiment, dimension, metric, value, variant, day, bot)
        )
        """
    )
    tenant_table("experiment_breakdown_days")
    op.execute("ALTER TABLE experiment_metrics DROP CONSTRAINT experiment_metrics_kind_check, "
               "ADD CONSTRAINT experiment_metrics_kind_check "
               "CHECK (kind IN ('CONVERSION', 'COUNT', 'SUM', 'SESSION')), "
               "ADD COLUMN session_figure text "
               "CHECK (session_figure IN ('SESSIONS', 'DURATION', 'PAGE_VIEWS')), "
               "ADD CONSTRAINT experiment_metrics_session_figure "
               "CHECK ((kind = 'SESSION') = (session_figure IS NOT NULL))")


def downgrade() -> None:
    op.execute("DELETE FROM experiment_metrics WHERE kind = 'SESSION'")
    op.execute("ALTER TABLE experiment_metrics DROP COLUMN session_figure, "
               "DROP CONSTRAINT experiment_metrics_kind_check, ADD CONSTRAINT experiment_metrics_kind_check "
               "CHECK (kind IN ('CONVERSION', 'COUNT', 'SUM'))")
    op.execute("DROP TABLE experiment_breakdown_days")
    op.execute("ALTER TABLE experiment_actors DROP COLUMN source, DROP COLUMN device")
