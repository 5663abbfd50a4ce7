"""Custom events: per-tenant event definitions (declared properties, strict mode, dimensions and
their backfill), the tenant's event allowlist switch, and the custom event rollups (hourly and daily
counts per name, distinct users per day, daily counts per declared dimension value with the values
admitted under the cardinality cap).

Revision ID: 0015_event_definitions
Revises: 0014_product_events
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations.rls import APP_ROLE, tenant_table

revision = "0015_event_definitions"
down_revision = "0014_product_events"
branch_labels = None
depends_on = None


TABLES = ("event_definitions", "event_dimensions", "custom_events_hourly", "custom_events_daily",
          "custom_event_users", "custom_event_values", "custom_event_admitted")


def upgrade() -> None:
    op.execute("ALTER TABLE tenants ADD COLUMN event_allowlist boolean NOT NULL DEFAULT false")
    op.execute(
        """
        CREATE TABLE event_definitions (
            tenant_id bigint NOT NULL,
            name text NOT NULL,
            description text,
            properties jsonb NOT NULL DEFAULT '[]',
            strict boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, name)
        )
        """
    )
    # One row per declared dimension; ``backfill_through``: while a backfill runs, the rollup counts
    # the dimension only for local days up to it (the backfill counts the later ones as it gets there).
    op.execute(
        """
        CREATE TABLE event_dimensions (
            tenant_id bigint NOT NULL,
            name text NOT NULL,
            dimension text NOT NULL,
            position integer NOT NULL,
            status text NOT NULL DEFAULT 'pending',
            backfill_through date,
            processed bigint NOT NULL DEFAULT 0,
            total bigint NOT NULL DEFAULT 0,
            declared_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, name, dimension),
            FOREIGN KEY (tenant_id, name) REFERENCES event_definitions (tenant_id, name) ON DELETE CASCADE
        )
        """
    )
    op.execute("CREATE INDEX event_dimensions_waiting ON event_dimensions (tenant_id) WHERE status <> 'done'")
    op.execute(
        """
        CREATE TABLE custom_events_hourly (
            tenant_id bigint NOT NULL, name text NOT NULL, bucket timestamptz NOT NULL,
            bot boolean NOT NULL, value bigint NOT NULL,
            PRIMARY KEY (tenant_id, name, bucket, bot)
        )
        """
    )
    op.execute("CREATE INDEX custom_events_hourly_bucket ON custom_events_hourly (tenant_id, bucket)")
    op.execute(
        """
        CREATE TABLE custom_events_daily (
            tenant_id bigint NOT NULL, name text NOT NULL, day date NOT NULL,
            bot boolean NOT NULL, value bigint NOT NULL,
            PRIMARY KEY (tenant_id, name, day, bot)
        )
        """
    )
    op.execute("CREATE INDEX custom_events_daily_day ON custom_events_daily (tenant_id, day)")
    op.execute(
        """
        CREATE TABLE custom_event_users (
            tenant_id bigint NOT NULL, name text NOT NULL, day date NOT NULL,
            bot boolean NOT NULL, user_key text NOT NULL,
            PRIMARY KEY (tenant_id, name, day, bot, user_key)
        )
        """
    )
    op.execute("CREATE INDEX custom_event_users_day ON custom_event_users (tenant_id, day)")
    op.execute(
        """
        CREATE TABLE custom_event_values (
            tenant_id bigint NOT NULL, name text NOT NULL, dimension text NOT NULL, day date NOT NULL,
            bot boolean NOT NULL, value text NOT NULL, count bigint NOT NULL,
            PRIMARY KEY (tenant_id, name, dimension, day, bot, value)
        )
        """
    )
    # Which values won a place under the cap on a day: kept apart from the bot-split counts, so a day
    # correction re-folds the day onto the same values.
    op.execute(
        """
        CREATE TABLE custom_event_admitted (
            tenant_id bigint NOT NULL, name text NOT NULL, dimension text NOT NULL, day date NOT NULL,
            value text NOT NULL,
            PRIMARY KEY (tenant_id, name, dimension, day, value)
        )
        """
    )
    for table in TABLES:
        tenant_table(table)
    op.execute(f"GRANT UPDATE (event_allowlist) ON tenants TO {APP_ROLE}")
    # Tenants with a dimension backfill waiting or interrupted, for the sweeper (across tenants).
    op.execute(
        """
        CREATE FUNCTION analytics_event_backfills()
        RETURNS TABLE (tenant_id bigint, dimensions bigint)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT tenant_id, count(*) FROM event_dimensions WHERE status <> 'done' GROUP BY tenant_id
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION analytics_event_backfills() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_event_backfills() TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics_event_backfills()")
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
    op.execute("ALTER TABLE tenants DROP COLUMN event_allowlist")
