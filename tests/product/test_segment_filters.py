"""The segment filter on the product fields: funnels and feature adoption count only the segment's
members as of the range's end, with the same membership rule as sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import GraphQLClient, TenantKeys, event


def at(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


async def test_funnels_and_feature_adoption_take_a_segment(gql: GraphQLClient, make_tenant: Any,
                                                           run_worker: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    batch = [event("Custom", at(30), user, name="signup") for user in ("u1", "u2", "u3")]
    batch += [event("Custom", at(29), "u1", name="deploy"), event("Custom", at(28), "u2", name="deploy"),
              event("Custom", at(27), "u2", name="deploy")]
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 6
    funnel = await gql.data(tenant.secret, """mutation { defineFunnel(input: {name: "Deploys", steps: [
        {matcher: {event: "signup"}}, {matcher: {event: "deploy"}}]}) { id } }""")
    await gql.data(tenant.secret, 'mutation { defineFeature(name: "Deploy", matcher: {event: "deploy"}) { id } }')
    await gql.data(tenant.secret, """mutation { defineSegment(input: {id: "deployers", name: "Deployers",
        rule: {conditions: [{event: {event: "deploy", withinDays: 7, atLeast: 1}}]}}) { id } }""")
    await run_worker()
    query = """query($id: ID!, $segment: String) { tenant {
        funnel(id: $id) { result(range: {since: "3d"}, segment: $segment) { entered converted } }
        featureAdoption(range: {since: "3d"}, segment: $segment) {
          features { feature { name } usageCount uniqueUsers activeUsers adoptionRate } } } }"""
    every = (await gql.data(tenant.secret, query, {"id": funnel["defineFunnel"]["id"]}))["tenant"]
    assert every["funnel"]["result"] == {"entered": 3, "converted": 2}
    assert every["featureAdoption"]["features"] == [{"feature": {"name": "Deploy"}, "usageCount": 3,
                                                     "uniqueUsers": 2, "activeUsers": 3,
                                                     "adoptionRate": 66.67}]
    members = (await gql.data(tenant.secret, query, {"id": funnel["defineFunnel"]["id"],
                                                     "segment": "deployers"}))["tenant"]
    assert members["funnel"]["result"] == {"entered": 2, "converted": 2}
    assert members["featureAdoption"]["features"] == [{"feature": {"name": "Deploy"}, "usageCount": 3,
                                                       "uniqueUsers": 2, "activeUsers": 2,
                                                       "adoptionRate": 100.0}]
    # A range that ended before the worker assigned anyone has no members.
    before = """query($id: ID!) { tenant { funnel(id: $id) {
        result(range: {from: "2020-01-01", to: "2020-01-31"}, segment: "deployers") { entered } } } }"""
    assert (await gql.data(tenant.secret, before, {"id": funnel["defineFunnel"]["id"]}))["tenant"][
        "funnel"]["result"] == {"entered": 0}
