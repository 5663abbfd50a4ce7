"""Sessions and bots: the session rows the worker derives, bot flags with their reasons, tenant bot
rules (applied retroactively by a job), days whose counters must be recomputed after a flag
changed, a human/bot dimension on every counter, and what ingest now keeps per event (effective
user agent, the raw IP only when the tenant opts in, capsule details, the derived session).

Revision ID: 0006_sessions
Revises: 0005_page_context
Create Date: 2026-11-22
"""

from __future__ import annotations

import os

from alembic import op

revision = "0006_sessions"
down_revision = "0005_page_context"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"
TENANT_CHECK = "NULLIF(current_setting('analytics.tenant_id', true), '')::bigint"
NEW_TABLES = ("sessions", "bot_rules", "dirty_days")
# Counter tables and their primary keys before the bot dimension joins them.
COUNTER_KEYS = {
    "counters_hourly": "tenant_id, entity_type, entity_id, metric, step_index, bucket",
    "counters_daily": "tenant_id, entity_type, entity_id, metric, step_index, day",
    "daily_users": "tenant_id, entity_type, entity_id, metric, step_index, day, user_key",
    "selector_failures_daily": "tenant_id, entity_type, entity_id, selector, url, day",
}

SESSIONS = """
CREATE TABLE sessions (
    tenant_id bigint NOT NULL,
    id uuid NOT NULL,
    visitor_id text NOT NULL,
    user_id text,
    anonymous_id text,
    sdk_session_id text,
    started_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    request_count integer NOT NULL,
    page_views integer NOT NULL,
    unique_pages integer NOT NULL,
    landing_page text,
    entry_url text,
    exit_page text,
    referrer_url text,
    referrer_source text NOT NULL,
    utm_source text,
    utm_medium text,
    utm_campaign text,
    utm_term text,
    utm_content text,
    country text,
    region text,
    city text,
    device_type text NOT NULL,
    browser text,
    os text,
    user_agent text,
    ip_address inet,
    engagement_events integer NOT NULL DEFAULT 0,
    engaged_ms bigint NOT NULL DEFAULT 0,
    zero_dwell_page_views integer NOT NULL DEFAULT 0,
    interval_stddev_ms double precision,
    reading_patterns jsonb NOT NULL DEFAULT '{}',
    is_bot boolean NOT NULL DEFAULT false,
    is_scanner boolean NOT NULL DEFAULT false,
    agent_reasons jsonb NOT NULL DEFAULT '[]',
    behavioural_bot_score integer,
    behaviour_signals jsonb NOT NULL DEFAULT '{}',
    is_behavioural_bot boolean NOT NULL DEFAULT false,
    excluded boolean GENERATED ALWAYS AS (is_bot OR is_scanner OR is_behavioural_bot) STORED,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    scored_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sessions_started ON sessions (tenant_id, started_at);
CREATE INDEX sessions_last_seen ON sessions (tenant_id, last_seen_at);
CREATE INDEX sessions_visitor ON sessions (tenant_id, visitor_id, started_at);
-- Returning visitors: earlier sessions of the same signed-in user or SDK device id.
CREATE INDEX sessions_user ON sessions (tenant_id, user_id, started_at) WHERE user_id IS NOT NULL;
CREATE INDEX sessions_anonymous ON sessions (tenant_id, anonymous_id, started_at)
    WHERE anonymous_id IS NOT NULL;
CREATE INDEX sessions_unscored ON sessions (tenant_id, updated_at) WHERE scored_at IS NULL;

CREATE TABLE bot_rules (
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id bigint GENERATED ALWAYS AS IDENTITY,
    pattern text NOT NULL,
    note text,
    created_at timestamptz NOT NULL DEFAULT now(),
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    sessions_flagged integer,
    days_corrected integer,
    finished_at timestamptz,
    error text,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, pattern)
);

CREATE TABLE dirty_days (
    tenant_id bigint NOT NULL,
    day date NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, day)
);
"""


def upgrade() -> None:
    for statement in SESSIONS.split(";"):
        if statement.strip():
            op.execute(statement)
    op.execute("ALTER TABLE tenants ADD COLUMN store_ip boolean NOT NULL DEFAULT false")
    op.execute("ALTER TABLE events ADD COLUMN user_agent text, ADD COLUMN ip_address inet, "
               "ADD COLUMN capsule jsonb, ADD COLUMN session_key uuid")
    # The worker loads a visitor's events around new ones, across midnight's salt change.
    op.execute("CREATE INDEX events_visitor ON events (tenant_id, visitor_id, occurred_at)")
    op.execute("CREATE INDEX events_visitor_prev ON events (tenant_id, visitor_prev, occurred_at)")
    for table, key in COUNTER_KEYS.items():
        op.execute(f"ALTER TABLE {table} ADD COLUMN bot boolean NOT NULL DEFAULT false")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
        op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({key}, bot)")
    for table in NEW_TABLES:
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} TO {APP_ROLE} "
                   f"USING (tenant_id = {TENANT_CHECK}) WITH CHECK (tenant_id = {TENANT_CHECK})")
        op.execute(f"CREATE POLICY maintenance ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)")
    _resolve_key(with_store_ip=True)
    # For the sweeper (row-level security hides other tenants from the app role).
    op.execute(
        """
        CREATE FUNCTION analytics_session_work()
        RETURNS TABLE (tenant_id bigint, work bigint, queued_rules bigint[])
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT tenant_id, sum(work)::bigint, array_remove(array_agg(rule), NULL) FROM (
                SELECT tenant_id, count(*) AS work, NULL::bigint AS rule FROM sessions
                    WHERE scored_at IS NULL GROUP BY tenant_id
                UNION ALL SELECT tenant_id, count(*), NULL FROM dirty_days GROUP BY tenant_id
                UNION ALL SELECT tenant_id, 0, id FROM bot_rules WHERE status IN ('queued', 'running')
            ) w GROUP BY tenant_id
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION analytics_session_work() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_session_work() TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics_session_work()")
    _resolve_key(with_store_ip=False)
    for table, key in COUNTER_KEYS.items():
        op.execute(f"DELETE FROM {table} WHERE bot")
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
        op.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({key})")
        op.execute(f"ALTER TABLE {table} DROP COLUMN bot")
    op.execute("DROP INDEX events_visitor_prev")
    op.execute("DROP INDEX events_visitor")
    op.execute("ALTER TABLE events DROP COLUMN user_agent, DROP COLUMN ip_address, DROP COLUMN capsule, "
               "DROP COLUMN session_key")
    op.execute("ALTER TABLE tenants DROP COLUMN store_ip")
    for table in reversed(NEW_TABLES):
        op.execute(f"DROP TABLE {table}")


def _resolve_key(*, with_store_ip: bool) -> None:
    """The key lookup also answers whether the tenant keeps raw IP addresses."""
    extra_type, extra_column = (", store_ip boolean", ", t.store_ip") if with_store_ip else ("", "")
    op.execute("DROP FUNCTION analytics_resolve_key(bytea)")
    op.execute(
        f"""
        CREATE FUNCTION analytics_resolve_key(p_hash bytea)
        RETURNS TABLE (tenant_id bigint, kind text, timezone text, raw_retention_days integer,
                       key_id bigint, persisted_only boolean{extra_type})
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT k.tenant_id, k.kind, t.timezone, t.raw_retention_days, k.id, t.persisted_only
                   {extra_column}
            FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
            WHERE k.key_hash = p_hash AND k.revoked_at IS NULL
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION analytics_resolve_key(bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_resolve_key(bytea) TO {APP_ROLE}")
