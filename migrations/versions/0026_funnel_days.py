"""Funnel day aggregates: per tenant-local start day and bot side, the funnel's attempts counted by
what a result needs (furthest step, voided, the hours they ended and reached their last step) and
the times between steps as a log histogram, so a funnel's result over a range reads
O(days x classes) rows instead of every attempt (analytics.funnels.daily). ``last_at`` (the time of
an attempt's furthest step) and two indexes let a read fetch the few attempts whose state changes
within the hour it is judged at.

Revision ID: 0026_funnel_days
Revises: 0022_experiments
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0026_funnel_days"
down_revision = "0022_experiments"
branch_labels = None
depends_on = None

# The same aggregation as analytics.funnels.daily (kept here so the migration stands alone).
_DAY = "(a.started_at AT TIME ZONE t.timezone)::date"
_GAP = "extract(epoch FROM a.step_ats[k] - a.step_ats[k - 1])"
_BUCKET = f"CASE WHEN {_GAP} < 0.001 THEN 0 ELSE 1 + floor(ln({_GAP} * 1000) / ln(1.02))::int END"


def upgrade() -> None:
    op.execute("ALTER TABLE funnel_attempts ADD COLUMN last_at timestamptz "
               "GENERATED ALWAYS AS (step_ats[cardinality(step_ats)]) STORED")
    op.execute("CREATE INDEX funnel_attempts_ended ON funnel_attempts (tenant_id, funnel_id, ended_at)")
    op.execute("CREATE INDEX funnel_attempts_last ON funnel_attempts (tenant_id, funnel_id, last_at)")
    op.execute(
        """
        CREATE TABLE funnel_days (
            tenant_id bigint NOT NULL,
            funnel_id bigint NOT NULL,
            day date NOT NULL,
            bot boolean NOT NULL,
            reached smallint NOT NULL,
            voided boolean NOT NULL,
            ends timestamptz NOT NULL,
            last timestamptz NOT NULL,
            attempts bigint NOT NULL,
            PRIMARY KEY (tenant_id, funnel_id, day, bot, reached, voided, ends, last)
        )
        """
    )
    tenant_table("funnel_days")
    op.execute(
        """
        CREATE TABLE funnel_day_times (
            tenant_id bigint NOT NULL,
            funnel_id bigint NOT NULL,
            day date NOT NULL,
            bot boolean NOT NULL,
            step smallint NOT NULL,
            voided_hour timestamptz NOT NULL,
            bucket integer NOT NULL,
            attempts bigint NOT NULL,
            PRIMARY KEY (tenant_id, funnel_id, day, bot, step, voided_hour, bucket)
        )
        """
    )
    tenant_table("funnel_day_times")
    op.execute(
        f"""
        INSERT INTO funnel_days (tenant_id, funnel_id, day, bot, reached, voided, ends, last, attempts)
        SELECT a.tenant_id, a.funnel_id, {_DAY}, coalesce(s.excluded, false), cardinality(a.step_ats),
               a.voided, date_trunc('hour', a.ended_at, 'UTC'), date_trunc('hour', a.last_at, 'UTC'), count(*)
        FROM funnel_attempts a JOIN tenants t ON t.id = a.tenant_id
        LEFT JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_key
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        """
    )
    op.execute(
        f"""
        INSERT INTO funnel_day_times (tenant_id, funnel_id, day, bot, step, voided_hour, bucket, attempts)
        SELECT a.tenant_id, a.funnel_id, {_DAY}, coalesce(s.excluded, false), k,
               CASE WHEN a.voided THEN date_trunc('hour', a.ended_at, 'UTC') ELSE 'infinity' END,
               {_BUCKET}, count(*)
        FROM funnel_attempts a JOIN tenants t ON t.id = a.tenant_id
        LEFT JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_key
        CROSS JOIN LATERAL generate_series(2, cardinality(a.step_ats)) AS k
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE funnel_day_times")
    op.execute("DROP TABLE funnel_days")
    op.execute("DROP INDEX funnel_attempts_last")
    op.execute("DROP INDEX funnel_attempts_ended")
    op.execute("ALTER TABLE funnel_attempts DROP COLUMN last_at")
