"""The spine: tenants, keys, partitioned raw events, outbox, tour rollups, row-level security.

Revision ID: 0001_spine
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import os
import re

from alembic import op

revision = "0001_spine"
down_revision = None
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", APP_ROLE):
    raise ValueError(f"ANALYTICS_APP_ROLE={APP_ROLE!r} must be a lower-case SQL identifier")

# Tables holding tenant data; every one gets the same two row-level-security policies.
TENANT_TABLES = (
    "api_keys", "events", "outbox", "tours", "tour_steps",
    "counters_hourly", "counters_daily", "daily_users", "selector_failures_daily",
)

SCHEMA = """
CREATE TABLE tenants (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    timezone text NOT NULL DEFAULT 'UTC',
    raw_retention_days integer NOT NULL DEFAULT 90 CHECK (raw_retention_days > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id bigint GENERATED ALWAYS AS IDENTITY,
    kind text NOT NULL CHECK (kind IN ('publishable', 'secret')),
    display_prefix text NOT NULL,
    key_hash bytea NOT NULL,
    name text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);
CREATE INDEX api_keys_hash ON api_keys (key_hash);

-- Raw events, range-partitioned by event time (monthly, UTC); retention drops partitions.
-- The client id is unique per tenant and timestamp: a retried event is the same event.
CREATE TABLE events (
    tenant_id bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    id uuid NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    type text NOT NULL,
    user_id text,
    anonymous_id text,
    session_id text,
    tour_id text,
    step_index integer,
    step_id text,
    content_id text,
    selector text,
    url text,
    properties jsonb,
    PRIMARY KEY (tenant_id, occurred_at, id)
) PARTITION BY RANGE (occurred_at);

-- One row per accepted ingest batch: the work the rollup job still has to fold in.
CREATE TABLE outbox (
    tenant_id bigint NOT NULL,
    id bigint GENERATED ALWAYS AS IDENTITY,
    event_ids uuid[] NOT NULL,
    occurred_ats timestamptz[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE tours (
    tenant_id bigint NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id text NOT NULL,
    title text,
    first_seen_at timestamptz,
    last_seen_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE tour_steps (
    tenant_id bigint NOT NULL,
    tour_id text NOT NULL,
    step_index integer NOT NULL CHECK (step_index >= 0),
    step_id text,
    title text,
    selector text,
    PRIMARY KEY (tenant_id, tour_id, step_index),
    FOREIGN KEY (tenant_id, tour_id) REFERENCES tours (tenant_id, id) ON DELETE CASCADE
);

-- Counters: step_index -1 is the whole entity. Hour buckets start at a local hour (UTC instant).
CREATE TABLE counters_hourly (
    tenant_id bigint NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    metric text NOT NULL,
    step_index integer NOT NULL DEFAULT -1,
    bucket timestamptz NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (tenant_id, entity_type, entity_id, metric, step_index, bucket)
);

-- Days are the tenant's local calendar days.
CREATE TABLE counters_daily (
    tenant_id bigint NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    metric text NOT NULL,
    step_index integer NOT NULL DEFAULT -1,
    day date NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (tenant_id, entity_type, entity_id, metric, step_index, day)
);

-- Who did what on which local day: distinct users per step for funnels and unique counts.
CREATE TABLE daily_users (
    tenant_id bigint NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    metric text NOT NULL,
    step_index integer NOT NULL DEFAULT -1,
    day date NOT NULL,
    user_key text NOT NULL,
    PRIMARY KEY (tenant_id, entity_type, entity_id, metric, step_index, day, user_key)
);

CREATE TABLE selector_failures_daily (
    tenant_id bigint NOT NULL,
    entity_type text NOT NULL,
    entity_id text NOT NULL,
    selector text NOT NULL,
    url text NOT NULL DEFAULT '',
    day date NOT NULL,
    failures bigint NOT NULL,
    last_seen_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, entity_type, entity_id, selector, url, day)
);
CREATE INDEX selector_failures_daily_day ON selector_failures_daily (tenant_id, day);

-- Creates the month's partition of events if missing; callable by the app role.
CREATE FUNCTION analytics_ensure_event_partition(p_at timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    month_start timestamptz := date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    part text := 'events_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM');
BEGIN
    IF to_regclass(part) IS NULL THEN
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                part, month_start, month_start + interval '1 month');
        EXCEPTION WHEN duplicate_table THEN
            NULL;  -- another process created it first
        END;
    END IF;
    RETURN part;
END $$;

-- Resolves an API key hash before any tenant is known (row-level security would hide it).
CREATE FUNCTION analytics_resolve_key(p_hash bytea)
RETURNS TABLE (tenant_id bigint, kind text, timezone text, raw_retention_days integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT k.tenant_id, k.kind, t.timezone, t.raw_retention_days
    FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
    WHERE k.key_hash = p_hash AND k.revoked_at IS NULL
$$;

-- Tenants with rollup work waiting, for the sweeper.
CREATE FUNCTION analytics_pending_tenants()
RETURNS TABLE (tenant_id bigint, batches bigint, oldest timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT tenant_id, count(*), min(created_at) FROM outbox GROUP BY tenant_id
$$;
"""


def _statements(script: str) -> list[str]:
    """Split on semicolons outside dollar-quoted bodies (asyncpg runs one statement at a time)."""
    statements, current, quoted = [], [], False
    for line in script.splitlines():
        if line.strip().startswith("--") and not quoted:
            continue
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if not quoted and line.rstrip().endswith(";"):
            statements.append("\n".join(current).strip())
            current = []
    return [s for s in statements if s]


def upgrade() -> None:
    for statement in _statements(SCHEMA):
        op.execute(statement)
    for month_offset in range(-3, 3):
        op.execute(
            f"SELECT analytics_ensure_event_partition(now() + interval '{month_offset} month')"
        )
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN;
            END IF;
        END $$;
        """
    )
    op.execute(f"GRANT {APP_ROLE} TO CURRENT_USER")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON tenants TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(TENANT_TABLES)} TO {APP_ROLE}")
    for fn in ("analytics_ensure_event_partition(timestamptz)", "analytics_resolve_key(bytea)",
               "analytics_pending_tenants()"):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {APP_ROLE}")
    tenant_check = "NULLIF(current_setting('analytics.tenant_id', true), '')::bigint"
    op.execute("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE tenants FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY tenant_isolation ON tenants TO {APP_ROLE} USING (id = {tenant_check})")
    op.execute("CREATE POLICY maintenance ON tenants TO CURRENT_USER USING (true) WITH CHECK (true)")
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} TO {APP_ROLE} "
            f"USING (tenant_id = {tenant_check}) WITH CHECK (tenant_id = {tenant_check})"
        )
        # The migrating owner (used by admin commands and the SECURITY DEFINER functions).
        op.execute(
            f"CREATE POLICY maintenance ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)"
        )


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS analytics_pending_tenants(), analytics_resolve_key(bytea), "
        "analytics_ensure_event_partition(timestamptz)"
    )
    for table in (*reversed(TENANT_TABLES), "tenants"):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
