"""The costs consumer: exact usage, costs, unpriced tokens and spend rows from events written as
data, equal to the recomputation (analytics rollups verify)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient, event


def ai_request(at: str, user: str | None = "u1", **ai: Any) -> dict[str, Any]:
    return event(
        "AIRequest", at, user, ai={"provider": "anthropic", "model": "claude-sonnet-4-5-20250929", **ai}
    )


async def rows(engine: AsyncEngine, tenant_id: int, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(sql), {"t": tenant_id})]


async def test_requests_are_priced_from_the_library_and_unknown_models_stay_unpriced(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    result = await gql.track(
        tenant.publishable,
        [
            # claude-sonnet-4-5 in genai-prices: input 3, output 15, cache read 0.3, cache write 3.75 $/MTok
            ai_request(
                "2026-11-02T10:05:00Z",
                agent="support",
                inputTokens=1000,
                outputTokens=200,
                cacheReadTokens=5000,
                cacheWriteTokens=400,
                reasoningTokens=100,
                latencyMs=1200,
                timeToFirstTokenMs=300,
                conversationId="c1",
            ),
            ai_request(
                "2026-11-02T10:40:00Z",
                agent="support",
                inputTokens=10,
                outputTokens=10,
                status="error",
                errorClass="rate_limit",
                cost=0.5,
            ),
            event(
                "AIRequest",
                "2026-11-02T11:00:00Z",
                "u2",
                ai={
                    "provider": "acme",
                    "model": "acme-1",
                    "inputTokens": 700,
                    "outputTokens": 30,
                    "status": "cancelled",
                },
            ),
            event(
                "ToolCall",
                "2026-11-02T10:06:00Z",
                "u1",
                ai={
                    "tool": "search",
                    "agent": "support",
                    "durationMs": 250,
                    "cost": 0.01,
                    "conversationId": "c1",
                },
            ),
            event(
                "ConversationMessage",
                "2026-11-02T10:04:00Z",
                "u1",
                contentId="chat",
                capsule={"conversationId": "c1", "role": "user", "turn": 1},
                ai={"agent": "support"},
            ),
        ],
    )
    assert result["accepted"] == 5, result
    await run_worker()
    usage = await rows(
        owner_engine,
        tenant.id,
        "SELECT to_char(bucket, 'HH24'), provider, model, agent, tool, usage_type, tokens, "
        "unpriced_tokens, cost FROM ai_usage_hourly WHERE tenant_id = :t ORDER BY 1, 2, 3, 6",
    )
    assert usage == [
        ("10", "", "", "support", "search", "tool", 0, 0, Decimal("0.01")),
        (
            "10",
            "anthropic",
            "claude-sonnet-4-5-20250929",
            "support",
            "",
            "cache_read",
            5000,
            0,
            Decimal("0.0015"),
        ),
        (
            "10",
            "anthropic",
            "claude-sonnet-4-5-20250929",
            "support",
            "",
            "cache_write",
            400,
            0,
            Decimal("0.0015"),
        ),
        ("10", "anthropic", "claude-sonnet-4-5-20250929", "support", "", "client", 0, 0, Decimal("0.5")),
        ("10", "anthropic", "claude-sonnet-4-5-20250929", "support", "", "input", 1010, 0, Decimal("0.003")),
        ("10", "anthropic", "claude-sonnet-4-5-20250929", "support", "", "output", 210, 0, Decimal("0.003")),
        (
            "10",
            "anthropic",
            "claude-sonnet-4-5-20250929",
            "support",
            "",
            "reasoning",
            100,
            0,
            Decimal("0.0015"),
        ),
        ("11", "acme", "acme-1", "", "", "input", 700, 700, Decimal(0)),
        ("11", "acme", "acme-1", "", "", "output", 30, 30, Decimal(0)),
    ]
    spend = await rows(
        owner_engine,
        tenant.id,
        "SELECT dimension, key, agent, requests, turns, tokens, unpriced_tokens, cost "
        "FROM ai_spend_daily WHERE tenant_id = :t ORDER BY 1, 2, 3",
    )
    assert spend == [
        ("conversation", "c1", "support", 1, 1, 6700, 0, Decimal("0.0205")),
        ("user", "u:u1", "support", 2, 0, 6720, 0, Decimal("0.5105")),
        ("user", "u:u2", "", 1, 0, 730, 730, Decimal(0)),
    ]
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert await verify_rollups(conn, tenant.id) == []
