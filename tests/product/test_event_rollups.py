"""The custom event rollup: counts, users and dimension values per day, the cap, day corrections and
dimension backfills, each equal to the recomputation from raw events; and the graph fields."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.custom_events.backfill import backfill_tenant
from analytics.custom_events.values import dimension_value, value_sql
from analytics.db import lock_tenant, tenant_transaction
from analytics.rollups.recompute import verify_rollups
from analytics.sessions.correction import correct_days
from tests.conftest import GraphQLClient, TenantKeys, event
from tests.product.test_event_definitions import define

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
EVENT = """query($name: String!, $r: RangeInput!, $dim: String!, $bots: Boolean!) { tenant { event(name: $name) {
    stats(range: $r, compare: PREVIOUS_PERIOD, includeBots: $bots) { count users previous { count } change { count } }
    series(range: $r, granularity: DAY, includeBots: $bots) { points { date count users } }
    breakdown(range: $r, dimension: $dim, limit: 3, includeBots: $bots) { total rest capped values { value count share } }
} } }"""


async def differences(engine: AsyncEngine, tenant_id: int) -> list[Any]:
    async with engine.connect() as conn:
        return await verify_rollups(conn, tenant_id)


async def test_counts_users_and_dimensions_equal_the_recomputation(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant(timezone="Europe/Berlin")
    await define(gql, tenant.secret, {"name": "deploy", "dimensions": ["env", "size"]})
    await run_worker()  # the (empty) backfill: the dimensions count from now on
    batch = [
        event("Custom", "2025-05-01T08:00:00Z", "u1", name="deploy", properties={"env": "prod", "size": 1}),
        event("Custom", "2025-05-01T08:30:00Z", "u1", name="deploy", properties={"env": "prod", "size": 2.5}),
        event("Custom", "2025-05-01T09:10:00Z", "u2", name="deploy", properties={"env": "staging"}),
        event("Custom", "2025-05-01T22:30:00Z", "u2", name="deploy",  # 00:30 on 2 May in Berlin
              properties={"env": "prod", "size": 1.0}),
        event("Custom", "2025-05-01T10:00:00Z", None, anonymousId="a1", name="signup"),
        event("Custom", "2025-05-01T11:00:00Z", "crawler", name="deploy", sessionId="bot-session",
              properties={"env": "prod", "size": 1e20}, context={"userAgent": GOOGLEBOT}),
    ]
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 6
    await run_worker()
    assert await differences(owner_engine, tenant.id) == []
    listed = await gql.data(tenant.secret, """{ tenant {
        events(range: {from: "2025-05-01", to: "2025-05-02"}) { name count users }
        bots: events(range: {from: "2025-05-01", to: "2025-05-02"}, includeBots: true) { name count users }
        hours: events(range: {from: "2025-05-01T10:00:00+02:00", to: "2025-05-01T11:00:00+02:00"}) {
            name count users } } }""")
    assert listed["tenant"] == {
        "events": [{"name": "deploy", "count": 4, "users": 2}, {"name": "signup", "count": 1, "users": 1}],
        "bots": [{"name": "deploy", "count": 5, "users": 3}, {"name": "signup", "count": 1, "users": 1}],
        "hours": [{"name": "deploy", "count": 2, "users": None}],
    }
    variables = {"name": "deploy", "r": {"from": "2025-05-01", "to": "2025-05-02"}, "dim": "env", "bots": False}
    found = (await gql.data(tenant.secret, EVENT, variables))["tenant"]["event"]
    assert found["stats"] == {"count": 4, "users": 2, "previous": {"count": 0}, "change": {"count": None}}
    assert found["series"]["points"] == [{"date": "2025-05-01", "count": 3, "users": 2},
                                         {"date": "2025-05-02", "count": 1, "users": 1}]
    assert found["breakdown"] == {"total": 4, "rest": 0, "capped": False, "values": [
        {"value": "prod", "count": 3, "share": 75.0}, {"value": "staging", "count": 1, "share": 25.0}]}
    sizes = (await gql.data(tenant.secret, EVENT, {**variables, "dim": "size", "bots": True}))["tenant"]["event"]
    assert sizes["breakdown"] == {"total": 5, "rest": 1, "capped": False, "values": [
        {"value": "1", "count": 2, "share": 40.0}, {"value": "(none)", "count": 1, "share": 20.0},
        {"value": "1e+20", "count": 1, "share": 20.0}]}
    body = await gql(tenant.secret, EVENT, {**variables, "dim": "plan"})
    assert body["errors"][0]["message"] == "dimension: 'plan' is not a declared dimension of 'deploy'; " \
                                           "declared: env, size"
    # A day correction re-folds the day onto the same values, and the check still holds.
    async with owner_engine.connect() as conn:
        before = (await conn.execute(text("SELECT * FROM custom_event_values WHERE tenant_id = :t "
                                          "ORDER BY 2, 3, 4, 5, 6"), {"t": tenant.id})).all()
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        await lock_tenant(conn, tenant.id)
        from zoneinfo import ZoneInfo
        await correct_days(conn, tenant.id, [datetime(2025, 5, 1).date()], ZoneInfo("Europe/Berlin"))
    async with owner_engine.connect() as conn:
        after = (await conn.execute(text("SELECT * FROM custom_event_values WHERE tenant_id = :t "
                                         "ORDER BY 2, 3, 4, 5, 6"), {"t": tenant.id})).all()
    assert after == before
    assert await differences(owner_engine, tenant.id) == []


async def test_values_beyond_the_daily_cap_count_under_other(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant.secret, {"name": "view", "dimensions": ["page"]})
    start = datetime(2025, 5, 1, 8, tzinfo=UTC)

    def view(i: int, page: int) -> dict[str, Any]:
        at = (start + timedelta(seconds=i)).isoformat()
        return event("Custom", at, f"u{i % 7}", name="view", properties={"page": f"p{page:04d}"})

    assert (await gql.track(tenant.publishable, [view(i, i) for i in range(1000)]))["accepted"] == 1000
    await run_worker()
    late = [view(1000, 1000), view(1001, 1001), view(1002, 1002), view(1003, 5), view(1004, 1001)]
    assert (await gql.track(tenant.publishable, late))["accepted"] == 5
    await run_worker()
    assert await differences(owner_engine, tenant.id) == []
    # 1005 events in 17 minutes from 7 users: the behavioural scorer takes them for bots.
    variables = {"name": "view", "r": {"from": "2025-05-01", "to": "2025-05-01"}, "dim": "page", "bots": True}
    found = (await gql.data(tenant.secret, EVENT, variables))["tenant"]["event"]
    assert found["breakdown"] == {"total": 1005, "rest": 998, "capped": True, "values": [
        {"value": "(other)", "count": 4, "share": 0.4}, {"value": "p0005", "count": 2, "share": 0.2},
        {"value": "p0000", "count": 1, "share": 0.1}]}
    async with owner_engine.connect() as conn:
        admitted = (await conn.execute(text("SELECT count(*), max(value) FROM custom_event_admitted "
                                            "WHERE tenant_id = :t"), {"t": tenant.id})).one()
    assert tuple(admitted) == (1000, "p0999")
    # The check notices a count that is off.
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE custom_event_values SET count = count + 1 WHERE tenant_id = :t "
                                "AND value = '(other)'"), {"t": tenant.id})
    assert [(d.table, d.missing, d.extra) for d in await differences(owner_engine, tenant.id)] == [
        ("custom_event_values", 1, 1)]


async def test_a_dimension_declared_later_is_backfilled(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine,
        app_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant.secret, {"name": "deploy"})
    batch = [event("Custom", f"2025-05-0{day}T10:00:00Z", "u1", name="deploy", properties={"env": env})
             for day, env in ((1, "prod"), (2, "prod"), (2, "staging"), (3, None))]
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 4
    await run_worker()
    defined = await define(gql, tenant.secret, {"name": "deploy", "dimensions": ["env"]})
    assert defined["dimensions"] == [{"property": "env", "backfill": {"status": "pending"}}]
    # One more event arrives: still in the outbox while the backfill runs, so its rollup counts it.
    late = event("Custom", "2025-05-02T12:00:00Z", "u2", name="deploy", properties={"env": "prod"})
    assert (await gql.track(tenant.publishable, [late]))["accepted"] == 1
    run = await backfill_tenant(app_engine, tenant.id, now=datetime(2025, 5, 5, tzinfo=UTC))
    assert (run.dimensions, run.events) == (1, 4)
    progress = await gql.data(tenant.secret, """{ tenant { eventDefinitions {
        dimensions { property backfill { status processed total } } backfill { status processed total } } } }""")
    assert progress["tenant"]["eventDefinitions"] == [{
        "dimensions": [{"property": "env", "backfill": {"status": "done", "processed": 4, "total": 4}}],
        "backfill": {"status": "done", "processed": 4, "total": 4}}]
    await run_worker()
    assert await differences(owner_engine, tenant.id) == []
    variables = {"name": "deploy", "r": {"from": "2025-05-01", "to": "2025-05-03"}, "dim": "env", "bots": False}
    found = (await gql.data(tenant.secret, EVENT, variables))["tenant"]["event"]
    assert found["breakdown"] == {"total": 5, "rest": 0, "capped": False, "values": [
        {"value": "prod", "count": 3, "share": 60.0}, {"value": "(none)", "count": 1, "share": 20.0},
        {"value": "staging", "count": 1, "share": 20.0}]}
    # Dropping the dimension drops its counts; the check holds without it.
    await define(gql, tenant.secret, {"name": "deploy"})
    async with owner_engine.connect() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM custom_event_values WHERE tenant_id = :t"),
                                   {"t": tenant.id})).scalar_one()
    assert left == 0
    assert await differences(owner_engine, tenant.id) == []


async def test_dimension_values_are_spelled_alike_in_python_and_sql(owner_engine: AsyncEngine) -> None:
    import json

    samples: list[Any] = ["x" * 150, "päge", True, False, 0, -7, 12.0, 1e3, 2.5, -0.1, 1e-7, 1.5e15,
                          123456789012345.6, 2**53, 2**60, 1e20, 1e22, 0.1 + 0.2, None, {"a": 1}, [1]]
    spelled = text("SELECT " + value_sql("CAST(:p AS jsonb)", "'v'"))
    async with owner_engine.connect() as conn:
        for sample in samples:
            properties = json.dumps({"v": sample})
            in_sql = (await conn.execute(spelled, {"p": properties})).scalar_one()
            assert in_sql == dimension_value(json.loads(properties), "v"), sample


async def test_custom_event_rollups_expire_with_the_rollup_retention(
        make_tenant: Any, owner_engine: AsyncEngine, app_engine: AsyncEngine) -> None:
    from analytics.retention import enforce_retention

    tenant: TenantKeys = await make_tenant()
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    async with owner_engine.begin() as conn:
        for day in (date(2024, 1, 1), date(2026, 11, 30)):  # past 760 days of rollups, and recent
            params = {"t": tenant.id, "day": day}
            await conn.execute(text("INSERT INTO custom_events_hourly VALUES (:t, 'deploy', CAST(:day AS date), "
                                    "false, 1)"), params)
            await conn.execute(text("INSERT INTO custom_events_daily VALUES (:t, 'deploy', CAST(:day AS date), "
                                    "false, 1)"), params)
            await conn.execute(text("INSERT INTO custom_event_users VALUES (:t, 'deploy', CAST(:day AS date), "
                                    "false, 'u:1')"), params)
            await conn.execute(text("INSERT INTO custom_event_values VALUES (:t, 'deploy', 'env', "
                                    "CAST(:day AS date), false, 'prod', 1)"), params)
            await conn.execute(text("INSERT INTO custom_event_admitted VALUES (:t, 'deploy', 'env', "
                                    "CAST(:day AS date), 'prod')"), params)
    run = await enforce_retention(app_engine, now=now, rollup_days=760)
    removed = next(t for t in run.tenants if t.tenant_id == tenant.id).rollup_rows
    assert removed == {"custom_events_hourly": 1, "custom_events_daily": 1, "custom_event_users": 1,
                       "custom_event_values": 1, "custom_event_admitted": 1}
    async with owner_engine.connect() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM custom_events_daily WHERE tenant_id = :t"),
                                   {"t": tenant.id})).scalar_one()
    assert left == 1
