"""The raw events' cutoff starts its local day at the earliest instant of a midnight that occurs twice.

PostgreSQL reads a local time that occurs twice as its later instant: on a day whose clocks go back
over midnight (America/Havana on 2025-11-02, from 01:00 to 00:00) ``day::timestamp AT TIME ZONE tz``
is an hour into the day, and a retention run whose first kept day was that one deleted its first hour
of raw events. The cutoff is now the earliest of that instant less 2 h, 90, 60 or 30 minutes that is
still on the day (the rule of analytics.periods.local_midnight_sql, written out here as migrations
must not change with the code).

Revision ID: 0038_day_starts
Revises: 0037_funnel_days
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0038_day_starts"
down_revision = "0037_funnel_days"
branch_labels = None
depends_on = None

_EARLIEST = " ".join(
    f"WHEN ((x.at - interval '{back}') AT TIME ZONE p_timezone)::date = x.day THEN x.at - interval '{back}'"
    for back in ("2 hours", "90 minutes", "1 hour", "30 minutes")
)


def upgrade() -> None:
    op.execute(f"""
CREATE OR REPLACE FUNCTION analytics_raw_events_cutoff(p_timezone text, p_days integer, p_now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT CASE {_EARLIEST} ELSE x.at END
    FROM (SELECT d.day, d.day::timestamp AT TIME ZONE p_timezone AS at
          FROM (SELECT (p_now AT TIME ZONE p_timezone)::date - (p_days + 1) AS day) d) x
$$""")


def downgrade() -> None:
    op.execute("""
CREATE OR REPLACE FUNCTION analytics_raw_events_cutoff(p_timezone text, p_days integer, p_now timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    SELECT (((p_now AT TIME ZONE p_timezone)::date - (p_days + 1))::timestamp) AT TIME ZONE p_timezone
$$""")
