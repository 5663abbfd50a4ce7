"""Sessions per tenant-local day: ``session_days`` holds, per day, bot side, dimension and key, the
additive figures of the sessions that started that day (sessions, page views, bounces, duration
sums); ``session_people_days`` holds each day's visitors and signed-in users (with their session
count), so distinct visitors and users of any run of days stay exact. Dashboards read whole days
from them instead of aggregating every session of the period (analytics.sessions.days).

They are kept by statement triggers on ``sessions``: every writer of session rows (the rollup's
upsert and merges, behavioural scoring, bot rules, exemptions, unknown-agent settings, identity
re-derivation, erasure, retention) changes them in the same statement, exactly once, by subtracting
the old rows and adding the new ones. The dimensions' key expressions are those of
``analytics.sessions.stats.DIMENSIONS`` as of this revision; ``analytics rollups verify`` compares
both tables with a recomputation from the live definitions. Filled here from the stored sessions.

Revision ID: 0036_session_days
Revises: 0035_costs_week_bounds
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0036_session_days"
down_revision = "0035_costs_week_bounds"
branch_labels = None
depends_on = None

_HOST = (r"regexp_replace(lower(substring(referrer_url FROM "
         r"'^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//(?:[^@/?#]*@)?([^:/?#]+)')), '^(www|m)\.', '')")
# dimension -> (key expressions, which sessions have a value); "all" is the day's totals.
DIMENSIONS = {
    "all": ((), "true"),
    "sources": (("referrer_source",), "true"),
    "referrers": ((_HOST,), f"referrer_source <> 'direct' AND {_HOST} <> ''"),
    "campaigns": (("utm_source", "utm_medium", "utm_campaign"),
                  "coalesce(utm_source, utm_medium, utm_campaign) IS NOT NULL"),
    "countries": (("country",), "true"),
    "regions": (("country", "region"), "region IS NOT NULL"),
    "devices": (("device_type",), "true"),
    "browsers": (("browser",), "true"),
    "operating_systems": (("os",), "true"),
    "landing_pages": (("landing_page",), "landing_page IS NOT NULL"),
}
_BOUNCED = "(page_views <= 1 AND request_count = page_views + engagement_events)"
_DURATION = "extract(epoch FROM last_seen_at - started_at)"
_VALUES = ", ".join(
    f"('{name}', CAST(ARRAY[{', '.join(keys)}] AS text[]), coalesce({where}, false))"
    for name, (keys, where) in DIMENSIONS.items())


def _fold(changed: str) -> str:
    """One statement adding the rows of ``changed`` (``sign``, then the sessions columns) to both
    tables, and selecting the tenants it touched into ``tenants``."""
    return f"""
        WITH changed AS ({changed}),
        dated AS (
            SELECT c.*, (c.started_at AT TIME ZONE t.timezone)::date AS day
            FROM changed c JOIN tenants t ON t.id = c.tenant_id),
        days AS (
            INSERT INTO session_days AS d (tenant_id, day, bot, dimension, key, sessions, page_views,
                                           bounced, duration_seconds)
            SELECT tenant_id, day, excluded, dim.name, dim.key, sum(sign), sum(sign * page_views),
                   sum(sign * CAST({_BOUNCED} AS integer)), sum(sign * {_DURATION})
            FROM dated CROSS JOIN LATERAL (VALUES {_VALUES}) AS dim(name, key, present)
            WHERE dim.present
            GROUP BY 1, 2, 3, 4, 5
            HAVING sum(sign) <> 0 OR sum(sign * page_views) <> 0
                OR sum(sign * CAST({_BOUNCED} AS integer)) <> 0 OR sum(sign * {_DURATION}) <> 0
            ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (tenant_id, day, dimension, key, bot) DO UPDATE SET
                sessions = d.sessions + EXCLUDED.sessions, page_views = d.page_views + EXCLUDED.page_views,
                bounced = d.bounced + EXCLUDED.bounced,
                duration_seconds = d.duration_seconds + EXCLUDED.duration_seconds
            RETURNING 1),
        people AS (
            INSERT INTO session_people_days AS p (tenant_id, day, bot, kind, person, sessions)
            SELECT tenant_id, day, excluded, who.kind, who.person, sum(sign)
            FROM dated
            CROSS JOIN LATERAL (VALUES ('visitor', visitor_id), ('user', user_id)) AS who(kind, person)
            WHERE who.person IS NOT NULL
            GROUP BY 1, 2, 3, 4, 5 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3, 4, 5
            ON CONFLICT (tenant_id, day, kind, person, bot) DO UPDATE
                SET sessions = p.sessions + EXCLUDED.sessions
            RETURNING 1)
        SELECT array_agg(DISTINCT tenant_id) INTO tenants FROM changed;
    """


_CHANGES = {
    "INSERT": "SELECT 1 AS sign, * FROM new_rows",
    "UPDATE": "SELECT -1 AS sign, * FROM old_rows UNION ALL SELECT 1, * FROM new_rows",
    "DELETE": "SELECT -1 AS sign, * FROM old_rows",
}
_REFERENCING = {"INSERT": "NEW TABLE AS new_rows", "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
                "DELETE": "OLD TABLE AS old_rows"}


def upgrade() -> None:
    op.execute("""
        CREATE TABLE session_days (
            tenant_id bigint NOT NULL, day date NOT NULL, bot boolean NOT NULL, dimension text NOT NULL,
            key text[] NOT NULL, sessions bigint NOT NULL, page_views bigint NOT NULL,
            bounced bigint NOT NULL, duration_seconds numeric NOT NULL,
            PRIMARY KEY (tenant_id, day, dimension, key, bot))""")
    op.execute("""
        CREATE TABLE session_people_days (
            tenant_id bigint NOT NULL, day date NOT NULL, bot boolean NOT NULL, kind text NOT NULL,
            person text NOT NULL, sessions integer NOT NULL,
            PRIMARY KEY (tenant_id, day, kind, person, bot))""")
    for table in ("session_days", "session_people_days"):
        tenant_table(table)
        # The rows a change emptied, found without scanning the tenant's rows.
        op.execute(f"CREATE INDEX {table}_emptied ON {table} (tenant_id) WHERE sessions = 0")
    # SECURITY DEFINER: the owner's maintenance policy lets it read the tenant's time zone and write
    # the rows of whichever tenants the statement's session rows belong to (row-level security
    # already checked those rows).
    branches = "\n        ELS".join(
        f"IF TG_OP = '{operation}' THEN {_fold(changed)}" for operation, changed in _CHANGES.items())
    op.execute(f"""
        CREATE FUNCTION analytics_session_days() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public, pg_temp AS $$
        DECLARE
            tenants bigint[];
        BEGIN
        {branches}
        END IF;
        DELETE FROM session_days WHERE sessions = 0 AND tenant_id = ANY(tenants);
        DELETE FROM session_people_days WHERE sessions = 0 AND tenant_id = ANY(tenants);
        RETURN NULL;
        END $$""")
    for operation, referencing in _REFERENCING.items():
        op.execute(f"CREATE TRIGGER sessions_days_{operation.lower()} AFTER {operation} ON sessions "
                   f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION analytics_session_days()")
    op.execute(f"DO $$ DECLARE tenants bigint[]; BEGIN {_fold('SELECT 1 AS sign, * FROM sessions')} END $$")


def downgrade() -> None:
    for operation in _REFERENCING:
        op.execute(f"DROP TRIGGER sessions_days_{operation.lower()} ON sessions")
    op.execute("DROP FUNCTION analytics_session_days()")
    op.execute("DROP TABLE session_people_days")
    op.execute("DROP TABLE session_days")
