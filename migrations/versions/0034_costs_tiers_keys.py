"""Costs: tiered prices, and the spend bounds that rank users and conversations.

Tiered model prices: ``model_prices.above_input_tokens``, the request size from which a price row
applies (0: every request). A request whose input (uncached + cache read + cache write tokens) exceeds
a row's threshold pays that row's price for all of its tokens of that usage type, as providers bill
long contexts (genai-prices' TieredPrices); the threshold joins the primary key. The price sync job
adds the library's tiers to the copies made before and marks their days for re-pricing.

``ai_spend_keys``: per user and conversation (a key of ``ai_spend_daily``), an upper bound of its cost
on any days and the first and last day it was seen. The worker only adds to it (a day corrected or
re-priced adds again, expired days are not taken off), so it never falls below the truth: the cost
breakdown walks keys in bound order and stops once the next bound is below its k-th exact figure.
Filled here from the daily rows.

Revision ID: 0034_costs_tiers_keys
Revises: 0033_experiment_breakdowns
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0034_costs_tiers_keys"
down_revision = "0033_experiment_breakdowns"
branch_labels = None
depends_on = None

KEY = "tenant_id, provider, model, usage_type, source, effective_from"


def upgrade() -> None:
    op.execute(
        "ALTER TABLE model_prices ADD COLUMN above_input_tokens bigint NOT NULL DEFAULT 0 "
        "CHECK (above_input_tokens >= 0)"
    )
    op.execute(
        f"ALTER TABLE model_prices DROP CONSTRAINT model_prices_pkey, "
        f"ADD PRIMARY KEY ({KEY}, above_input_tokens)"
    )
    op.execute("""
        CREATE TABLE ai_spend_keys (
            tenant_id bigint NOT NULL,
            dimension text NOT NULL,
            key text NOT NULL,
            cost_bound numeric NOT NULL,
            first_day date NOT NULL,
            last_day date NOT NULL,
            PRIMARY KEY (tenant_id, dimension, key))""")
    tenant_table("ai_spend_keys")
    op.execute(
        "CREATE INDEX ai_spend_keys_bound ON ai_spend_keys (tenant_id, dimension, cost_bound DESC, key) "
        "INCLUDE (first_day, last_day)"
    )
    op.execute(
        "INSERT INTO ai_spend_keys SELECT tenant_id, dimension, key, sum(cost), min(day), max(day) "
        "FROM ai_spend_daily GROUP BY 1, 2, 3"
    )


def downgrade() -> None:
    op.execute("DROP TABLE ai_spend_keys")
    op.execute("DELETE FROM model_prices WHERE above_input_tokens > 0")
    op.execute(f"ALTER TABLE model_prices DROP CONSTRAINT model_prices_pkey, ADD PRIMARY KEY ({KEY})")
    op.execute("ALTER TABLE model_prices DROP COLUMN above_input_tokens")
