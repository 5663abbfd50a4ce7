"""Identity for events sent by servers and relays: ``events.server_source`` (the request was not the
end user's browser, so its address and agent were not used as the user's), the tenant setting
``exclude_unknown_agents`` (server-sourced sessions without any user agent are counted as people
unless the tenant excludes them), and ``identity_version`` (a worker job re-derives the sessions of
visitors whose events carry a userId or anonymousId under the new identity rule, then sets it to 1).

Revision ID: 0020_identity
Revises: 0019_costs
Create Date: 2026-12-03
"""

from __future__ import annotations

import os

from alembic import op

revision = "0020_identity"
down_revision = "0019_costs"
branch_labels = None
depends_on = None

APP_ROLE = os.environ.get("ANALYTICS_APP_ROLE") or "analytics_app"


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column to every partition without rewriting them.
    op.execute("ALTER TABLE events ADD COLUMN server_source boolean NOT NULL DEFAULT false")
    op.execute("ALTER TABLE tenants ADD COLUMN exclude_unknown_agents boolean NOT NULL DEFAULT false")
    # Existing tenants have events sessionized under the old rule (0); new ones start with none (1).
    op.execute("ALTER TABLE tenants ADD COLUMN identity_version smallint NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE tenants ALTER COLUMN identity_version SET DEFAULT 1")
    op.execute(f"GRANT UPDATE (exclude_unknown_agents, identity_version) ON tenants TO {APP_ROLE}")
    # The sweeper's view across tenants (row-level security hides them from the app role).
    op.execute(
        """
        CREATE FUNCTION analytics_identity_pending(p_version smallint)
        RETURNS TABLE (tenant_id bigint)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
            SELECT id FROM tenants WHERE identity_version < p_version ORDER BY id
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION analytics_identity_pending(smallint) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics_identity_pending(smallint) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics_identity_pending(smallint)")
    op.execute("ALTER TABLE tenants DROP COLUMN identity_version")
    op.execute("ALTER TABLE tenants DROP COLUMN exclude_unknown_agents")
    op.execute("ALTER TABLE events DROP COLUMN server_source")
