"""Tiered (long-context) prices: a request whose input (uncached + cache read + cache write tokens)
exceeds a tier's threshold pays the tier's price for all its tokens of that usage type; the library's
tiers are copied with its base prices, a tenant's tier wins over the library's, and the rollups equal
the recomputation in SQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ai.prices import library_prices
from analytics.db import tenant_transaction
from analytics.rollups.recompute import verify_rollups
from analytics.sessions.service import correct_marked_days
from tests.conftest import GraphQLClient, event

SONNET = {"provider": "anthropic", "model": "claude-sonnet-4-5-20250929"}
SUMMARY = """{ tenant { costs(range: {from: "2026-11-02", to: "2026-11-02"}) {
  summary { total byUsageType { usageType tokens cost } } } } }"""
SET_PRICE = """mutation($input: ModelPriceInput!) { setModelPrice(input: $input) {
  usageType source aboveInputTokens usdPerMillionTokens } }"""
PRICES = """{ tenant { modelPrices(model: "claude-sonnet-4-5-20250929") {
  usageType source aboveInputTokens usdPerMillionTokens } } }"""


def test_the_library_tiers_of_claude_sonnet_4_5() -> None:
    # genai-prices: $3 / $15 / $0.3 / $3.75 per million, doubled-ish above 200,000 input tokens
    _, rows = library_prices("anthropic", "claude-sonnet-4-5-20250929")
    assert sorted((usage, above, price) for _, usage, above, price in rows) == [
        ("cache_read", 0, Decimal("0.3")),
        ("cache_read", 200_000, Decimal("0.6")),
        ("cache_write", 0, Decimal("3.75")),
        ("cache_write", 200_000, Decimal("7.5")),
        ("input", 0, Decimal("3")),
        ("input", 200_000, Decimal("6")),
        ("output", 0, Decimal("15")),
        ("output", 200_000, Decimal("22.5")),
        ("reasoning", 0, Decimal("15")),
        ("reasoning", 200_000, Decimal("22.5")),
    ]


async def summary(gql: GraphQLClient, key: str) -> dict[str, Any]:
    result: dict[str, Any] = (await gql.data(key, SUMMARY))["tenant"]["costs"]["summary"]
    return result


async def test_a_request_past_the_tier_pays_the_tier_price_for_all_its_tokens(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    sent = [
        # context 150,000 + 50,000 = 200,000: not above the tier, base prices
        event(
            "AIRequest",
            "2026-11-02T10:00:00Z",
            ai={**SONNET, "inputTokens": 150_000, "cacheReadTokens": 50_000, "outputTokens": 1_000},
        ),
        # context 200,100: every token at the tier's price, reasoning at the output tier's
        event(
            "AIRequest",
            "2026-11-02T11:00:00Z",
            ai={
                **SONNET,
                "inputTokens": 150_000,
                "cacheReadTokens": 50_000,
                "cacheWriteTokens": 100,
                "outputTokens": 1_000,
                "reasoningTokens": 1_000,
            },
        ),
    ]
    assert (await gql.track(tenant.publishable, sent))["accepted"] == 2
    await run_worker()
    # base: 0.15 M x 3 + 0.05 M x 0.3 + 0.001 M x 15 = 0.45 + 0.015 + 0.015
    # tier: 0.15 M x 6 + 0.05 M x 0.6 + 100 x 7.5 / 10^6 + 0.001 M x 22.5 (output) + 0.001 M x 22.5 (reasoning)
    assert await summary(gql, tenant.secret) == {
        "total": 1.45575,
        "byUsageType": [
            {"usageType": "cache_read", "tokens": 100_000, "cost": 0.045},
            {"usageType": "cache_write", "tokens": 100, "cost": 0.00075},
            {"usageType": "input", "tokens": 300_000, "cost": 1.35},
            {"usageType": "output", "tokens": 2_000, "cost": 0.0375},
            {"usageType": "reasoning", "tokens": 1_000, "cost": 0.0225},
        ],
    }
    listed = (await gql.data(tenant.secret, PRICES))["tenant"]["modelPrices"]
    assert {
        "usageType": "input",
        "source": "library",
        "aboveInputTokens": 200_000,
        "usdPerMillionTokens": 6.0,
    } in listed

    # The tenant's own input tier ($5 above 200,000) wins over the library's for long requests only.
    body = await gql(
        tenant.secret,
        SET_PRICE,
        {"input": {**SONNET, "effectiveFrom": "2026-11-01", "input": "5", "aboveInputTokens": 200_000}},
    )
    assert [p for p in body["data"]["setModelPrice"] if p["source"] == "tenant"] == [
        {"usageType": "input", "source": "tenant", "aboveInputTokens": 200_000, "usdPerMillionTokens": 5.0}
    ], body
    assert await correct_marked_days(owner_engine, tenant.id, max_days=10) != []
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert await verify_rollups(conn, tenant.id) == []
    after = await summary(gql, tenant.secret)
    assert after["total"] == 1.30575  # the long request's input: 0.15 M x 5 instead of x 6
    assert {"usageType": "input", "tokens": 300_000, "cost": 1.2} in after["byUsageType"]


async def test_a_tier_threshold_is_checked(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant = await make_tenant()
    body = await gql(
        tenant.secret,
        SET_PRICE,
        {"input": {**SONNET, "effectiveFrom": "2026-11-01", "input": "5", "aboveInputTokens": -1}},
    )
    assert body["errors"][0]["extensions"]["field"] == "input.aboveInputTokens", body


async def test_the_price_sync_adds_the_tiers_to_a_copy_made_without_them(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    long_request = event(
        "AIRequest", "2026-11-02T10:00:00Z", ai={**SONNET, "inputTokens": 300_000, "outputTokens": 1_000}
    )
    await gql.track(tenant.publishable, [long_request])
    await run_worker()
    async with owner_engine.begin() as conn:  # a copy made before migration 0034: base prices only
        await conn.execute(
            text("DELETE FROM model_prices WHERE tenant_id = :t AND above_input_tokens > 0"), {"t": tenant.id}
        )
    await correct_marked_days(owner_engine, tenant.id, max_days=10)
    sync = (await gql.data(tenant.secret, "mutation { syncModelPrices { added daysRepriced } }"))[
        "syncModelPrices"
    ]
    assert sync == {"added": 5, "daysRepriced": ["2026-11-02"]}  # input, output, cache read/write, reasoning
    assert await correct_marked_days(owner_engine, tenant.id, max_days=10) != []
    # 0.3 M input x $6 + 0.001 M output x $22.5
    assert (await summary(gql, tenant.secret))["total"] == 1.8225
