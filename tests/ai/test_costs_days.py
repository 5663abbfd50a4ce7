"""The costs reads take a period's whole local days from the daily tables and its other hours from the
hourly ones: exact figures across a DST change (America/New_York, Nov 1 2026 has 25 hours) for a
whole-day range, a date-time range with partial first and last days, and hour and day series."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient, event

# A client-given cost per request, powers of two: each total names the requests it holds.
COSTS = {
    "2026-10-31T12:00:00Z": 1,  # Oct 31 08:00 EDT
    "2026-11-01T03:30:00Z": 2,  # Oct 31 23:30 EDT
    "2026-11-01T05:30:00Z": 4,  # Nov 1 01:30 EDT
    "2026-11-01T06:30:00Z": 8,  # Nov 1 01:30 EST (the hour repeated)
    "2026-11-02T04:30:00Z": 16,  # Nov 1 23:30 EST
    "2026-11-02T05:30:00Z": 32,  # Nov 2 00:30 EST
    "2026-11-02T20:00:00Z": 64,  # Nov 2 15:00
    "2026-11-03T06:00:00Z": 128,  # Nov 3 01:00
}
EVENTS = [
    event("AIRequest", at, "u1", ai={"provider": "acme", "model": "acme-1", "inputTokens": 10, "cost": cost})
    for at, cost in COSTS.items()
] + [
    event("ToolCall", at, "u1", ai={"tool": "crm", "durationMs": 100})
    for at in ("2026-10-31T12:00:00Z", "2026-11-01T03:40:00Z", "2026-11-01T12:00:00Z")
]
WHOLE_DAYS = {"from": "2026-11-01", "to": "2026-11-02"}
# Oct 31 23:00 EDT to Nov 2 16:00 EST: an hour of Oct 31, all of Nov 1, 16 hours of Nov 2.
EDGES = {"from": "2026-11-01T03:00:00Z", "to": "2026-11-02T21:00:00Z"}

QUERY = """query($range: RangeInput!, $granularity: Granularity) { tenant { costs(range: $range) {
  summary { total requests }
  breakdown(by: MODEL) { key cost requests }
  tools: breakdown(by: TOOL) { key requests }
  trends(granularity: $granularity) { points { start cost requests toolCalls } } } } }"""


async def read(gql: GraphQLClient, key: str, range_: dict[str, str], granularity: str) -> dict[str, Any]:
    data = await gql.data(key, QUERY, {"range": range_, "granularity": granularity})
    result: dict[str, Any] = data["tenant"]["costs"]
    return result


def busy(points: list[dict[str, Any]]) -> list[tuple[str, float, int, int]]:
    return [
        (
            datetime.fromisoformat(p["start"]).astimezone(UTC).strftime("%m-%dT%H"),
            p["cost"],
            p["requests"],
            p["toolCalls"],
        )
        for p in points
        if p["requests"] or p["toolCalls"]
    ]


async def test_whole_days_from_the_daily_tables_edges_from_the_hourly(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine
) -> None:
    tenant = await make_tenant(timezone="America/New_York")
    assert (await gql.track(tenant.publishable, EVENTS))["accepted"] == len(EVENTS)
    await run_worker()
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert await verify_rollups(conn, tenant.id) == []
        daily = await conn.execute(
            text(
                "SELECT day::text, sum(cost) FROM ai_usage_daily WHERE tenant_id = :t GROUP BY 1 ORDER BY 1"
            ),
            {"t": tenant.id},
        )
        assert [(d, int(c)) for d, c in daily] == [
            ("2026-10-31", 1 + 2),
            ("2026-11-01", 4 + 8 + 16),
            ("2026-11-02", 32 + 64),
            ("2026-11-03", 128),
        ]

    whole = await read(gql, tenant.secret, WHOLE_DAYS, "DAY")
    assert whole["summary"] == {"total": 124.0, "requests": 5}
    assert whole["breakdown"] == [{"key": "acme-1", "cost": 124.0, "requests": 5}]
    assert whole["tools"] == [{"key": "crm", "requests": 1}]
    assert busy(whole["trends"]["points"]) == [("11-01T04", 28.0, 3, 1), ("11-02T05", 96.0, 2, 0)]

    edges = await read(gql, tenant.secret, EDGES, "DAY")
    assert edges["summary"] == {"total": 126.0, "requests": 6}
    assert edges["breakdown"] == [{"key": "acme-1", "cost": 126.0, "requests": 6}]
    assert edges["tools"] == [{"key": "crm", "requests": 2}]
    # Day buckets start at local midnights (Oct 31 holds the range's first hour).
    assert busy(edges["trends"]["points"]) == [
        ("10-31T04", 2.0, 1, 1),
        ("11-01T04", 28.0, 3, 1),
        ("11-02T05", 96.0, 2, 0),
    ]

    hours = await read(gql, tenant.secret, EDGES, "HOUR")
    assert busy(hours["trends"]["points"]) == [
        ("11-01T03", 2.0, 1, 1),
        ("11-01T05", 4.0, 1, 0),
        ("11-01T06", 8.0, 1, 0),
        ("11-01T12", 0.0, 0, 1),
        ("11-02T04", 16.0, 1, 0),
        ("11-02T05", 32.0, 1, 0),
        ("11-02T20", 64.0, 1, 0),
    ]


COMPARED = """query($range: RangeInput!) { tenant {
  costs(range: $range) {
    breakdown(by: MODEL, compare: PREVIOUS_PERIOD) { key cost requests share
      previous { cost requests share } change { cost requests share } }
    trends(granularity: DAY, compare: PREVIOUS_PERIOD) { comparisonPeriod { firstDay lastDay }
      points { cost requests toolCalls previous { cost requests toolCalls } change { cost requests } } } }
  tools(range: $range) { stats(compare: PREVIOUS_PERIOD) { name calls previous { calls } change { calls } } }
  requests(range: $range) { models(compare: PREVIOUS_PERIOD) { model stats { count }
    previous { count } change { count } } } } }"""


async def test_compare_matches_rows_by_key_and_points_by_position(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any
) -> None:
    tenant = await make_tenant(timezone="America/New_York")
    assert (await gql.track(tenant.publishable, EVENTS))["accepted"] == len(EVENTS)
    await run_worker()
    # Nov 1-2 (124 in 5 requests, 1 tool call) against Oct 30-31 (3 in 2 requests, 2 tool calls).
    data = (await gql.data(tenant.secret, COMPARED, {"range": WHOLE_DAYS}))["tenant"]
    assert data["costs"]["breakdown"] == [
        {
            "key": "acme-1",
            "cost": 124.0,
            "requests": 5,
            "share": 100.0,
            "previous": {"cost": 3.0, "requests": 2, "share": 100.0},
            "change": {"cost": 4033.33, "requests": 150.0, "share": 0.0},
        }
    ]
    trends = data["costs"]["trends"]
    assert trends["comparisonPeriod"] == {"firstDay": "2026-10-30", "lastDay": "2026-10-31"}
    assert trends["points"] == [
        {
            "cost": 28.0,
            "requests": 3,
            "toolCalls": 1,
            "previous": {"cost": 0.0, "requests": 0, "toolCalls": 0},
            "change": {"cost": None, "requests": None},
        },
        {
            "cost": 96.0,
            "requests": 2,
            "toolCalls": 0,
            "previous": {"cost": 3.0, "requests": 2, "toolCalls": 2},
            "change": {"cost": 3100.0, "requests": 0.0},
        },
    ]
    assert data["tools"]["stats"] == [
        {"name": "crm", "calls": 1, "previous": {"calls": 2}, "change": {"calls": -50.0}}
    ]
    assert data["requests"]["models"] == [
        {"model": "acme-1", "stats": {"count": 5}, "previous": {"count": 2}, "change": {"count": 150.0}}
    ]
