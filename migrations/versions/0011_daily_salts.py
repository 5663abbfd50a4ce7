"""Visitor salts are random and stored one per UTC day, and deleted once they are older than yesterday:
a visitor id of two days ago can no longer be recomputed by anyone. The instance secret they used to
be derived from (0005) is deleted, so ids hashed under it cannot be recomputed either.

Revision ID: 0011_daily_salts
Revises: 0010_export_bots
Create Date: 2026-12-03
"""

from __future__ import annotations

import os

from alembic import op

revision = "0011_daily_salts"
down_revision = "0010_export_bots"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"


def upgrade() -> None:
    op.execute("CREATE TABLE visitor_salts (day date PRIMARY KEY, salt bytea NOT NULL, "
               "created_at timestamptz NOT NULL DEFAULT now())")
    op.execute("REVOKE ALL ON visitor_salts FROM PUBLIC")
    # The day's and the day before's salt, made on first use (244 random bits from two v4 UUIDs, core
    # PostgreSQL); every call first forgets salts older than yesterday (UTC). A past day (demo data)
    # gets salts of its own, forgotten again by the next call.
    op.execute("""
CREATE FUNCTION analytics_visitor_salts(p_day date) RETURNS TABLE (day date, salt bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    DELETE FROM visitor_salts s WHERE s.day < (now() AT TIME ZONE 'UTC')::date - 1
                                  AND s.day NOT IN (p_day, p_day - 1);
    INSERT INTO visitor_salts (day, salt)
    SELECT d, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())
    FROM unnest(ARRAY[p_day, p_day - 1]) AS d
    ON CONFLICT ON CONSTRAINT visitor_salts_pkey DO NOTHING;
    RETURN QUERY SELECT s.day, s.salt FROM visitor_salts s WHERE s.day IN (p_day, p_day - 1);
END $$""")
    op.execute("""
CREATE FUNCTION analytics_forget_salts() RETURNS integer
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    WITH gone AS (DELETE FROM visitor_salts WHERE day < (now() AT TIME ZONE 'UTC')::date - 1 RETURNING 1)
    SELECT count(*)::integer FROM gone
$$""")
    for fn in ("analytics_visitor_salts(date)", "analytics_forget_salts()"):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {APP_ROLE}")
    op.execute("DELETE FROM instance_secrets WHERE name = 'visitor_salt'")


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics_forget_salts()")
    op.execute("DROP FUNCTION analytics_visitor_salts(date)")
    op.execute("DROP TABLE visitor_salts")
    op.execute("INSERT INTO instance_secrets VALUES ('visitor_salt', encode(sha256(convert_to("
               "gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex')) ON CONFLICT DO NOTHING")
