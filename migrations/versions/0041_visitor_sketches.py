"""Distinct people over long ranges without reading every person-day: per tenant-local day, a
HyperLogLog sketch of each large (dimension, key, bot side) group of ``session_key_visitors``, of
each day's visitors and users in ``session_people_days`` and of each tour step's viewers in
``daily_users`` (analytics.rollups.sketches).

- ``session_day_versions``: per tenant and day, a version that statement triggers on the three
  per-day tables bump whenever a day's set of people changes (a row inserted or deleted; a changed
  session count leaves the set as it was), and ``due``: whether the sketch job has yet to build the
  day at that version.
- ``visitor_sketches``: the registers of one group and day, with the version of the day they were
  built from. A reader uses a sketch only while its version is the day's version, so a sketch can
  never answer for a set that has changed since: whoever changed it (the rollup, scoring, bot rules,
  erasure, retention) bumped the version in the same transaction, to a new value of one sequence
  (retention deletes a day's version row and then, deleting the day's sessions, makes a new one).
  Groups without a current sketch are counted from the exact rows.

Revision ID: 0041_visitor_sketches
Revises: 0040_session_key_days
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from migrations.rls import APP_ROLE, tenant_table

revision = "0041_visitor_sketches"
down_revision = "0040_session_key_days"
branch_labels = None
depends_on = None

_PEOPLE_TABLES = ("session_key_visitors", "session_people_days", "daily_users")
_REFERENCING = {"INSERT": "NEW TABLE AS changed_rows", "DELETE": "OLD TABLE AS changed_rows"}


def upgrade() -> None:
    # Versions from one sequence: a day whose rows were deleted (retention) and filled again never gets
    # back a version an old sketch carries. ``due``: the day's people changed since the sketch job last
    # built it (a bump of a due day changes no indexed column, so it stays a HOT update).
    op.execute("CREATE SEQUENCE session_day_version_seq")
    op.execute("""
        CREATE TABLE session_day_versions (
            tenant_id bigint NOT NULL, day date NOT NULL,
            version bigint NOT NULL DEFAULT nextval('session_day_version_seq'),
            due boolean NOT NULL DEFAULT true, PRIMARY KEY (tenant_id, day))""")
    op.execute("CREATE INDEX session_day_versions_due ON session_day_versions (tenant_id, day) WHERE due")
    # STORAGE MAIN: a sketch (4,096 bytes, compressible) stays in the row instead of a TOAST table,
    # so reading a month of a dimension's sketches is one index range scan.
    op.execute("""
        CREATE TABLE visitor_sketches (
            tenant_id bigint NOT NULL, dimension text NOT NULL, day date NOT NULL, key text[] NOT NULL,
            bot boolean NOT NULL, version bigint NOT NULL, people integer NOT NULL,
            registers bytea NOT NULL, PRIMARY KEY (tenant_id, dimension, day, key, bot))""")
    op.execute("ALTER TABLE visitor_sketches ALTER COLUMN registers SET STORAGE MAIN")
    for table in ("session_day_versions", "visitor_sketches"):
        tenant_table(table)
    # SECURITY DEFINER as in 0036: whoever writes the per-day rows (the app role under row-level
    # security, or the owner) bumps the version.
    op.execute("""
        CREATE FUNCTION analytics_bump_day_versions() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public, pg_temp AS $$
        BEGIN
            INSERT INTO session_day_versions AS v (tenant_id, day)
            SELECT DISTINCT tenant_id, day FROM changed_rows ORDER BY 1, 2
            ON CONFLICT (tenant_id, day) DO UPDATE
                SET version = nextval('session_day_version_seq'), due = true;
            RETURN NULL;
        END $$""")
    for table in _PEOPLE_TABLES:
        for operation, referencing in _REFERENCING.items():
            op.execute(f"CREATE TRIGGER {table}_version_{operation.lower()} AFTER {operation} ON {table} "
                       f"REFERENCING {referencing} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION analytics_bump_day_versions()")
    # One group's visitors of one day, for reads under row-level security: there a lateral look-up by
    # key could not use the primary key's key column (array equality is not leakproof, so the planner
    # applied it as a filter after the policy, reading every key's rows of the day for each group).
    # The tenant is the transaction's, as the policy's.
    op.execute("""
        CREATE FUNCTION analytics_key_day_visitors(p_dimension text, p_day date, p_key text[], p_bot boolean)
        RETURNS SETOF text LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        ROWS 500 AS $$
            SELECT visitor FROM session_key_visitors
            WHERE tenant_id = NULLIF(current_setting('analytics.tenant_id', true), '')::bigint
              AND dimension = p_dimension AND day = p_day AND key = p_key AND bot = p_bot
        $$""")
    signature = "analytics_key_day_visitors(text, date, text[], boolean)"
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    # The tenants with days before their local today whose sketches are not built at the day's version
    # (the worker's sweeper reads every tenant's).
    op.execute("""
        CREATE FUNCTION analytics_sketch_work() RETURNS TABLE (tenant_id bigint, days bigint)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT d.tenant_id, count(*) FROM session_day_versions d JOIN tenants t ON t.id = d.tenant_id
            WHERE d.due AND d.day < (now() AT TIME ZONE t.timezone)::date
            GROUP BY d.tenant_id
        $$""")
    op.execute("REVOKE ALL ON FUNCTION analytics_sketch_work() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_sketch_work() TO {APP_ROLE}")
    op.execute("""
        INSERT INTO session_day_versions (tenant_id, day)
        SELECT tenant_id, day FROM session_key_visitors
        UNION SELECT tenant_id, day FROM session_people_days
        UNION SELECT tenant_id, day FROM daily_users""")


def downgrade() -> None:
    for table in _PEOPLE_TABLES:
        for operation in _REFERENCING:
            op.execute(f"DROP TRIGGER {table}_version_{operation.lower()} ON {table}")
    op.execute("DROP FUNCTION analytics_bump_day_versions()")
    op.execute("DROP FUNCTION analytics_sketch_work()")
    op.execute("DROP FUNCTION analytics_key_day_visitors(text, date, text[], boolean)")
    op.execute("DROP TABLE visitor_sketches")
    op.execute("DROP TABLE session_day_versions")
    op.execute("DROP SEQUENCE session_day_version_seq")
