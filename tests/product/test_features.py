"""Features: the rollup consumer, adoption and its trend, backfill of a late feature, bots, isolation
and key scopes, all from events written as data."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.features.stats import Trend, adoption_trend
from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient, TenantKeys, event

DEFINE = """mutation($name: String!, $matcher: MatcherInput!) { defineFeature(name: $name, matcher: $matcher) {
    id name matcher { event where { property op value } } backfill { status processedDays totalDays } } }"""
ADOPTION = """query($range: RangeInput!, $compare: Compare, $bots: Boolean!) { tenant {
    featureAdoption(range: $range, compare: $compare, includeBots: $bots) {
        period { firstDay lastDay } comparisonPeriod { firstDay lastDay }
        features { feature { name backfill { status } } usageCount uniqueUsers activeUsers adoptionRate trend
                   previous { usageCount uniqueUsers activeUsers adoptionRate } change { adoptionRate } } } } }"""
WEEK = {"from": "2026-06-08", "to": "2026-06-14"}


@pytest.mark.parametrize(("users", "active", "before", "before_active", "trend"), [
    (21, 40, 20, 40, Trend.STABLE),      # +5 % exactly
    (211, 400, 200, 400, Trend.UP),      # +5.5 %
    (19, 40, 20, 40, Trend.STABLE),      # -5 % exactly
    (189, 400, 200, 400, Trend.DOWN),    # -5.5 %
    (20, 38, 20, 40, Trend.UP),          # 52.63 % against 50 %: +5.26 %
    (3, 10, 0, 10, Trend.UP),            # used now, not before
    (0, 10, 0, 0, Trend.STABLE),
    (0, 10, 1, 10, Trend.DOWN),
])
def test_trend_is_stable_within_five_percent_of_the_previous_rate(
        users: int, active: int, before: int, before_active: int, trend: Trend) -> None:
    assert adoption_trend(users, active, before, before_active) is trend


async def define(gql: GraphQLClient, key: str, name: str, event_name: str, where: list[dict[str, Any]] | None = None
                 ) -> dict[str, Any]:
    data = await gql.data(key, DEFINE, {"name": name, "matcher": {"event": event_name, "where": where or []}})
    result: dict[str, Any] = data["defineFeature"]
    return result


def _weeks() -> list[dict[str, Any]]:
    """40 people active in each week; per feature, how many used it in the previous and this week."""
    uses = {"deploy": (20, 21), "docs_viewed": (20, 22), "pipeline_run": (20, 19), "monitoring_configured": (20, 18),
            "service_activated": (0, 4)}
    events: list[dict[str, Any]] = []
    for week, day in ((0, "2026-06-02"), (1, "2026-06-09")):
        for i in range(40):
            at = f"{day}T{8 + i % 10:02d}:{i:02d}:00Z"
            events.append(event("Custom", at, f"u{i}", name="open", sessionId=f"s{week}-{i}"))
            for name, counts in uses.items():
                if i < counts[week]:
                    extra = {"properties": {"page": "/a"}} if name == "docs_viewed" else {}
                    for _ in range(2 if name == "deploy" else 1):
                        events.append(event("Custom", at, f"u{i}", name=name, sessionId=f"s{week}-{i}", **extra))
            if week == 1 and i >= 30:  # docs of another page: not the feature
                events.append(event("Custom", at, f"u{i}", name="docs_viewed", sessionId=f"s{week}-{i}",
                                    properties={"page": "/b"}))
    return events


async def test_adoption_usage_and_trend_per_feature(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                                    owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    other: TenantKeys = await make_tenant()
    await define(gql, tenant.secret, "Deploy Application", "deploy")
    await define(gql, tenant.secret, "View Documentation", "docs_viewed",
                 [{"property": "page", "op": "EQ", "value": "/a"}])
    await define(gql, tenant.secret, "Run Pipeline", "pipeline_run")
    await define(gql, tenant.secret, "Configure Monitoring", "monitoring_configured")
    await define(gql, tenant.secret, "Create Service", "service_activated")
    await define(gql, other.secret, "Deploy Application", "deploy")
    events = _weeks()
    assert (await gql.track(tenant.publishable, events))["accepted"] == len(events)
    await run_worker()
    data = await gql.data(tenant.secret, ADOPTION, {"range": WEEK, "compare": None, "bots": False})
    adoption = data["tenant"]["featureAdoption"]
    assert adoption["comparisonPeriod"] == {"firstDay": "2026-06-01", "lastDay": "2026-06-07"}
    rows = {r["feature"]["name"]: (r["usageCount"], r["uniqueUsers"], r["activeUsers"], r["adoptionRate"],
                                   r["previous"]["adoptionRate"], r["change"]["adoptionRate"], r["trend"])
            for r in adoption["features"]}
    assert rows == {
        "Configure Monitoring": (18, 18, 40, 45.0, 50.0, -10.0, "DOWN"),
        "Create Service": (4, 4, 40, 10.0, 0.0, None, "UP"),
        "Deploy Application": (42, 21, 40, 52.5, 50.0, 5.0, "STABLE"),
        "Run Pipeline": (19, 19, 40, 47.5, 50.0, -5.0, "STABLE"),
        "View Documentation": (22, 22, 40, 55.0, 50.0, 10.0, "UP"),
    }
    # Two weeks at once: each person counted once.
    both = await gql.data(tenant.secret, ADOPTION, {"range": {"from": "2026-06-01", "to": "2026-06-14"},
                                                    "compare": "PREVIOUS_PERIOD", "bots": False})
    deploy = next(r for r in both["tenant"]["featureAdoption"]["features"]
                  if r["feature"]["name"] == "Deploy Application")
    assert (deploy["usageCount"], deploy["uniqueUsers"], deploy["activeUsers"]) == (82, 21, 40)
    # The other tenant defined the same feature and sent nothing.
    theirs = await gql.data(other.secret, ADOPTION, {"range": WEEK, "compare": None, "bots": False})
    assert [(r["usageCount"], r["uniqueUsers"], r["activeUsers"])
            for r in theirs["tenant"]["featureAdoption"]["features"]] == [(0, 0, 0)]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_a_late_feature_is_backfilled_and_bots_are_left_out(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant(timezone="Europe/Berlin")
    humans = [event("Custom", "2026-06-08T21:30:00Z", "u1", name="deploy"),   # 23:30 Berlin, 8 June
              event("Custom", "2026-06-08T22:30:00Z", "u1", name="deploy"),   # 00:30 Berlin, 9 June
              event("Custom", "2026-06-10T09:00:00Z", "u2", name="deploy"),
              event("Custom", "2026-06-10T09:00:00Z", "u3", name="open")]
    assert (await gql.track(tenant.publishable, humans))["accepted"] == 4
    robot = await gql.http.post(f"{gql.url}/graphql", json={"query": """mutation($e: [TrackEvent!]!) {
        track(events: $e) { accepted } }""", "variables": {"e": [
        event("Custom", "2026-06-10T10:00:00Z", "bot1", name="deploy")]}}, headers={
        "Authorization": f"Bearer {tenant.publishable}", "User-Agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"})
    assert robot.json()["data"]["track"]["accepted"] == 1
    await run_worker()
    defined = await define(gql, tenant.secret, "Deploy Application", "deploy")
    assert defined["backfill"] == {"status": "queued", "processedDays": 0, "totalDays": None}
    before = await gql.data(tenant.secret, ADOPTION, {"range": WEEK, "compare": None, "bots": False})
    assert before["tenant"]["featureAdoption"]["features"][0]["usageCount"] == 0
    await run_worker()  # the sweep at startup queues the backfill
    after = await gql.data(tenant.secret, ADOPTION, {"range": WEEK, "compare": None, "bots": False})
    row = after["tenant"]["featureAdoption"]["features"][0]
    assert row["feature"]["backfill"] == {"status": "done"}
    assert (row["usageCount"], row["uniqueUsers"], row["activeUsers"], row["adoptionRate"]) == (3, 2, 3, 66.67)
    listed = await gql.data(tenant.secret, "{ tenant { features { name backfill { status processedDays totalDays "
                                           "firstDay } } } }")
    assert listed["tenant"]["features"] == [{"name": "Deploy Application", "backfill": {
        "status": "done", "processedDays": 3, "totalDays": 3, "firstDay": "2026-06-08"}}]
    with_bots = await gql.data(tenant.secret, ADOPTION, {"range": WEEK, "compare": None, "bots": True})
    row = with_bots["tenant"]["featureAdoption"]["features"][0]
    assert (row["usageCount"], row["uniqueUsers"], row["activeUsers"]) == (4, 3, 4)
    # Events after the definition are counted by the rollup itself.
    assert (await gql.track(tenant.publishable, [event("Custom", "2026-06-11T09:00:00Z", "u3", name="deploy")])
            )["accepted"] == 1
    await run_worker()
    row = (await gql.data(tenant.secret, ADOPTION, {"range": WEEK, "compare": None, "bots": False})
           )["tenant"]["featureAdoption"]["features"][0]
    assert (row["usageCount"], row["uniqueUsers"]) == (4, 3)
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
    removed = await gql.data(tenant.secret, 'mutation { removeFeature(name: "Deploy Application") }')
    assert removed == {"removeFeature": True}
    assert (await gql.data(tenant.secret, "{ tenant { features { name } } }"))["tenant"]["features"] == []


async def test_feature_fields_need_a_secret_key_of_their_own_tenant(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    other: TenantKeys = await make_tenant()
    await define(gql, tenant.secret, "Deploy Application", "deploy")
    for query, variables in (
            (DEFINE, {"name": "x", "matcher": {"event": "deploy"}}),
            ('mutation { removeFeature(name: "Deploy Application") }', None),
            ("mutation { setBusinessMetrics(enabled: true) }", None),
            ("{ tenant { features { name } } }", None),
            (ADOPTION, {"range": WEEK, "compare": None, "bots": False}),
            ("{ tenant { usage(range: {preset: LAST_7_DAYS}) { activeUsers } } }", None),
            ("{ tenant { businessMetrics } }", None)):
        body = await gql(tenant.publishable, query, variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", query
    assert (await gql.data(other.secret, "{ tenant { features { name } } }"))["tenant"]["features"] == []
    assert (await gql.data(other.secret, 'mutation { removeFeature(name: "Deploy Application") }')
            ) == {"removeFeature": False}
    assert len((await gql.data(tenant.secret, "{ tenant { features { name } } }"))["tenant"]["features"]) == 1
    bad = await gql(tenant.secret, DEFINE, {"name": " ", "matcher": {"event": "deploy"}})
    assert bad["errors"][0]["extensions"]["field"] == "name"
    bad = await gql(tenant.secret, DEFINE, {"name": "x", "matcher": {"event": "Custom"}})
    assert bad["errors"][0]["extensions"]["field"] == "matcher.event"


async def test_feature_counts_follow_a_later_bot_rule(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                                      owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant.secret, "Deploy Application", "deploy")
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"
    sent = await gql.http.post(f"{gql.url}/graphql", json={"query": """mutation($e: [TrackEvent!]!) {
        track(events: $e) { accepted } }""", "variables": {"e": [
        event("Custom", "2026-06-09T10:00:00Z", "probe", name="deploy", sessionId="p1"),
        event("Custom", "2026-06-09T10:01:00Z", "probe", name="deploy", sessionId="p1")]}}, headers={
        "Authorization": f"Bearer {tenant.publishable}", "User-Agent": agent})
    assert sent.json()["data"]["track"]["accepted"] == 2
    assert (await gql.track(tenant.publishable, [event("Custom", "2026-06-09T11:00:00Z", "u1", name="deploy",
                                                       sessionId="h1")]))["accepted"] == 1
    await run_worker()
    row = (await gql.data(tenant.secret, ADOPTION, {"range": WEEK, "compare": None, "bots": False})
           )["tenant"]["featureAdoption"]["features"][0]
    assert (row["usageCount"], row["uniqueUsers"], row["activeUsers"]) == (3, 2, 2)
    await gql.data(tenant.secret, 'mutation { addBotRule(pattern: "Firefox/126.0") { id } }')
    await run_worker()
    row = (await gql.data(tenant.secret, ADOPTION, {"range": WEEK, "compare": None, "bots": False})
           )["tenant"]["featureAdoption"]["features"][0]
    assert (row["usageCount"], row["uniqueUsers"], row["activeUsers"], row["adoptionRate"]) == (1, 1, 1, 100.0)
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
