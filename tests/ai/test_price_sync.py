"""syncModelPrices / the price sync job: a tenant's copy of the library's prices, made by an older
release (simulated: a wrong input price, a missing output price, a price the library never had), is
brought up to the installed genai-prices; the tenant's own price is kept and still wins; the days are
re-priced through the correction job; a second sync changes nothing; only a secret key may sync."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ai.sync import LIBRARY_VERSION, sync_all_tenants
from analytics.db import tenant_transaction
from analytics.rollups.recompute import verify_rollups
from analytics.sessions.service import correct_marked_days
from tests.conftest import GraphQLClient, event

SONNET = {"provider": "anthropic", "model": "claude-sonnet-4-5-20250929"}  # library: $3 in, $15 out
SYNC = """mutation { syncModelPrices { libraryVersion models added changed removed daysRepriced } }"""
TOTAL = """{ tenant { costs(range: {from: "2026-10-01", to: "2026-11-02"}) { summary { total } } } }"""
SET_PRICE = """mutation($input: ModelPriceInput!) { setModelPrice(input: $input) { source } }"""
OLD_RELEASE = [  # what an older release's copy might hold (its base prices; the requests are short)
    "UPDATE model_prices SET usd_per_mtok = 1 WHERE tenant_id = :t AND source = 'library' "
    "AND usage_type = 'input' AND above_input_tokens = 0",
    "DELETE FROM model_prices WHERE tenant_id = :t AND source = 'library' AND usage_type = 'output' "
    "AND above_input_tokens = 0",
    "INSERT INTO model_prices VALUES (:t, 'anthropic', 'claude-sonnet-4-5-20250929', 'cache_read', "
    "'library', '2026-11-02T00:00:00Z', 99)",
]


def request(at: str) -> dict[str, Any]:
    return event(
        "AIRequest",
        at,
        "u1",
        ai={**SONNET, "inputTokens": 100_000, "outputTokens": 10_000, "cacheReadTokens": 1_000},
    )


async def total(gql: GraphQLClient, key: str) -> float:
    data = await gql.data(key, TOTAL)
    value: float = data["tenant"]["costs"]["summary"]["total"]
    return value


async def test_sync_upgrades_the_library_copy_keeps_overrides_and_reprices(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    assert (await gql.track(tenant.publishable, [request("2026-10-01T10:00:00Z")]))["accepted"] == 1
    await run_worker()  # the model is seen: the library's prices are copied
    async with owner_engine.begin() as conn:
        for statement in OLD_RELEASE:
            await conn.execute(text(statement), {"t": tenant.id})
    body = await gql(
        tenant.secret, SET_PRICE, {"input": {**SONNET, "effectiveFrom": "2026-11-02", "output": "10"}}
    )
    assert "errors" not in body, body
    later = [request("2026-11-01T10:00:00Z"), request("2026-11-02T10:00:00Z")]
    assert (await gql.track(tenant.publishable, later))["accepted"] == 2
    await run_worker()
    await correct_marked_days(owner_engine, tenant.id, max_days=10)
    # Oct 1 was rolled up before the copy aged: 0.3 + 0.15 + 0.0003. With the old copy: input $1,
    # output unpriced on Nov 1 and your $10 on Nov 2, cache reads $0.3 then $99: 0.1003 + 0.299.
    assert await total(gql, tenant.secret) == 0.8496

    sync = (await gql.data(tenant.secret, SYNC))["syncModelPrices"]
    assert sync == {
        "libraryVersion": LIBRARY_VERSION,
        "models": 1,
        "added": 1,  # output $15
        "changed": 1,  # input $3
        "removed": 1,  # cache reads at $99
        "daysRepriced": ["2026-10-01", "2026-11-01", "2026-11-02"],
    }
    await correct_marked_days(owner_engine, tenant.id, max_days=10)
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert await verify_rollups(conn, tenant.id) == []
        prices = (
            await conn.execute(
                text(
                    "SELECT usage_type, source, usd_per_mtok FROM model_prices WHERE tenant_id = :t "
                    "AND usage_type IN ('output', 'reasoning') AND above_input_tokens = 0 ORDER BY 1, 2"
                ),
                {"t": tenant.id},
            )
        ).all()
    assert [(u, s, float(p)) for u, s, p in prices] == [
        ("output", "library", 15.0),
        ("output", "tenant", 10.0),
        ("reasoning", "library", 15.0),
        ("reasoning", "tenant", 10.0),
    ]
    # input 3 x 0.3; output 10k at $15 on Oct 1 and Nov 1, at your $10 on Nov 2; cache reads 3 x 0.0003.
    assert await total(gql, tenant.secret) == 1.3009  # 0.9 + 0.15 + 0.15 + 0.1 + 0.0009

    again = (await gql.data(tenant.secret, SYNC))["syncModelPrices"]
    assert (again["added"], again["changed"], again["removed"], again["daysRepriced"]) == (0, 0, 0, [])
    assert tenant.id not in await sync_all_tenants(owner_engine)  # the job's path: nothing left to do

    body = await gql(tenant.publishable, SYNC)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
