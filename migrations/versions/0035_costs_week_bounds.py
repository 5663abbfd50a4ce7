"""Costs: spend bounds per fortnight, so short ranges rank users and conversations without a scan.

``ai_spend_weeks``: per user and conversation (a key of ``ai_spend_daily``) and ISO week ``week`` (its
Monday, in tenant-local days), an upper bound of the key's cost on the 14 days from ``week`` (that
week and the next). A range that touches at most two ISO weeks has one such fortnight covering it, so
the breakdown walks that fortnight's keys by bound as it walks ``ai_spend_keys`` (the whole life of a
key) for longer ranges: a key active for months is bounded by two weeks of its cost, not all of it.
The worker adds each day's cost to the two fortnights holding it (only ever added to, as the keys'
bounds). Filled here from the daily rows.

Revision ID: 0035_costs_week_bounds
Revises: 0034_costs_tiers_keys
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0035_costs_week_bounds"
down_revision = "0034_costs_tiers_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE ai_spend_weeks (
            tenant_id bigint NOT NULL,
            dimension text NOT NULL,
            week date NOT NULL,
            key text NOT NULL,
            cost_bound numeric NOT NULL,
            PRIMARY KEY (tenant_id, dimension, week, key))""")
    tenant_table("ai_spend_weeks")
    op.execute(
        "CREATE INDEX ai_spend_weeks_bound ON ai_spend_weeks "
        "(tenant_id, dimension, week, cost_bound DESC, key)"
    )
    # Each day's cost in the fortnights starting on its week's Monday and on the Monday before.
    op.execute("""
        INSERT INTO ai_spend_weeks
        SELECT tenant_id, dimension, w.week, key, sum(cost) FROM ai_spend_daily
        CROSS JOIN LATERAL (VALUES (day - extract(isodow FROM day)::int + 1),
                                   (day - extract(isodow FROM day)::int - 6)) AS w(week)
        GROUP BY 1, 2, 3, 4""")


def downgrade() -> None:
    op.execute("DROP TABLE ai_spend_weeks")
