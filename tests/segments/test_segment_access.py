"""Segments through the worker and the graph: the rollup queues the segments job, thresholds and
rule segments are per tenant (secret key only), other tenants' segments and members stay hidden,
and definitions are checked field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from tests.conftest import GraphQLClient, TenantKeys, event

TABLES = ("user_event_days", "user_properties", "segment_definitions", "segment_settings", "segment_users",
          "segment_members")


def recent(user: str, days: int, per_day: int) -> list[dict[str, Any]]:
    """``per_day`` deploys on each of the ``days`` days before today (UTC)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return [event("Custom", (today - timedelta(days=d) + timedelta(hours=9, minutes=i)).isoformat(), user,
                  name="deploy", properties={"plan": "pro"}) for d in range(1, days + 1) for i in range(per_day)]


MEMBERS = """query($id: String!) { tenant { segment(id: $id) { id members { totalCount nodes { userId engagement } }
    } } }"""


async def test_the_worker_assigns_after_the_rollup_and_thresholds_are_per_tenant(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, app_engine: AsyncEngine) -> None:
    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    # 20 of the last 28 days, 5 events each, last yesterday: 10 * (0.4 * 27/28 + 0.4 * 20/28 + 0.2 * 0.5) = 7.7
    assert (await gql.track(a.publishable, recent("alice", 20, 5)))["rejected"] == 0
    assert (await gql.track(b.publishable, recent("bob", 20, 5)))["rejected"] == 0
    await run_worker()
    for tenant, user in ((a, "alice"), (b, "bob")):
        power = (await gql.data(tenant.secret, MEMBERS, {"id": "power"}))["tenant"]["segment"]
        assert power["members"] == {"totalCount": 1, "nodes": [{"userId": user, "engagement": 7.7}]}

    raised = await gql.data(a.secret, """mutation { setSegmentThresholds(input: {powerMin: 8}) {
        windowDays depthTarget powerMin regularMin newDays atRiskDays } }""")
    assert raised["setSegmentThresholds"] == {"windowDays": 28, "depthTarget": 10.0, "powerMin": 8.0,
                                              "regularMin": 4.0, "newDays": 14, "atRiskDays": 56}
    defined = await gql.data(a.secret, """mutation { defineSegment(input: {id: "deployers", name: "Deployers",
        rule: {conditions: [{event: {event: "deploy", withinDays: 7, atLeast: 3}}]}}) { id } }""")
    assert defined["defineSegment"] == {"id": "deployers"}
    await run_worker()
    regular = (await gql.data(a.secret, MEMBERS, {"id": "regular"}))["tenant"]["segment"]
    assert regular["members"]["nodes"] == [{"userId": "alice", "engagement": 7.7}]
    deployers = (await gql.data(a.secret, MEMBERS, {"id": "deployers"}))["tenant"]["segment"]
    assert deployers["members"]["totalCount"] == 1
    # Tenant b keeps the default thresholds and never sees a's rule segment or members.
    assert (await gql.data(b.secret, MEMBERS, {"id": "power"}))["tenant"]["segment"]["members"][
        "totalCount"] == 1
    assert (await gql.data(b.secret, MEMBERS, {"id": "deployers"}))["tenant"]["segment"] is None
    listed = await gql.data(b.secret, '{ tenant { segments(range: {since: "7d"}) { id size } } }')
    assert listed["tenant"]["segments"] == [{"id": "power", "size": 1}, {"id": "regular", "size": 0},
                                            {"id": "new", "size": 0}, {"id": "at_risk", "size": 0}]
    b_sessions = await gql.data(b.secret, """{ tenant { sessionStats(range: {since: "30d"}, segment: "deployers")
        { sessions } } }""")
    assert b_sessions["tenant"]["sessionStats"]["sessions"] == 0
    async with tenant_transaction(app_engine, a.id) as conn:
        for table in TABLES:
            seen = (await conn.execute(text(f"SELECT DISTINCT tenant_id FROM {table}"))).scalars().all()
            assert set(seen) == {a.id}, table


