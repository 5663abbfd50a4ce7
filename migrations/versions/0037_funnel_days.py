"""Funnel days: per tenant-local day, the attempts a funnel query would otherwise scan, summed.

``funnel_attempts`` gains ``bot`` (the first step's session is excluded, as the rollup and the day
corrections last saw it) and ``sole`` (the attempt is its actor's only one: then it is the actor's
best attempt in any range holding it, and can be counted in a sum). Triggers on ``funnel_attempts``
keep, for its sole attempts, exactly once whatever writes them (rollup, backfill, definition change,
expiry, erasure, day correction):

- ``funnel_days``: attempts per (funnel, local day of the start, bot, voided, furthest step, local
  day of the last step reached, local day of the end);
- ``funnel_day_gaps``: per the same day keys and step k >= 2, the times from step k-1 to k of those
  attempts (seconds, as the query computes them), sorted in one array: a range's times are a few
  hundred arrays, not a row per attempt.

The funnel query (analytics.funnels.result) sums whole days of these and reads only the attempts they
cannot answer for: those of actors with several attempts, of the range's partial first and last
days, and those whose last step or end is on the day of the range's end. Three indexes find them; a
fourth finds an actor's attempts when the rollup sets ``sole`` again.
Filled here from the attempts present.

Revision ID: 0037_funnel_days
Revises: 0036_session_days
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

from migrations.rls import tenant_table

revision = "0037_funnel_days"
down_revision = "0036_session_days"
branch_labels = None
depends_on = None

_KEYS = "tenant_id, funnel_id, day, bot, voided, last_day, ended_day"
# The day keys of an attempt row ``c`` in its tenant's time zone (``t``).
_DAYS = ("(c.started_at AT TIME ZONE t.timezone)::date AS day, c.bot, c.voided, "
         "(c.step_ats[cardinality(c.step_ats)] AT TIME ZONE t.timezone)::date AS last_day, "
         "(c.ended_at AT TIME ZONE t.timezone)::date")
# The times from step k-1 to k of the signed rows taken off (< 0) or added (> 0), sorted.
_TIME = ("coalesce(array_agg(date_part('epoch', c.step_ats[k] - c.step_ats[k - 1]) "
         "ORDER BY date_part('epoch', c.step_ats[k] - c.step_ats[k - 1])) FILTER (WHERE c.sign {sign}), "
         "CAST('{{}}' AS float8[]))")


def _apply(rows: str) -> str:
    """Add the signed rows (``rows``: funnel_attempts columns plus ``sign``) of sole attempts. The gaps
    rows are made sure of with an update that locks an existing one (not DO NOTHING, which locks
    nothing): retention deletes empty gaps rows without the tenant's lock, and would otherwise delete
    one between this insert and the update that fills it."""
    return f"""
        INSERT INTO funnel_days ({_KEYS}, reached, attempts)
        SELECT c.tenant_id, c.funnel_id, {_DAYS}, cardinality(c.step_ats), sum(c.sign)
        FROM ({rows}) c JOIN tenants t ON t.id = c.tenant_id WHERE c.sole
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 HAVING sum(c.sign) <> 0
        ON CONFLICT ({_KEYS}, reached) DO UPDATE SET attempts = funnel_days.attempts + excluded.attempts;
        INSERT INTO funnel_day_gaps ({_KEYS}, step, gaps)
        SELECT DISTINCT c.tenant_id, c.funnel_id, {_DAYS}, k, CAST('{{}}' AS float8[])
        FROM ({rows}) c JOIN tenants t ON t.id = c.tenant_id
        CROSS JOIN LATERAL generate_series(2, cardinality(c.step_ats)) AS k WHERE c.sole
        ON CONFLICT ({_KEYS}, step) DO UPDATE SET gaps = funnel_day_gaps.gaps;
        UPDATE funnel_day_gaps g
        SET gaps = ARRAY(SELECT x FROM ((SELECT unnest(g.gaps) EXCEPT ALL SELECT unnest(d.minus))
                                        UNION ALL SELECT unnest(d.plus)) s(x) ORDER BY x)
        FROM (SELECT c.tenant_id, c.funnel_id, {_DAYS} AS ended_day, k AS step,
                     {_TIME.format(sign="< 0")} AS minus, {_TIME.format(sign="> 0")} AS plus
              FROM ({rows}) c JOIN tenants t ON t.id = c.tenant_id
              CROSS JOIN LATERAL generate_series(2, cardinality(c.step_ats)) AS k WHERE c.sole
              GROUP BY 1, 2, 3, 4, 5, 6, 7, 8) d
        WHERE g.tenant_id = d.tenant_id AND g.funnel_id = d.funnel_id AND g.day = d.day AND g.bot = d.bot
          AND g.voided = d.voided AND g.last_day = d.last_day AND g.ended_day = d.ended_day
          AND g.step = d.step AND d.minus IS DISTINCT FROM d.plus;
    """


def upgrade() -> None:
    # last_at: a plain column for its index, since row-level security keeps a query's non-leakproof
    # expressions (step_ats[cardinality(step_ats)]) out of index conditions
    op.execute("ALTER TABLE funnel_attempts ADD COLUMN bot boolean NOT NULL DEFAULT false, "
               "ADD COLUMN sole boolean NOT NULL DEFAULT false, "
               "ADD COLUMN last_at timestamptz GENERATED ALWAYS AS (step_ats[cardinality(step_ats)]) STORED")
    op.execute(
        """
        UPDATE funnel_attempts a SET bot = true FROM sessions s
        WHERE s.tenant_id = a.tenant_id AND s.id = a.session_key AND s.excluded
        """
    )
    op.execute(
        """
        UPDATE funnel_attempts a SET sole = true FROM (
            SELECT tenant_id, funnel_id, actor FROM funnel_attempts GROUP BY 1, 2, 3 HAVING count(*) = 1
        ) o WHERE o.tenant_id = a.tenant_id AND o.funnel_id = a.funnel_id AND o.actor = a.actor
        """
    )
    op.execute("CREATE INDEX funnel_attempts_shared ON funnel_attempts (tenant_id, funnel_id, started_at) "
               "WHERE NOT sole")
    op.execute("CREATE INDEX funnel_attempts_actor ON funnel_attempts (tenant_id, funnel_id, actor)")
    op.execute("CREATE INDEX funnel_attempts_ended ON funnel_attempts (tenant_id, funnel_id, ended_at)")
    op.execute("CREATE INDEX funnel_attempts_last ON funnel_attempts (tenant_id, funnel_id, last_at)")
    op.execute(
        f"""
        CREATE TABLE funnel_days (
            tenant_id bigint NOT NULL,
            funnel_id bigint NOT NULL,
            day date NOT NULL,
            bot boolean NOT NULL,
            voided boolean NOT NULL,
            last_day date NOT NULL,
            ended_day date NOT NULL,
            reached smallint NOT NULL,
            attempts integer NOT NULL,
            PRIMARY KEY ({_KEYS}, reached)
        )
        """
    )
    tenant_table("funnel_days")
    op.execute(
        f"""
        CREATE TABLE funnel_day_gaps (
            tenant_id bigint NOT NULL,
            funnel_id bigint NOT NULL,
            day date NOT NULL,
            bot boolean NOT NULL,
            voided boolean NOT NULL,
            last_day date NOT NULL,
            ended_day date NOT NULL,
            step smallint NOT NULL,
            gaps double precision[] NOT NULL,
            PRIMARY KEY ({_KEYS}, step)
        )
        """
    )
    tenant_table("funnel_day_gaps")
    for statement in _apply("SELECT *, 1 AS sign FROM funnel_attempts").split(";")[:3]:
        op.execute(statement)
    # Statement triggers: one grouped upsert per statement, whatever the number of rows it changed.
    op.execute(
        f"""
        CREATE FUNCTION analytics_funnel_days() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                {_apply("SELECT *, 1 AS sign FROM added")}
            ELSIF TG_OP = 'DELETE' THEN
                {_apply("SELECT *, -1 AS sign FROM removed")}
            ELSE
                {_apply("SELECT *, -1 AS sign FROM removed UNION ALL SELECT *, 1 FROM added")}
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute("CREATE TRIGGER funnel_days_insert AFTER INSERT ON funnel_attempts "
               "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION analytics_funnel_days()")
    op.execute("CREATE TRIGGER funnel_days_delete AFTER DELETE ON funnel_attempts "
               "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION analytics_funnel_days()")
    op.execute("CREATE TRIGGER funnel_days_update AFTER UPDATE ON funnel_attempts "
               "REFERENCING OLD TABLE AS removed NEW TABLE AS added "
               "FOR EACH STATEMENT EXECUTE FUNCTION analytics_funnel_days()")


def downgrade() -> None:
    for name in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER funnel_days_{name} ON funnel_attempts")
    op.execute("DROP FUNCTION analytics_funnel_days()")
    op.execute("DROP TABLE funnel_day_gaps")
    op.execute("DROP TABLE funnel_days")
    op.execute("DROP INDEX funnel_attempts_last")
    op.execute("DROP INDEX funnel_attempts_ended")
    op.execute("DROP INDEX funnel_attempts_actor")
    op.execute("DROP INDEX funnel_attempts_shared")
    op.execute("ALTER TABLE funnel_attempts DROP COLUMN last_at, DROP COLUMN sole, DROP COLUMN bot")
