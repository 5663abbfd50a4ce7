"""The demo's funnels (reference 001's three and reference 002's capsule funnel) are defined and filled
by the demo load (``analytics dev --demo``) and the worker."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rollups.recompute import verify_rollups
from analytics.settings import Settings
from cli.server_commands import _load_demo
from tests.conftest import GraphQLClient, Servers, TenantKeys

FUNNELS = "{ tenant { funnels { id name backfill { status } } } }"
VERDICT = """query($k: String!) { tenant { experiment(key: $k) { results(range: {since: "30d"}) {
  recommendation winner } } } }"""
RESULT = """query($id: ID!) { tenant { funnel(id: $id) { result(range: {preset: LAST_90_DAYS}) {
  steps { actors } } } } }"""


async def test_the_demo_defines_and_fills_reference_funnels(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, servers: Servers, settings: Settings,
        owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    assert await _load_demo(servers, settings, tenant.name) > 0
    await run_worker()
    funnels = (await gql.data(tenant.secret, FUNNELS))["tenant"]["funnels"]
    assert [f["name"] for f in funnels] == ["Onboarding", "Deployment", "Service creation", "Pricing assistant"]
    for funnel in funnels:
        found = (await gql.data(tenant.secret, RESULT, {"id": funnel["id"]}))["tenant"]["funnel"]["result"]
        steps = [s["actors"] for s in found["steps"]]
        assert funnel["backfill"]["status"] == "done"
        assert steps[0] > steps[-1] > 0 and steps == sorted(steps, reverse=True), (funnel["name"], steps)
        if funnel["name"] == "Onboarding":  # reference 001: about 90 % set up their profile
            assert steps[1] / steps[0] > 0.8, steps
    # The demo experiments (their own event names, on the product demo's people) give their verdicts.
    verdicts = [(await gql.data(tenant.secret, VERDICT, {"k": k}))["tenant"]["experiment"]["results"]
                for k in ("onboarding-checklist", "pricing-page")]
    assert [(v["recommendation"], v["winner"]) for v in verdicts] == [("SHIP_VARIANT", "checklist"),
                                                                      ("INVESTIGATE_SRM", None)]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
