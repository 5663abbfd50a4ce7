"""Tiered model prices: ``model_prices.above_input_tokens``, the request size from which a price row
applies (0: every request). A request whose input (uncached + cache read + cache write tokens) exceeds
a row's threshold pays that row's price for all of its tokens of that usage type, as providers bill
long contexts (genai-prices' TieredPrices); the threshold joins the primary key. The price sync job
adds the library's tiers to the copies made before and marks their days for re-pricing.

Revision ID: 0034_tiered_prices
Revises: 0028_principal_changes
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0034_tiered_prices"
down_revision = "0028_principal_changes"
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


def downgrade() -> None:
    op.execute("DELETE FROM model_prices WHERE above_input_tokens > 0")
    op.execute(f"ALTER TABLE model_prices DROP CONSTRAINT model_prices_pkey, ADD PRIMARY KEY ({KEY})")
    op.execute("ALTER TABLE model_prices DROP COLUMN above_input_tokens")
