"""The backfill of a metric added to an experiment that already has exposures: the experiment's tables
rebuilt from the retained raw events, under the tenant's rollup lock."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import lock_tenant, tenant_transaction
from analytics.experiments.definitions import load_experiment
from analytics.experiments.recompute import rebuild_experiment


async def backfill_experiment(engine: AsyncEngine, tenant_id: int, key: str) -> int | None:
    """Rebuild one experiment's aggregates; the number of aggregate rows, None when it is gone."""
    async with tenant_transaction(engine, tenant_id) as conn:
        await lock_tenant(conn, tenant_id)
        experiment = await load_experiment(conn, key, tenant_id=tenant_id)
        if experiment is None or experiment.started_at is None:
            return None
        return await rebuild_experiment(conn, tenant_id, experiment)
