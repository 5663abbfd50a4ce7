"""Row-level security is the second wall: the app role sees only the tenant of its transaction."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from tests.conftest import GraphQLClient, TenantKeys, event

TABLES = ("events", "outbox", "tours", "tour_steps", "counters_hourly", "counters_daily",
          "daily_users", "selector_failures_daily", "api_keys", "tenants", "sessions", "bot_rules",
          "dirty_days", "content_sessions", "content_conversations", "content_session_items", "features",
          "feature_user_days",
          "event_definitions", "event_dimensions", "custom_events_hourly", "custom_events_daily",
          "custom_event_users", "custom_event_values", "custom_event_admitted",
          "model_prices", "ai_models", "ai_usage_hourly", "ai_requests_hourly", "ai_tools_hourly",
          "ai_sketches_daily", "ai_spend_daily", "ai_spend_keys", "ai_spend_weeks", "ai_usage_daily",
          "ai_requests_daily", "ai_tools_daily")
EMPTY_AFTER_WORK = {"outbox", "dirty_days"}  # drained by the worker: hidden either way


async def test_the_app_role_sees_only_its_tenant(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                                 app_engine: AsyncEngine) -> None:
    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    for tenant in (a, b):
        batch = [event("TourStarted", "2025-06-01T10:00:00Z", "u1", tourId="t1"),
                 event("target_not_found", "2025-06-01T10:00:00Z", "u1", tourId="t1", stepIndex=0,
                       selector="#x"),
                 event("ContentViewed", "2025-06-01T10:01:00Z", "u1", contentId="c1"),
                 event("ContentCtaClicked", "2025-06-01T10:02:00Z", "u1", contentId="c1",
                       capsule={"ctaId": "demo"}),
                 event("ConversationMessage", "2025-06-01T10:03:00Z", "u1", contentId="c1",
                       capsule={"conversationId": "k1", "role": "user"}),
                 event("Custom", "2025-06-01T10:04:00Z", "u1", name="deploy", properties={"env": "prod"}),
                 event("AIRequest", "2025-06-01T10:04:00Z", "u1",
                       ai={"provider": "openai", "model": "gpt-4o", "inputTokens": 10, "latencyMs": 90}),
                 event("ToolCall", "2025-06-01T10:05:00Z", "u1", ai={"tool": "search", "durationMs": 5})]
        await gql.data(tenant.secret, 'mutation { defineEvent(input: {name: "deploy", dimensions: ["env"]}) '
                                      '{ name } }')
        assert (await gql.track(tenant.publishable, batch))["accepted"] == 8
        await gql.data(tenant.secret, 'mutation { addBotRule(pattern: "NoSuchAgent") { id } }')
        await gql.data(tenant.secret, 'mutation { defineFeature(name: "Tours", matcher: {event: "TourStarted"}) '
                                      '{ id } }')
    await run_worker()
    async with tenant_transaction(app_engine, a.id) as conn:
        assert (await conn.execute(text("SELECT current_user"))).scalar_one() == "analytics_app"
        for table in TABLES:
            column = "id" if table == "tenants" else "tenant_id"
            seen = (await conn.execute(text(f"SELECT DISTINCT {column} FROM {table}"))).scalars().all()
            assert set(seen) == (set() if table in EMPTY_AFTER_WORK else {a.id}), table
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


async def test_queries_filter_by_tenant_even_without_row_level_security(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    """The owner bypasses the policies; the queries' own tenant filter must still hold."""
    from analytics.periods import RangeSpec, resolve
    from analytics.tours import service, stats

    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    for tenant, tour in ((a, "only-a"), (b, "only-b")):
        batch = [event("TourStarted", "2025-06-02T10:00:00Z", "u1", tourId=tour),
                 event("StepViewed", "2025-06-02T10:00:00Z", "u1", tourId=tour, stepIndex=0),
                 event("target_not_found", "2025-06-02T10:00:00Z", "u1", tourId=tour, stepIndex=0,
                       selector="#x")]
        assert (await gql.track(tenant.publishable, batch))["accepted"] == 3
    await run_worker()
    from zoneinfo import ZoneInfo

    period = resolve(RangeSpec("2025-06-02", "2025-06-02"), ZoneInfo("UTC"))
    async with tenant_transaction(owner_engine, a.id) as conn:
        assert (await conn.execute(text("SELECT count(DISTINCT tenant_id) FROM tours"))).scalar_one() > 1
        assert [t.id for t in await service.list_tours(conn, after=None, limit=100)] == ["only-a"]
        assert list(await stats.tour_counts(conn, tour_ids=None, period=period)) == ["only-a"]
        assert list(await stats.funnels(conn, tour_ids=None, period=period)) == ["only-a"]
        health = await stats.selector_health(conn, tour_id=None, period=period, limit=10)
        assert health.total_failures == 1


