"""Row-level security is the second wall: the app role sees only the tenant of its transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from tests.conftest import GraphQLClient, TenantKeys, event

TABLES = ("events", "outbox", "tours", "tour_steps", "counters_hourly", "counters_daily",
          "daily_users", "selector_failures_daily", "api_keys", "tenants")


async def test_the_app_role_sees_only_its_tenant(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                                 app_engine: AsyncEngine) -> None:
    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    for tenant in (a, b):
        batch = [event("TourStarted", "2025-06-01T10:00:00Z", "u1", tourId="t1"),
                 event("target_not_found", "2025-06-01T10:00:00Z", "u1", tourId="t1", stepIndex=0,
                       selector="#x")]
        assert (await gql.track(tenant.publishable, batch))["accepted"] == 2
    await run_worker()
    async with tenant_transaction(app_engine, a.id) as conn:
        assert (await conn.execute(text("SELECT current_user"))).scalar_one() == "analytics_app"
        for table in TABLES:
            column = "id" if table == "tenants" else "tenant_id"
            seen = (await conn.execute(text(f"SELECT DISTINCT {column} FROM {table}"))).scalars().all()
            assert set(seen) <= {a.id}, table
    # Without a tenant set, nothing at all is visible.
    async with app_engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM events"))).scalar_one() == 0


async def test_the_app_role_cannot_write_into_another_tenant(make_tenant: Any,
                                                             app_engine: AsyncEngine) -> None:
    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    with pytest.raises(DBAPIError, match="row-level security"):
        async with tenant_transaction(app_engine, a.id) as conn:
            await conn.execute(text("INSERT INTO tours (tenant_id, id) VALUES (:b, 'stolen')"), {"b": b.id})


async def test_the_app_role_cannot_read_partitions_directly(app_engine: AsyncEngine) -> None:
    async with app_engine.connect() as conn:
        partition = (await conn.execute(text(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'events'::regclass LIMIT 1"
        ))).scalar_one()
        with pytest.raises(DBAPIError, match="permission denied"):
            await conn.execute(text(f"SELECT count(*) FROM {partition}"))
