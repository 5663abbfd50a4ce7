"""Custom (product) events at ingest, and the user days the rollup keeps from every event that
names a person (the base of active users and segments)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient, TenantKeys, event


async def test_custom_events_are_checked_per_field(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    batch = [
        event("Custom", "2025-05-01T10:00:00Z", "u1", name="deploy", properties={"env": "prod"}),  # 0 ok
        event("Custom", "2025-05-01T10:00:00Z", "u1"),                                             # 1
        event("Custom", "2025-05-01T10:00:00Z", "u1", name="x" * 101),                             # 2
        event("Custom", "2025-05-01T10:00:00Z", "u1", name="deploy!"),                             # 3
        event("Custom", "2025-05-01T10:00:00Z", "u1", name="TourCompleted"),                       # 4
        event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1", name="deploy"),            # 5
        event("Custom", "2025-05-01T10:00:00Z", None, name="deploy"),                              # 6
        event("Custom", "2025-05-01T10:00:00Z", "u1", name="d", properties={"a": {"b": {"c": {}}}}),  # 7
        event("Custom", "2025-05-01T10:00:00Z", "u1", name="w", properties={f"k{i}": i for i in range(51)}),
        event("Custom", "2025-05-01T10:00:00Z", None, anonymousId="a1", name="Run Pipeline: ci/x-1.2",
              properties={"a": {"b": {"c": 1}}, **{f"k{i}": i for i in range(47)}}),            # 9 ok
    ]
    result = await gql.track(tenant.publishable, batch)
    assert (result["accepted"], result["rejected"]) == (2, 8)
    reasons = {(r["index"], r["field"]): r["reason"] for r in result["rejections"]}
    assert reasons == {
        (1, "name"): "is required for Custom events",
        (2, "name"): "is 101 characters; the limit is 100",
        (3, "name"): "may hold only letters, digits, spaces and _ . : - /",
        (4, "name"): "'TourCompleted' is reserved: send type 'TourCompleted' instead",
        (5, "name"): "is only for Custom events; 'TourStarted' is named by its type",
        (6, "userId"): "userId or anonymousId is required",
        (7, "properties"): "nest objects or arrays 4 deep; the limit is 3",
        (8, "properties"): "have 51 keys; the limit is 50 (counted at every level)",
    }


async def test_user_days_count_every_event_that_names_a_person(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant(timezone="Europe/Berlin")
    batch = [
        event("Custom", "2025-05-01T21:00:00Z", "u1", name="deploy"),   # 23:00 Berlin: 1 May
        event("Custom", "2025-05-01T22:30:00Z", "u1", name="deploy"),   # 00:30 Berlin: 2 May
        event("TourStarted", "2025-05-01T08:00:00Z", "u1", tourId="t1"),
        event("PageViewed", "2025-05-01T09:00:00Z", None, anonymousId="a1", url="https://a.example/"),
        event("PageViewed", "2025-05-01T09:00:00Z", None, url="https://a.example/"),  # nobody named
    ]
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 5
    await run_worker()
    async with owner_engine.connect() as conn:
        rows = [tuple(r) for r in await conn.execute(text(
            "SELECT day::text, user_key, events FROM user_days WHERE tenant_id = :t AND NOT bot "
            "ORDER BY day, user_key"), {"t": tenant.id})]
        assert rows == [("2025-05-01", "a:a1", 1), ("2025-05-01", "u:u1", 2), ("2025-05-02", "u:u1", 1)]
        assert await verify_rollups(conn, tenant.id) == []
