"""The demo declares reference 001's five features over the demo product events; what the rollup
counted as events arrived and what the backfill rebuilt agree with a recomputation."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.demo_product import demo_product_events
from analytics.features.demo import DEMO_FEATURES, define_demo_features
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.rollups.recompute import verify_rollups
from analytics.settings import Settings
from tests.conftest import GraphQLClient, TenantKeys


async def test_demo_features(gql: GraphQLClient, make_tenant: Any, run_worker: Any, app_engine: AsyncEngine,
                             owner_engine: AsyncEngine, settings: Settings) -> None:
    tenant: TenantKeys = await make_tenant()
    async with tenant_transaction(app_engine, tenant.id) as conn:
        await define_demo_features(conn, tenant.id)
    events = list(demo_product_events(days=14, tz=ZoneInfo("UTC")))
    partitions = PartitionCache()
    for start in range(0, len(events), 1000):
        outcome = await ingest_batch(app_engine, partitions, tenant_id=tenant.id, events=events[start:start + 1000],
                                     retention_days=3650, max_future_seconds=settings.max_future_seconds)
        assert not outcome.errors
    await run_worker()
    data = await gql.data(tenant.secret, """{ tenant { featureAdoption(range: {preset: LAST_7_DAYS}) {
        features { feature { name backfill { status } } usageCount uniqueUsers adoptionRate trend } } } }""")
    rows = {r["feature"]["name"]: r for r in data["tenant"]["featureAdoption"]["features"]}
    assert set(rows) == {name for name, _ in DEMO_FEATURES}
    assert all(r["feature"]["backfill"]["status"] == "done" and r["usageCount"] >= r["uniqueUsers"] > 0
               and 0 < r["adoptionRate"] <= 100 for r in rows.values())
    assert rows["View Documentation"]["adoptionRate"] > rows["Configure Monitoring"]["adoptionRate"]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
