"""Costs: the daily twins of the hourly AI rollups (usage and cost, requests, tool calls per
tenant-local day, the same keys with ``day`` for ``bucket``), read for the whole days of a period,
filled from the hourly rows already rolled up; and the tenants whose library prices the price sync
job checks (``analytics_ai_tenants()``: row-level security hides the tenants from the worker's role).

Revision ID: 0024_costs_daily
Revises: 0023_session_folds
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0024_costs_daily"
down_revision = "0023_session_folds"
branch_labels = None
depends_on = None

# daily table: (key columns after tenant_id and day, summed value columns)
TABLES = {
    "ai_usage_daily": (("bot", "provider", "model", "agent", "tool", "usage_type"),
                       ("tokens", "unpriced_tokens", "cost")),
    "ai_requests_daily": (("bot", "provider", "model", "agent", "status"), ("requests",)),
    "ai_tools_daily": (("bot", "tool", "agent", "status"), ("calls", "duration_ms")),
}
TYPES = {"bot": "boolean", "tokens": "bigint", "unpriced_tokens": "bigint", "cost": "numeric",
         "requests": "bigint", "calls": "bigint", "duration_ms": "bigint"}


def upgrade() -> None:
    for table, (keys, values) in TABLES.items():
        columns = ", ".join(f"{c} {TYPES.get(c, 'text')} NOT NULL" for c in (*keys, *values))
        op.execute(f"CREATE TABLE {table} (tenant_id bigint NOT NULL, day date NOT NULL, {columns}, "
                   f"PRIMARY KEY (tenant_id, day, {', '.join(keys)}))")
        tenant_table(table)
        hourly = table.replace("_daily", "_hourly")
        sums = ", ".join(f"sum(h.{c})" for c in values)
        groups = ", ".join(map(str, range(1, len(keys) + 3)))  # tenant_id, day, the keys
        op.execute(f"INSERT INTO {table} SELECT h.tenant_id, (h.bucket AT TIME ZONE t.timezone)::date, "
                   f"{', '.join('h.' + k for k in keys)}, {sums} FROM {hourly} h "
                   f"JOIN tenants t ON t.id = h.tenant_id GROUP BY {groups}")


    op.execute("""
        CREATE FUNCTION analytics_ai_tenants() RETURNS TABLE (tenant_id bigint, timezone text)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT t.id, t.timezone FROM tenants t
            WHERE EXISTS (SELECT 1 FROM ai_models m WHERE m.tenant_id = t.id) ORDER BY t.id
        $$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics_ai_tenants()")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
