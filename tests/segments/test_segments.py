"""Segments: the engagement score on users written as data, built-in segments and their moves over
days (a regular user who stops coming becomes at risk after the daily run), rule segments with AND /
OR, history and movements, the sessions filter, and the recomputation check."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rollups.recompute import verify_rollups
from analytics.rollups.service import roll_up
from analytics.segments.assign import assign_marked, start_daily
from tests.conftest import GraphQLClient, TenantKeys, event


def day(d: date, hour: int = 10, minute: int = 0) -> str:
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=UTC).isoformat()


def custom(user: str, d: date, name: str, n: int, **properties: Any) -> list[dict[str, Any]]:
    return [event("Custom", day(d, 10, i), user, name=name, sessionId=f"{user}:{d}",
                  **({"properties": properties} if properties else {})) for i in range(n)]


MAY = [date(2025, 5, d) for d in range(1, 32)]
# As of 28 May (window 28 days: 1..28 May):
# - daily: 5 events every day 1..28: recency 1, frequency 1, depth 0.5 -> 9.0 (power)
# - regular: 2 events on 7 days, last 26 May: 0.4*(1-2/28) + 0.4*7/28 + 0.2*0.2 -> 5.1 (regular)
# - fading: 3 events on 1..5 May: 0.4*(1-23/28) + 0.4*5/28 + 0.2*0.3 -> 2.0 (at risk)
# - newbie: 4 events on 20 and 27 May (first seen 8 days ago): 0.4*(27/28) + 0.4*2/28 + 0.2*0.4 -> 4.9 (new)
# - gone: 1 event on 1 March, silent 88 days: 0.0, in no built-in segment
JOURNEYS: list[dict[str, Any]] = [
    *(e for d in MAY[:28] for e in custom("daily", d, "deploy", 5)),
    *(e for d in (4, 8, 12, 16, 20, 24, 26) for e in custom("regular", MAY[d - 1], "docs_viewed", 2)),
    *(e for d in MAY[:5] for e in custom("fading", d, "pipeline_run", 3)),
    *custom("newbie", MAY[19], "sign_up", 4, plan="pro"), *custom("newbie", MAY[26], "deploy", 4),
    *custom("gone", date(2025, 3, 1), "sign_up", 1, plan="free"),
]
MAY_28 = datetime(2025, 5, 28, 23, 0, tzinfo=UTC)
JUNE_30 = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)

SEGMENTS = """query($range: RangeInput!) { tenant { segments(range: $range) {
    id name builtIn size share meanEngagement } } }"""


async def load(gql: GraphQLClient, tenant: TenantKeys, events: list[dict[str, Any]],
               app_engine: AsyncEngine) -> None:
    for start in range(0, len(events), 500):
        result = await gql.track(tenant.publishable, events[start:start + 500])
        assert result["rejected"] == 0, result
    await roll_up(app_engine, tenant.id, claim_batches=100)


async def open_memberships(engine: AsyncEngine, tenant_id: int) -> dict[str, set[str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT user_key, segment_id FROM segment_members WHERE tenant_id = :t "
                                       "AND valid_to IS NULL"), {"t": tenant_id})
        found: dict[str, set[str]] = {}
        for key, segment in rows:
            found.setdefault(key, set()).add(segment)
        return found


async def scores(engine: AsyncEngine, tenant_id: int) -> dict[str, float]:
    async with engine.connect() as conn:
        return {k: s for k, s in await conn.execute(text(
            "SELECT user_key, score FROM segment_users WHERE tenant_id = :t"), {"t": tenant_id})}


async def test_scores_built_in_segments_and_a_regular_user_turning_at_risk(
        gql: GraphQLClient, make_tenant: Any, app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    await load(gql, tenant, JOURNEYS, app_engine)
    run = await assign_marked(app_engine, tenant.id, now=MAY_28)
    assert (run.users, run.joined, run.left) == (5, 4, 0)
    assert await scores(owner_engine, tenant.id) == {"u:daily": 9.0, "u:regular": 5.1, "u:fading": 2.0,
                                                      "u:newbie": 4.9, "u:gone": 0.0}
    assert await open_memberships(owner_engine, tenant.id) == {
        "u:daily": {"power"}, "u:regular": {"regular"}, "u:fading": {"at_risk"}, "u:newbie": {"new"}}
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []

    body = await gql.data(tenant.secret, SEGMENTS, {"range": {"from": "2025-05-01", "to": "2025-05-28"}})
    assert body["tenant"]["segments"] == [
        {"id": "power", "name": "Power users", "builtIn": True, "size": 1, "share": 25.0, "meanEngagement": 9.0},
        {"id": "regular", "name": "Regular users", "builtIn": True, "size": 1, "share": 25.0,
         "meanEngagement": 5.1},
        {"id": "new", "name": "New users", "builtIn": True, "size": 1, "share": 25.0, "meanEngagement": 4.9},
        {"id": "at_risk", "name": "At risk", "builtIn": True, "size": 1, "share": 25.0, "meanEngagement": 2.0},
    ]

    # Nobody comes back: the daily run on 30 June moves everyone still counted to at risk.
    assert await start_daily(app_engine, tenant.id, now=JUNE_30)
    assert not await start_daily(app_engine, tenant.id, now=JUNE_30 + timedelta(hours=1))  # once a day
    run = await assign_marked(app_engine, tenant.id, now=JUNE_30)
    assert (run.users, run.joined, run.left) == (5, 3, 3)
    assert await open_memberships(owner_engine, tenant.id) == {
        "u:daily": {"at_risk"}, "u:regular": {"at_risk"}, "u:fading": {"at_risk"}, "u:newbie": {"at_risk"}}
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []

    moved = """query($id: String!) { tenant { segment(id: $id) {
        june: size(range: {from: "2025-06-01", to: "2025-06-30"})
        may: size(range: {from: "2025-05-01", to: "2025-05-28"})
        movements(range: {from: "2025-06-24", to: "2025-06-30"}) { from to users }
        engagement(range: {from: "2025-06-01", to: "2025-06-30"}) { members mean histogram }
        members(first: 2) { totalCount nodes { userId since engagement } pageInfo { hasNextPage endCursor } }
    } } }"""
    at_risk = (await gql.data(tenant.secret, moved, {"id": "at_risk"}))["tenant"]["segment"]
    assert (at_risk["may"], at_risk["june"]) == (1, 4)
    assert at_risk["movements"] == [{"from": "new", "to": "at_risk", "users": 1},
                                    {"from": "power", "to": "at_risk", "users": 1},
                                    {"from": "regular", "to": "at_risk", "users": 1}]
    assert at_risk["engagement"] == {"members": 4, "mean": 0.0, "histogram": [4] + [0] * 10}
    assert at_risk["members"]["totalCount"] == 4
    assert [n["userId"] for n in at_risk["members"]["nodes"]] == ["daily", "fading"]
    assert at_risk["members"]["pageInfo"]["hasNextPage"] is True
    regular = (await gql.data(tenant.secret, moved, {"id": "regular"}))["tenant"]["segment"]
    assert regular["movements"] == [{"from": "regular", "to": "at_risk", "users": 1}]
    assert (regular["may"], regular["june"]) == (1, 0)
    # In May the regular user's engagement as of 28 May is recomputed from user_days, not stored.
    in_may = """{ tenant { segment(id: "regular") { engagement(range: {from: "2025-05-01", to: "2025-05-28"}) {
        members mean } } } }"""
    assert (await gql.data(tenant.secret, in_may))["tenant"]["segment"]["engagement"] == {"members": 1,
                                                                                          "mean": 5.1}


DEPLOYERS = {"id": "deployers", "name": "Deployers", "rule": {"match": "ALL", "conditions": [
    {"event": {"event": "deploy", "withinDays": 7, "atLeast": 3}},
    {"property": {"property": "plan", "op": "EQ", "value": "pro"}}]}}
DEPLOYERS_OR_NEW = {"id": "active-or-new", "name": "Deploying or new", "rule": {"match": "ANY", "conditions": [
    {"event": {"event": "deploy", "withinDays": 7, "atLeast": 3}},
    {"firstSeen": {"withinDays": 14}}]}}
DEFINE = """mutation($input: DefineSegmentInput!) { defineSegment(input: $input) { id name builtIn rule } }"""


async def test_rule_segments_with_and_or(gql: GraphQLClient, make_tenant: Any, app_engine: AsyncEngine,
                                         owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    events = [
        *custom("p1", MAY[24], "deploy", 3, plan="pro"),                     # both
        *custom("p2", MAY[19], "deploy", 3, plan="pro"),                     # new only (deploys 8 days ago)
        *custom("p3", MAY[0], "docs_viewed", 1, plan="pro"),                 # 3 deploys, plan now free: ANY
        *custom("p3", MAY[21], "deploy", 1), *custom("p3", MAY[26], "deploy", 2, plan="free"),
        *custom("p4", MAY[0], "docs_viewed", 1), *custom("p4", MAY[20], "deploy", 3, plan="pro"),  # none
    ]
    await load(gql, tenant, events, app_engine)
    created = await gql.data(tenant.secret, DEFINE, {"input": DEPLOYERS})
    assert created["defineSegment"]["rule"] == {"match": "ALL", "conditions": [
        {"event": "deploy", "withinDays": 7, "atLeast": 3, "atMost": None},
        {"property": "plan", "op": "EQ", "value": "pro"}]}
    await gql.data(tenant.secret, DEFINE, {"input": DEPLOYERS_OR_NEW})
    await assign_marked(app_engine, tenant.id, now=MAY_28)
    members = await open_memberships(owner_engine, tenant.id)
    assert {k: v - {"power", "regular", "new", "at_risk"} for k, v in members.items()} == {
        "u:p1": {"deployers", "active-or-new"}, "u:p2": {"active-or-new"}, "u:p3": {"active-or-new"},
        "u:p4": set()}
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
        rows = [tuple(r) for r in await conn.execute(text(
            "SELECT user_key, property, value FROM user_properties WHERE tenant_id = :t ORDER BY 1, 2"),
            {"t": tenant.id})]
    assert rows == [("u:p1", "plan", "pro"), ("u:p2", "plan", "pro"), ("u:p3", "plan", "free"),
                    ("u:p4", "plan", "pro")]
    # A week later (4 June) the deploy windows have slid past; p1 (first seen 25 May) is still new.
    await start_daily(app_engine, tenant.id, now=MAY_28 + timedelta(days=7))
    await assign_marked(app_engine, tenant.id, now=MAY_28 + timedelta(days=7))
    members = await open_memberships(owner_engine, tenant.id)
    assert {k: v - {"power", "regular", "new", "at_risk"} for k, v in members.items()} == {
        "u:p1": {"active-or-new"}, "u:p2": set(), "u:p3": set(), "u:p4": set()}
    body = await gql.data(tenant.secret, """{ tenant { segment(id: "deployers") {
        movements(range: {from: "2025-05-01", to: "2025-06-30"}) { from to users } } } }""")
    assert body["tenant"]["segment"]["movements"] == [{"from": None, "to": "deployers", "users": 1},
                                                      {"from": "deployers", "to": None, "users": 1}]


async def test_the_sessions_filter_takes_members_as_of_the_ranges_end(
        gql: GraphQLClient, make_tenant: Any, app_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    await load(gql, tenant, JOURNEYS, app_engine)
    await assign_marked(app_engine, tenant.id, now=MAY_28)
    query = """query($segment: String) { tenant {
        sessionStats(range: {from: "2025-05-01", to: "2025-05-28"}, segment: $segment) { sessions users }
        sessions(range: {from: "2025-05-01", to: "2025-05-28"}, segment: $segment, first: 3) {
            totalCount nodes { userId } } } }"""
    every = (await gql.data(tenant.secret, query, {"segment": None}))["tenant"]
    assert every["sessionStats"]["sessions"] == 28 + 7 + 5 + 2
    power = (await gql.data(tenant.secret, query, {"segment": "power"}))["tenant"]
    assert (power["sessionStats"]["sessions"], power["sessionStats"]["users"]) == (28, 1)
    assert power["sessions"]["totalCount"] == 28
    assert {n["userId"] for n in power["sessions"]["nodes"]} == {"daily"}
    # Before the first evaluation (range ending 27 May) nobody was a member yet.
    before = """{ tenant { sessionStats(range: {from: "2025-05-01", to: "2025-05-27"}, segment: "power") {
        sessions } } }"""
    assert (await gql.data(tenant.secret, before))["tenant"]["sessionStats"]["sessions"] == 0
