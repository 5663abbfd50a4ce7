"""Two more per-day session tables for the traffic reads, kept like ``session_days``:

- ``session_key_visitors``: per tenant-local day, dimension (sources, referrers, countries...), key,
  visitor id and bot side, the visitor's session count, so a breakdown's distinct visitors over any
  run of whole days are counted from narrow rows instead of every session row of the period (the
  traffic dashboard selects them for six dimensions);
- ``session_bot_days``: per day, the sessions each bot tier flagged (code '') and each of its reason
  codes, for the bot filter's summary (by tier, by reason).

Statement triggers on ``sessions`` subtract the old rows and add the new ones in the same statement
(migration 0036 says why), so every writer of session rows keeps them; an update that changes none of
a session's day, bot side, keys, visitor or flags writes nothing here. The dimensions are those of
0036 (the totals aside) and the flags those of ``analytics.sessions.measures.BOT_FLAGS`` as of this
revision; ``analytics rollups verify`` compares both tables with a recomputation from the live
definitions. Filled here from the stored sessions.

Revision ID: 0040_session_key_days
Revises: 0039_funnel_voided_ends
Create Date: 2026-12-04
"""

from __future__ import annotations

import importlib

from alembic import op

from migrations.rls import tenant_table

revision = "0040_session_key_days"
down_revision = "0039_funnel_voided_ends"
branch_labels = None
depends_on = None

_DAYS = importlib.import_module("migrations.versions.0036_session_days")
_VALUES = ", ".join(
    f"('{name}', CAST(ARRAY[{', '.join(keys)}] AS text[]), coalesce({where}, false))"
    for name, (keys, where) in _DAYS.DIMENSIONS.items() if keys)
_FLAGS = """(
    SELECT CAST(r->>'tier' AS integer) AS tier, r->>'code' AS code
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(s.agent_reasons) = 'array' THEN s.agent_reasons
                                   ELSE '[]' END) r
    WHERE r->>'code' <> '' AND (r->>'tier' = '1' AND s.is_bot OR r->>'tier' = '2' AND s.is_scanner)
    UNION
    SELECT 3, k FROM jsonb_object_keys(CASE WHEN s.is_behavioural_bot
                                                 AND jsonb_typeof(s.behaviour_signals) = 'object'
                                            THEN s.behaviour_signals ELSE '{}' END) k
    WHERE k <> ''
    UNION
    SELECT t.tier, '' FROM (VALUES (1, s.is_bot), (2, s.is_scanner), (3, s.is_behavioural_bot))
                           AS t(tier, flagged)
    WHERE t.flagged)"""
_TABLES = ("session_key_visitors", "session_bot_days")


def _fold(changed: str) -> str:
    """One statement adding the rows of ``changed`` (``sign``, then the sessions columns) to both
    tables and selecting the tenants it touched into ``tenants``."""
    return f"""
        WITH changed AS ({changed}),
        dated AS (
            SELECT c.*, (c.started_at AT TIME ZONE t.timezone)::date AS day
            FROM changed c JOIN tenants t ON t.id = c.tenant_id),
        visitors AS (
            INSERT INTO session_key_visitors AS v (tenant_id, dimension, day, key, visitor, bot, sessions)
            SELECT tenant_id, dim.name, day, dim.key, visitor_id, excluded, sum(sign)
            FROM dated CROSS JOIN LATERAL (VALUES {_VALUES}) AS dim(name, key, present)
            WHERE dim.present AND visitor_id IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5, 6 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3, 4, 5, 6
            ON CONFLICT (tenant_id, dimension, day, key, visitor, bot) DO UPDATE
                SET sessions = v.sessions + EXCLUDED.sessions
            RETURNING 1),
        flags AS (
            INSERT INTO session_bot_days AS b (tenant_id, day, tier, code, sessions)
            SELECT s.tenant_id, s.day, f.tier, f.code, sum(s.sign)
            FROM dated s CROSS JOIN LATERAL {_FLAGS} AS f
            GROUP BY 1, 2, 3, 4 HAVING sum(s.sign) <> 0 ORDER BY 1, 2, 3, 4
            ON CONFLICT (tenant_id, day, tier, code) DO UPDATE SET sessions = b.sessions + EXCLUDED.sessions
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
    op.execute("""
        CREATE TABLE session_bot_days (
            tenant_id bigint NOT NULL, day date NOT NULL, tier smallint NOT NULL, code text NOT NULL,
            sessions integer NOT NULL, PRIMARY KEY (tenant_id, day, tier, code))""")
    for table in _TABLES:
        tenant_table(table)
        op.execute(f"CREATE INDEX {table}_emptied ON {table} (tenant_id) WHERE sessions = 0")
    branches = "\n        ELS".join(
        f"IF TG_OP = '{operation}' THEN {_fold(changed)}" for operation, changed in _DAYS._CHANGES.items())
    emptied = "\n        ".join(f"DELETE FROM {table} WHERE sessions = 0 AND tenant_id = ANY(tenants);"
                                for table in _TABLES)
    # SECURITY DEFINER for the reasons given in 0036.
    op.execute(f"""
        CREATE FUNCTION analytics_session_key_days() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public, pg_temp AS $$
        DECLARE
            tenants bigint[];
        BEGIN
        {branches}
        END IF;
        {emptied}
        RETURN NULL;
        END $$""")
    for operation, referencing in _DAYS._REFERENCING.items():
        op.execute(f"CREATE TRIGGER sessions_key_days_{operation.lower()} AFTER {operation} ON sessions "
                   f"REFERENCING {referencing} FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION analytics_session_key_days()")
    op.execute(f"DO $$ DECLARE tenants bigint[]; BEGIN {_fold('SELECT 1 AS sign, * FROM sessions')} END $$")


def downgrade() -> None:
    for operation in _DAYS._REFERENCING:
        op.execute(f"DROP TRIGGER sessions_key_days_{operation.lower()} ON sessions")
    op.execute("DROP FUNCTION analytics_session_key_days()")
    for table in _TABLES:
        op.execute(f"DROP TABLE {table}")