async def test_the_app_role_has_no_way_around_row_level_security(owner_engine: AsyncEngine) -> None:
    """Read from the catalog, so a table added later is covered: every table with a tenant_id (and
    tenants itself) has row-level security enabled and forced, and the app role owns none of them
    and is neither superuser nor BYPASSRLS."""
    async with owner_engine.connect() as conn:
        role = (await conn.execute(text(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'analytics_app'"))).one()
        assert tuple(role) == (False, False)
        tables = (await conn.execute(text("""
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND (c.relname = 'tenants' OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                                                     AND a.attname = 'tenant_id' AND NOT a.attisdropped))
        """))).all()
    names = {t.relname for t in tables}
    assert set(TABLES) <= names, set(TABLES) - names
    assert [t.relname for t in tables if not (t.relrowsecurity and t.relforcerowsecurity)] == []
    assert [t.relname for t in tables if t.owner == "analytics_app"] == []


# How to make tenant B own something each id-taking field of Tenant reads (field -> a mutation or events).
CREATE_FOR_B = {
    "tour": ('mutation { defineTour(input: {id: "owned-by-b", title: "B", steps: []}) { id } }', "owned-by-b"),
    "capsule": (None, "cap-of-b"),
    "exportJob": ("mutation { startExport(dataset: DAILY, format: CSV, range: {since: \"7d\"}) { id } }", None),
    "segment": ('mutation { defineSegment(input: {id: "owned-by-b", name: "B", rule: {conditions: '
                '[{firstSeen: {withinDays: 3}}]}}) { id } }', "owned-by-b"),
    "funnel": ('mutation { defineFunnel(input: {name: "B", steps: [{matcher: {event: "a"}}, '
               '{matcher: {event: "b"}}]}) { id } }', None),
    "erasure": ('mutation { eraseUser(userId: "u-of-b") { id } }', None),
    "userExport": ('mutation { exportUser(userId: "u-of-b") { id } }', None),
}
ID_TYPED = {"exportJob", "erasure", "userExport", "funnel"}


async def test_every_id_taking_field_hides_another_tenant_s_ids(gql: GraphQLClient, make_tenant: Any,
                                                               run_worker: Any) -> None:
    """Generated from the schema: every field of Tenant with an id argument, called with tenant A's key on
    tenant B's id, answers exactly what it answers for an id that does not exist."""
    introspected = await gql.data((await make_tenant()).secret, """{ __type(name: "Tenant") {
        fields { name args { name type { kind ofType { name } } } } } }""")
    id_fields = sorted(f["name"] for f in introspected["__type"]["fields"]
                       if any(a["name"] == "id" for a in f["args"]))
    assert id_fields == sorted(CREATE_FOR_B), "a new id-taking field: add how to create one for tenant B"
    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    assert (await gql.track(b.publishable, [event("ContentViewed", "2026-12-01T10:00:00Z", "u1",
                                                  contentId="cap-of-b")]))["accepted"] == 1
    await run_worker()
    for field, (mutation, owned) in CREATE_FOR_B.items():
        if mutation is not None:
            created = await gql.data(b.secret, mutation)
            owned = owned or next(iter(created.values()))["id"]
        query = f'query($id: {"ID" if field in ID_TYPED else "String"}!) {{ tenant {{ {field}(id: $id) {{ __typename }} }} }}'
        mine = await gql.data(b.secret, query, {"id": owned})
        assert mine["tenant"][field] is not None, field  # B itself sees it
        theirs = await gql(a.secret, query, {"id": owned})
        missing = await gql(a.secret, query, {"id": str(uuid.uuid4())})  # well-formed, nobody's
        assert theirs == missing == {"data": {"tenant": {field: None}}}, field
