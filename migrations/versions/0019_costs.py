"""Costs and AI operations: the ``ai`` details of AIRequest / ToolCall / ConversationMessage events,
the tenant's price table (library defaults and overrides, with effective dates), the models seen,
and the costs consumer's rollups (usage and cost per hour, requests per hour, tool calls per hour,
latency sketches per day, spend per user and conversation per day), each split by ``bot``.

Revision ID: 0019_costs
Revises: 0018_features
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0019_costs"
down_revision = "0018_features"
branch_labels = None
depends_on = None


TABLES = {
    "model_prices": """
        tenant_id bigint NOT NULL,
        provider text NOT NULL,
        model text NOT NULL,
        usage_type text NOT NULL,
        source text NOT NULL CHECK (source IN ('library', 'tenant')),
        effective_from timestamptz NOT NULL,
        usd_per_mtok numeric NOT NULL CHECK (usd_per_mtok >= 0),
        PRIMARY KEY (tenant_id, provider, model, usage_type, source, effective_from)""",
    "ai_models": """
        tenant_id bigint NOT NULL,
        provider text NOT NULL,
        model text NOT NULL,
        library_model text,
        first_seen_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, provider, model)""",
    "ai_usage_hourly": """
        tenant_id bigint NOT NULL,
        bucket timestamptz NOT NULL,
        bot boolean NOT NULL,
        provider text NOT NULL,
        model text NOT NULL,
        agent text NOT NULL,
        tool text NOT NULL,
        usage_type text NOT NULL,
        tokens bigint NOT NULL,
        unpriced_tokens bigint NOT NULL,
        cost numeric NOT NULL,
        PRIMARY KEY (tenant_id, bucket, bot, provider, model, agent, tool, usage_type)""",
    "ai_requests_hourly": """
        tenant_id bigint NOT NULL,
        bucket timestamptz NOT NULL,
        bot boolean NOT NULL,
        provider text NOT NULL,
        model text NOT NULL,
        agent text NOT NULL,
        status text NOT NULL,
        requests bigint NOT NULL,
        PRIMARY KEY (tenant_id, bucket, bot, provider, model, agent, status)""",
    "ai_tools_hourly": """
        tenant_id bigint NOT NULL,
        bucket timestamptz NOT NULL,
        bot boolean NOT NULL,
        tool text NOT NULL,
        agent text NOT NULL,
        status text NOT NULL,
        calls bigint NOT NULL,
        duration_ms bigint NOT NULL,
        PRIMARY KEY (tenant_id, bucket, bot, tool, agent, status)""",
    "ai_sketches_daily": """
        tenant_id bigint NOT NULL,
        day date NOT NULL,
        bot boolean NOT NULL,
        measure text NOT NULL,
        subject text NOT NULL,
        agent text NOT NULL,
        bin integer NOT NULL,
        count bigint NOT NULL,
        PRIMARY KEY (tenant_id, day, bot, measure, subject, agent, bin)""",
    "ai_spend_daily": """
        tenant_id bigint NOT NULL,
        day date NOT NULL,
        bot boolean NOT NULL,
        dimension text NOT NULL,
        key text NOT NULL,
        agent text NOT NULL,
        requests bigint NOT NULL,
        turns bigint NOT NULL,
        tokens bigint NOT NULL,
        unpriced_tokens bigint NOT NULL,
        cost numeric NOT NULL,
        first_at timestamptz NOT NULL,
        last_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, day, bot, dimension, key, agent)""",
}


def upgrade() -> None:
    op.execute("ALTER TABLE events ADD COLUMN ai jsonb")
    for table, columns in TABLES.items():
        op.execute(f"CREATE TABLE {table} ({columns})")
        tenant_table(table)
    op.execute("CREATE INDEX ai_usage_hourly_model ON ai_usage_hourly (tenant_id, provider, model, bucket)")
    op.execute("CREATE INDEX ai_spend_daily_key ON ai_spend_daily (tenant_id, dimension, key, day)")


def downgrade() -> None:
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
    op.execute("ALTER TABLE events DROP COLUMN ai")
