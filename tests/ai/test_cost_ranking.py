"""USER and CONVERSATION cost breakdowns ranked by the spend bounds (analytics.ai.ranking) give the
full scan's answer: keys outside the period are skipped, a key spanning days counts its days in the
period only, the walk stops once no bound can reach the top, and when the rounds run out the scan
answers; a bound below its daily rows is a difference for analytics rollups verify (the re-pricing
tests check that corrections keep them above)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ai import ranking, stats
from analytics.db import tenant_transaction
from analytics.periods import RangeSpec, resolve
from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient, event


def spend(at: str, user: str, conversation: str, cost: float) -> dict[str, Any]:
    ai = {
        "provider": "acme",
        "model": "acme-1",
        "inputTokens": 10,
        "cost": cost,
        "conversationId": conversation,
    }
    return event("AIRequest", at, user, ai=ai)


EVENTS = [
    spend("2026-11-01T10:00:00Z", "u1", "c-old", 9.0),  # the most expensive, before the period
    spend("2026-11-02T10:00:00Z", "u2", "c-a", 1.0),
    spend("2026-11-02T11:00:00Z", "u3", "c-b", 2.0),
    spend("2026-11-02T12:00:00Z", "u2", "c-c", 0.5),
    spend("2026-11-03T10:00:00Z", "u3", "c-b", 0.25),  # c-b's bound 2.25, 2.0 of it on Nov 2
]


async def breakdown(
    engine: AsyncEngine, tenant_id: int, by: str, first: str, last: str, limit: int
) -> list[Any]:
    period = resolve(RangeSpec(first, last), ZoneInfo("UTC"))
    async with tenant_transaction(engine, tenant_id) as conn:
        items = await stats.breakdown(conn, period, by, limit, include_bots=False)
    return [(i.key, i.cost, i.requests) for i in items]


@pytest.mark.parametrize(
    ("chunk", "rounds"), [(4, 4), (0.1, 5), (0.1, 1)]
)  # settled at once, walked, scanned
async def test_the_bound_walk_answers_as_the_scan(
    gql: GraphQLClient,
    make_tenant: Any,
    run_worker: Any,
    owner_engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    chunk: float,
    rounds: int,
) -> None:
    tenant = await make_tenant()
    assert (await gql.track(tenant.publishable, EVENTS))["accepted"] == len(EVENTS)
    await run_worker()
    monkeypatch.setattr(ranking, "CHUNK", chunk)
    monkeypatch.setattr(ranking, "ROUNDS", rounds)
    nov2 = await breakdown(owner_engine, tenant.id, "conversation", "2026-11-02", "2026-11-02", 2)
    assert nov2 == [("c-b", Decimal("2.0"), 1), ("c-a", Decimal("1.0"), 1)]
    everything = await breakdown(owner_engine, tenant.id, "conversation", "2026-11-01", "2026-11-03", 10)
    assert everything == [
        ("c-old", Decimal("9.0"), 1),
        ("c-b", Decimal("2.25"), 2),
        ("c-a", Decimal("1.0"), 1),
        ("c-c", Decimal("0.5"), 1),
    ]
    users = await breakdown(owner_engine, tenant.id, "user", "2026-11-02", "2026-11-03", 5)
    assert users == [("u:u3", Decimal("2.25"), 2), ("u:u2", Decimal("1.5"), 2)]
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_a_bound_below_the_daily_rows_is_a_difference(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    await gql.track(tenant.publishable, EVENTS)
    await run_worker()
    async with owner_engine.begin() as conn:  # as a bug that took cost off a bound would leave it
        await conn.execute(
            text("UPDATE ai_spend_keys SET cost_bound = 1 WHERE tenant_id = :t AND key = 'c-b'"),
            {"t": tenant.id},
        )
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert [(d.table, d.missing) for d in await verify_rollups(conn, tenant.id)] == [("ai_spend_keys", 1)]
