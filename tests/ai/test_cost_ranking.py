"""USER and CONVERSATION cost breakdowns ranked by the spend bounds (analytics.ai.ranking) give the
full scan's answer: keys outside the period are skipped, a key spanning days counts its days in the
period only, the walk stops once no bound can reach the top, and when the rounds run out the scan
answers; a bound below its daily rows is a difference for analytics rollups verify (the re-pricing
tests check that corrections keep them above)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ai import ranking, stats
from analytics.ai.spans import window
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


# Users who spent much in October or later in the fortnight of Nov 2 (Mon) - Nov 15: their whole-life
# bounds hide the top of Nov 2-3, the fortnight's bounds do not.
FORTNIGHT = [
    spend("2026-10-20T10:00:00Z", "u1", "k1", 50.0),
    spend("2026-11-02T10:00:00Z", "u1", "k2", 0.2),  # u1: life 50.2, fortnight 0.2, Nov 2-3 0.2
    spend("2026-10-21T10:00:00Z", "u2", "k3", 40.0),
    spend("2026-11-03T10:00:00Z", "u2", "k4", 0.3),  # u2: life 40.3, fortnight 0.3, Nov 2-3 0.3
    spend("2026-11-02T11:00:00Z", "u3", "k5", 1.0),  # u3: 1.0 each way
    spend("2026-11-03T11:00:00Z", "u4", "k6", 0.5),  # u4: 0.5 each way
    spend("2026-11-02T12:00:00Z", "u5", "k7", 0.1),
    spend("2026-11-10T12:00:00Z", "u5", "k8", 5.0),  # u5: life and fortnight 5.1, Nov 2-3 0.1
]


async def test_a_short_range_walks_its_fortnight(
    gql: GraphQLClient,
    make_tenant: Any,
    run_worker: Any,
    owner_engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = await make_tenant()
    assert (await gql.track(tenant.publishable, FORTNIGHT))["accepted"] == len(FORTNIGHT)
    await run_worker()
    assert ranking.fortnight(date(2026, 11, 2), date(2026, 11, 3)) == date(2026, 11, 2)
    assert ranking.fortnight(date(2026, 11, 4), date(2026, 11, 15)) == date(2026, 11, 2)
    assert ranking.fortnight(date(2026, 11, 4), date(2026, 11, 16)) is None  # three ISO weeks
    async with owner_engine.begin() as conn:
        bounds = await conn.execute(
            text(
                "SELECT week, key, cost_bound FROM ai_spend_weeks WHERE tenant_id = :t AND dimension = "
                "'user' AND key IN ('u:u1', 'u:u5') ORDER BY 1, 2"
            ),
            {"t": tenant.id},
        )
        assert [(w.isoformat(), k, float(c)) for w, k, c in bounds] == [
            ("2026-10-12", "u:u1", 50.0),  # Oct 20 is in the fortnights of Oct 12 and Oct 19
            ("2026-10-19", "u:u1", 50.0),
            ("2026-10-26", "u:u1", 0.2),  # Nov 2 is in those of Oct 26 and Nov 2
            ("2026-10-26", "u:u5", 0.1),
            ("2026-11-02", "u:u1", 0.2),
            ("2026-11-02", "u:u5", 5.1),
            ("2026-11-09", "u:u5", 5.0),
        ]
    period = resolve(RangeSpec("2026-11-02", "2026-11-03"), ZoneInfo("UTC"))
    asked: list[int] = []

    async def walk(fortnights: bool) -> list[Any] | None:
        monkeypatch.setattr(ranking, "FORTNIGHTS", fortnights)
        async with tenant_transaction(owner_engine, tenant.id) as conn:
            params = window(period, False)

            async def exact(keys: Any) -> list[Any]:
                asked.append(len(keys))
                return await stats.breakdown(conn, period, "user", len(keys), False, keys=keys)

            found = await ranking.top_by_bound(conn, params, "user", 1, exact)
        return None if found is None else [(i.key, i.cost) for i in found]

    monkeypatch.setattr(ranking, "CHUNK", 3)  # 3 keys a round for the top 1
    monkeypatch.setattr(ranking, "ROUNDS", 1)
    # Whole lives: u1, u2, u5 (50.2, 40.3, 5.1) read, the best of them 0.3 < 5.1: not settled.
    assert await walk(False) is None
    # The fortnight: u5, u3, u4 (5.1, 1.0, 0.5) read, u3's 1.0 > 0.5: settled in one round.
    assert await walk(True) == [("u:u3", Decimal("1.0"))]
    assert asked == [3, 3]
    monkeypatch.setattr(ranking, "ROUNDS", 3)
    for fortnights in (True, False):  # either walk gives the scan's rows
        monkeypatch.setattr(ranking, "FORTNIGHTS", fortnights)
        assert await breakdown(owner_engine, tenant.id, "user", "2026-11-02", "2026-11-03", 3) == [
            ("u:u3", Decimal("1.0"), 1),
            ("u:u4", Decimal("0.5"), 1),
            ("u:u2", Decimal("0.3"), 1),
        ]
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert await verify_rollups(conn, tenant.id) == []
    async with owner_engine.begin() as conn:  # a fortnight's bound below its days: a difference
        await conn.execute(
            text("UPDATE ai_spend_weeks SET cost_bound = 5 WHERE tenant_id = :t AND key = 'u:u5'"),
            {"t": tenant.id},
        )
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert [(d.table, d.missing) for d in await verify_rollups(conn, tenant.id)] == [
            ("ai_spend_weeks", 1)
        ]
