"""Raw retention: events older than the tenant's cutoff are deleted, and raw-event partitions older
than every tenant's cutoff are dropped whole, by two narrow SECURITY DEFINER functions the worker
calls as the app role; ``tenants.raw_events_from`` records the cutoff (nothing older is kept).

The cutoff is the local midnight (tenant time zone) of the day ``raw_retention_days`` + 1 before
now: one day of grace for events just inside retention still waiting in the outbox, and only whole
local days remain. ``now`` is the caller's, but never later than the server's: the functions cannot
be made to delete anything still inside retention.

Revision ID: 0013_retention
Revises: 0012_privacy_signals
Create Date: 2026-12-03
"""

from __future__ import annotations

import os

from alembic import op

revision = "0013_retention"
down_revision = "0012_privacy_signals"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"

FUNCTIONS = (
    "analytics_raw_events_cutoff(text, integer, timestamptz)",
    "analytics_drop_expired_event_partitions(timestamptz)",
    "analytics_delete_expired_events(timestamptz)",
)


def upgrade() -> None:
    op.execute("ALTER TABLE tenants ADD COLUMN raw_events_from timestamptz")
    op.execute("""
CREATE FUNCTION analytics_raw_events_cutoff(p_timezone text, p_days integer, p_now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT (((p_now AT TIME ZONE p_timezone)::date - (p_days + 1))::timestamp) AT TIME ZONE p_timezone
$$""")
    # A partition goes when its upper bound is at or before every tenant's cutoff: all its rows
    # are expired. Returns the rows it held per tenant (one row with tenant NULL for an empty one).
    op.execute("""
CREATE FUNCTION analytics_drop_expired_event_partitions(p_now timestamptz)
RETURNS TABLE (partition_name text, tenant bigint, events bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    oldest_cutoff timestamptz;
    part record;
BEGIN
    SELECT min(analytics_raw_events_cutoff(t.timezone, t.raw_retention_days, LEAST(p_now, now())))
        INTO oldest_cutoff FROM tenants t;
    IF oldest_cutoff IS NULL THEN
        RETURN;
    END IF;
    FOR part IN
        SELECT c.relname AS name, substring(pg_get_expr(c.relpartbound, c.oid)
                                            FROM 'TO \\(''([^'']+)''\\)')::timestamptz AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'public.events'::regclass
        ORDER BY 2
    LOOP
        CONTINUE WHEN part.upper_bound IS NULL OR part.upper_bound > oldest_cutoff;
        RETURN QUERY EXECUTE format(
            'SELECT %L::text, p.tenant_id, count(*) FROM %I p GROUP BY p.tenant_id '
            'UNION ALL SELECT %L::text, NULL::bigint, 0::bigint WHERE NOT EXISTS (SELECT 1 FROM %I)',
            part.name, part.name, part.name, part.name);
        EXECUTE format('DROP TABLE %I', part.name);
    END LOOP;
END $$""")
    # Per tenant: delete what is older than its cutoff and record the cutoff (never moved back: raw
    # events deleted under a shorter retention do not come back when it grows).
    op.execute("""
CREATE FUNCTION analytics_delete_expired_events(p_now timestamptz)
RETURNS TABLE (tenant bigint, kept_from timestamptz, deleted bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    t record;
    cutoff timestamptz;
BEGIN
    FOR t IN SELECT id, timezone, raw_retention_days FROM tenants ORDER BY id LOOP
        cutoff := analytics_raw_events_cutoff(t.timezone, t.raw_retention_days, LEAST(p_now, now()));
        DELETE FROM events e WHERE e.tenant_id = t.id AND e.occurred_at < cutoff;
        GET DIAGNOSTICS deleted = ROW_COUNT;
        UPDATE tenants SET raw_events_from = GREATEST(tenants.raw_events_from, cutoff) WHERE id = t.id
            RETURNING tenants.raw_events_from INTO kept_from;
        tenant := t.id;
        RETURN NEXT;
    END LOOP;
END $$""")
    for fn in FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {APP_ROLE}")


def downgrade() -> None:
    for fn in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION {fn}")
    op.execute("ALTER TABLE tenants DROP COLUMN raw_events_from")
