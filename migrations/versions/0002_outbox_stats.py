"""Operations: outbox depth and age across tenants for /metrics; alembic_version readable for /readyz.

Revision ID: 0002_outbox_stats
Revises: 0001_spine
Create Date: 2026-11-22
"""

from __future__ import annotations

import os
import re

from alembic import op

revision = "0002_outbox_stats"
down_revision = "0001_spine"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", APP_ROLE):
    raise ValueError(f"ANALYTICS_APP_ROLE={APP_ROLE!r} must be a lower-case SQL identifier")

# The API runs as the row-level-security-bound app role, so it cannot count outbox rows across
# tenants itself; this returns only two numbers, never a tenant's rows.
OUTBOX_STATS = """
CREATE FUNCTION analytics_outbox_stats()
RETURNS TABLE (depth bigint, oldest_seconds double precision)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT count(*),
           coalesce(extract(epoch FROM clock_timestamp() - min(created_at))::double precision, 0)
    FROM outbox
$$
"""


def upgrade() -> None:
    op.execute(OUTBOX_STATS)
    op.execute("REVOKE ALL ON FUNCTION analytics_outbox_stats() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_outbox_stats() TO {APP_ROLE}")
    # /readyz compares the applied revision with the code's head (no row-level security there).
    op.execute(f"GRANT SELECT ON alembic_version TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE SELECT ON alembic_version FROM {APP_ROLE}")
    op.execute("DROP FUNCTION IF EXISTS analytics_outbox_stats()")
