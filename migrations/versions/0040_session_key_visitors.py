"""Visitors per tenant-local day and breakdown key: ``session_key_visitors`` holds, per day, bot side,
dimension (sources, referrers, countries...) and key, each visitor id with its session count, so a
breakdown's distinct visitors over any run of whole days are counted from narrow rows instead of
every session row of the period (the traffic breakdowns select them for six dimensions).

Kept like ``session_days`` (migration 0036): statement triggers on ``sessions`` subtract the old
rows and add the new ones in the same statement, so every writer of session rows keeps it; an
update that changes none of a session's day, bot side, keys or visitor writes nothing here. The
dimensions are those of 0036 (the totals dimension aside); ``analytics rollups verify`` compares
the table with a recomputation from the live definitions. Filled here from the stored sessions.

Revision ID: 0040_session_key_visitors
Revises: 0039_funnel_voided_ends
Create Date: 2026-12-04
"""

from __future__ import annotations

import importlib

from alembic import op

from migrations.rls import tenant_table

revision = "0040_session_key_visitors"
down_revision = "0039_funnel_voided_ends"
branch_labels = None
depends_on = None

_DAYS = importlib.import_module("migrations.versions.0036_session_days")
_VALUES = ", ".join(
    f"('{name}', CAST(ARRAY[{', '.join(keys)}] AS text[]), coalesce({where}, false))"
    for name, (keys, where) in _DAYS.DIMENSIONS.items() if keys)


def _fold(changed: str) -> str:
    """One statement adding the rows of ``changed`` (``sign``, then the sessions columns) to the table
    and selecting the tenants it touched into ``tenants``."""
    return f"""
        WITH changed AS ({changed}),
        dated AS (
            SELECT c.*, (c.started_at AT TIME ZONE t.timezone)::date AS day
            FROM changed c JOIN tenants t ON t.id = c.tenant_id WHERE c.visitor_id IS NOT NULL),
        kept AS (
            INSERT INTO session_key_visitors AS v (tenant_id, dimension, day, key, visitor, bot, sessions)
            SELECT tenant_id, dim.name, day, dim.key, visitor_id, excluded, sum(sign)
            FROM dated CROSS JOIN LATERAL (VALUES {_VALUES}) AS dim(name, key, present)
            WHERE dim.present
            GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
            ON CONFLICT (tenant_id, dimension, day, key, visitor, bot) DO UPDATE
                SET sessions = v.sessions + EXCLUDED.sessions
            RETURNING 1)
        SELECT array_agg(DISTINCT tenant_id) INTO tenants FROM changed;
    """


def upgrade() -> None:
    # Key order: a breakdown reads one dimension's run of days, then counts visitors per key.
    op.execute("""
        CREATE TABLE session_key_visitors (
            tenant_id bigint NOT NULL, dimension text NOT NULL, day date NOT NULL, key text[] NOT NULL,
            visitor text NOT NULL, bot boolean NOT NULL, sessions integer NOT NULL,
            PRIMARY KEY (tenant_id, dimension, day, key, visitor, bot))""")
    tenant_table("session_key_visitors")
    op.execute("CREATE INDEX session_key_visitors_emptied ON session_key_visitors (tenant_id) "
               "WHERE sessions = 0")
    branches = "\n        ELS".join(
        f"IF TG_OP = '{operation}' THEN {_fold(changed)}" for operation, changed in _DAYS._CHANGES.items())
    # SECURITY DEFINER for the reasons given in 0036.
    op.execute(f"""
        CREATE FUNCTION analytics_session_key_visitors() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public, pg_temp AS $$
        DECLARE
            tenants bigint[];
        BEGIN
        {branches}
        END IF;
        DELETE FROM session_key_visitors WHERE sessions = 0 AND tenant_id = ANY(tenants);
        RETURN NULL;
        END $$""")
    for operation, referencing in _DAYS._REFERENCING.items():
        op.execute(f"CREATE TRIGGER sessions_key_visitors_{operation.lower()} AFTER {operation} ON sessions "
                   f"REFERENCING {referencing} FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION analytics_session_key_visitors()")
    op.execute(f"DO $$ DECLARE tenants bigint[]; BEGIN {_fold('SELECT 1 AS sign, * FROM sessions')} END $$")


def downgrade() -> None:
    for operation in _DAYS._REFERENCING:
        op.execute(f"DROP TRIGGER sessions_key_visitors_{operation.lower()} ON sessions")
    op.execute("DROP FUNCTION analytics_session_key_visitors()")
    op.execute("DROP TABLE session_key_visitors")