@pytest.mark.parametrize("operation", [
    '{ tenant { segments(range: {since: "7d"}) { id } } }',
    '{ tenant { segment(id: "power") { id } } }',
    '{ tenant { segmentThresholds { windowDays } } }',
    '{ tenant { sessionStats(range: {since: "7d"}, segment: "power") { sessions } } }',
    '{ tenant { sessions(range: {since: "7d"}, segment: "power") { totalCount } } }',
    'mutation { setSegmentThresholds(input: {powerMin: 8}) { powerMin } }',
    'mutation { defineSegment(input: {id: "x", name: "X", rule: {conditions: [{firstSeen: {withinDays: 3}}]}}) '
    '{ id } }',
    'mutation { deleteSegment(id: "x") }',
])
async def test_publishable_keys_cannot_read_or_define_segments(gql: GraphQLClient, make_tenant: Any,
                                                              operation: str) -> None:
    tenant: TenantKeys = await make_tenant()
    body = await gql(tenant.publishable, operation)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("rule", "field"), [
    ('{conditions: []}', "input.rule.conditions"),
    ('{conditions: [{}]}', "input.rule.conditions[0]"),
    ('{conditions: [{event: {event: "deploy", withinDays: 7}}]}', "input.rule.conditions[0].atLeast"),
    ('{conditions: [{event: {event: "deploy", withinDays: 0, atLeast: 1}}]}',
     "input.rule.conditions[0].withinDays"),
    ('{conditions: [{event: {event: "bad!", withinDays: 7, atLeast: 1}}]}', "input.rule.conditions[0].event"),
    ('{conditions: [{property: {property: "n", op: GT, value: "x"}}]}',
     "input.rule.conditions[0].where[0].value"),
    ('{conditions: [{firstSeen: {}}]}', "input.rule.conditions[0].firstSeen"),
])
async def test_rules_are_checked_field_by_field(gql: GraphQLClient, make_tenant: Any, rule: str,
                                                field: str) -> None:
    tenant: TenantKeys = await make_tenant()
    body = await gql(tenant.secret, f'mutation {{ defineSegment(input: {{id: "s", name: "S", rule: {rule}}}) '
                                    '{ id } }')
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, body


async def test_ids_and_thresholds_are_checked(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    rule = '{conditions: [{firstSeen: {withinDays: 3}}]}'
    for given, field in (('"power"', "input.id"), ('"Has Space"', "input.id")):
        body = await gql(tenant.secret, f'mutation {{ defineSegment(input: {{id: {given}, name: "S", '
                                        f'rule: {rule}}}) {{ id }} }}')
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    body = await gql(tenant.secret, "mutation { setSegmentThresholds(input: {regularMin: 9, powerMin: 8}) "
                                    "{ powerMin } }")
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.powerMin"}
    body = await gql(tenant.secret, "mutation { setSegmentThresholds(input: {windowDays: 3}) { powerMin } }")
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.windowDays"}


async def test_deleting_a_rule_segment_takes_its_memberships(gql: GraphQLClient, make_tenant: Any,
                                                             run_worker: Any, app_engine: AsyncEngine) -> None:
    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    assert (await gql.track(a.publishable, recent("alice", 3, 2)))["rejected"] == 0
    for tenant in (a, b):
        await gql.data(tenant.secret, """mutation { defineSegment(input: {id: "deployers", name: "Deployers",
            rule: {conditions: [{event: {event: "deploy", withinDays: 7, atLeast: 3}}]}}) { id } }""")
    await run_worker()
    deployers = (await gql.data(a.secret, MEMBERS, {"id": "deployers"}))["tenant"]["segment"]
    assert deployers["members"]["totalCount"] == 1
    delete = 'mutation($id: String!) { deleteSegment(id: $id) }'
    # another tenant's segment of the same id is its own: deleting b's leaves a's
    assert await gql.data(b.secret, delete, {"id": "deployers"}) == {"deleteSegment": True}
    assert (await gql.data(a.secret, MEMBERS, {"id": "deployers"}))["tenant"]["segment"]["members"][
        "totalCount"] == 1
    assert await gql.data(a.secret, delete, {"id": "deployers"}) == {"deleteSegment": True}
    assert await gql.data(a.secret, delete, {"id": "deployers"}) == {"deleteSegment": False}
    assert (await gql.data(a.secret, MEMBERS, {"id": "deployers"}))["tenant"]["segment"] is None
    async with tenant_transaction(app_engine, a.id) as conn:
        left = await conn.execute(text("SELECT count(*) FROM segment_members WHERE segment_id = 'deployers'"))
        assert left.scalar_one() == 0
    body = await gql(a.secret, delete, {"id": "power"})
    assert body["errors"][0]["extensions"]["field"] == "id"
    assert (await gql.data(a.secret, MEMBERS, {"id": "power"}))["tenant"]["segment"] is not None
