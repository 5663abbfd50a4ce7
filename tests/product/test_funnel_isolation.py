"""Funnels are the tenant's own: another tenant's key can neither see, change nor remove them, a
publishable key can do nothing with them, and row-level security hides both funnel tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from tests.conftest import GraphQLClient, TenantKeys
from tests.product.funnel_helpers import DEFINE, MAY, RESULT, custom, define

LIST = "{ tenant { funnels { id name } } }"
ONE = "query($id: ID!) { tenant { funnel(id: $id) { id name } } }"
REMOVE = "mutation($id: ID!) { removeFunnel(id: $id) }"


async def test_another_tenant_cannot_see_change_or_remove_a_funnel(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, app_engine: AsyncEngine) -> None:
    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    for tenant in (a, b):
        await gql.track(tenant.publishable, [custom("a", 0, "u1"), custom("b", 60, "u1"), custom("c", 120, "u1")])
    funnel = await define(gql, a.secret, "a's")
    await run_worker()
    assert (await gql.data(b.secret, LIST))["tenant"]["funnels"] == []
    assert (await gql.data(b.secret, ONE, {"id": funnel["id"]}))["tenant"]["funnel"] is None
    changed = await gql(b.secret, DEFINE, {"input": {"id": funnel["id"], "name": "stolen", "steps": [
        {"matcher": {"event": "a"}}, {"matcher": {"event": "b"}}]}})
    assert changed["errors"][0]["extensions"]["field"] == "input.id"
    assert (await gql.data(b.secret, REMOVE, {"id": funnel["id"]})) == {"removeFunnel": False}
    assert (await gql.data(a.secret, ONE, {"id": funnel["id"]}))["tenant"]["funnel"]["name"] == "a's"
    answer = await gql.data(a.secret, RESULT, {"id": funnel["id"], "range": MAY})
    assert [s["actors"] for s in answer["tenant"]["funnel"]["result"]["steps"]] == [1, 1, 1]
    async with tenant_transaction(app_engine, b.id) as conn:
        for table in ("funnels", "funnel_attempts"):
            seen = (await conn.execute(text(f"SELECT DISTINCT tenant_id FROM {table}"))).scalars().all()
            assert seen == [], table
    async with tenant_transaction(app_engine, a.id) as conn:
        for table in ("funnels", "funnel_attempts"):
            seen = (await conn.execute(text(f"SELECT DISTINCT tenant_id FROM {table}"))).scalars().all()
            assert seen == [a.id], table


async def test_a_publishable_key_can_do_nothing_with_funnels(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    funnel = await define(gql, tenant.secret, "scoped")
    for document, variables in (
            (LIST, None), (ONE, {"id": funnel["id"]}), (REMOVE, {"id": funnel["id"]}),
            (RESULT, {"id": funnel["id"], "range": MAY}),
            (DEFINE, {"input": {"name": "x", "steps": [{"matcher": {"event": "a"}}, {"matcher": {"event": "b"}}]}})):
        answer = await gql(tenant.publishable, document, variables)
        assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN", answer
    assert (await gql.data(tenant.secret, LIST))["tenant"]["funnels"] == [{"id": funnel["id"], "name": "scoped"}]
