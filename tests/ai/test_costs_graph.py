"""tenant { costs requests agents tools conversations } and setModelPrice, with exact numbers from
events written as data; a price change re-prices the rolled-up days through the correction job."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.rollups.recompute import verify_rollups
from analytics.sessions.service import correct_marked_days
from tests.conftest import GraphQLClient, event

RANGE = {"from": "2026-11-01", "to": "2026-11-03"}


def custom(at: str, user: str = "u1", **ai: Any) -> dict[str, Any]:
    return event("AIRequest", at, user, ai={"provider": "acme", "model": "acme-1", **ai})


EVENTS = [
    # acme-1 is unknown to the library: unpriced until the tenant prices it
    custom(
        "2026-11-01T09:00:00Z",
        agent="support",
        inputTokens=1_000_000,
        outputTokens=100_000,
        latencyMs=1000,
        conversationId="c1",
    ),
    custom(
        "2026-11-02T09:00:00Z",
        agent="support",
        inputTokens=2_000_000,
        outputTokens=0,
        latencyMs=2000,
        status="error",
        errorClass="timeout",
        conversationId="c1",
    ),
    custom(
        "2026-11-03T09:00:00Z",
        agent="sales",
        inputTokens=500_000,
        reasoningTokens=10_000,
        latencyMs=4000,
        timeToFirstTokenMs=400,
        status="cancelled",
    ),
    custom("2026-11-03T10:00:00Z", "u2", agent="sales", inputTokens=100, cost=1.25),  # a client's cost wins
    event("ToolCall", "2026-11-03T09:01:00Z", "u1", ai={"tool": "crm", "agent": "sales", "durationMs": 300}),
    event(
        "ToolCall",
        "2026-11-03T09:02:00Z",
        "u1",
        ai={"tool": "crm", "agent": "sales", "durationMs": 500, "status": "error", "cost": 0.05},
    ),
    event(
        "ConversationMessage",
        "2026-11-01T08:59:00Z",
        "u1",
        contentId="chat",
        capsule={"conversationId": "c1", "role": "user", "turn": 1},
        ai={"agent": "support"},
    ),
]

SUMMARY = """query($range: RangeInput!) { tenant { costs(range: $range) {
  period { firstDay lastDay }
  summary(compare: PREVIOUS_PERIOD) { total currency requests unpricedTokens projectedMonth
    byUsageType { usageType tokens cost } unpriced { provider model usageType tokens }
    previous { total } change { total } }
  byModel: breakdown(by: MODEL) { key provider cost tokens unpricedTokens requests share }
  byAgent: breakdown(by: AGENT) { key cost requests }
  byConversation: breakdown(by: CONVERSATION) { key cost requests }
  trends(granularity: DAY) { points { start cost tokens unpricedTokens requests errors toolCalls } } } } }"""

SET_PRICE = """mutation($input: ModelPriceInput!) { setModelPrice(input: $input) {
  usageType source effectiveFrom usdPerMillionTokens } }"""


async def costs(gql: GraphQLClient, key: str) -> dict[str, Any]:
    data = await gql.data(key, SUMMARY, {"range": RANGE})
    result: dict[str, Any] = data["tenant"]["costs"]
    return result


async def test_costs_unpriced_then_priced_with_a_change_inside_the_range(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine
) -> None:
    tenant = await make_tenant()
    assert (await gql.track(tenant.publishable, EVENTS))["accepted"] == len(EVENTS)
    await run_worker()
    before = await costs(gql, tenant.secret)
    assert before["summary"] == {
        "total": 1.3,
        "currency": "USD",
        "requests": 4,
        "unpricedTokens": 3_610_000,
        "projectedMonth": 13.0,  # 1.3 / 3 days * 30
        "byUsageType": [
            {"usageType": "client", "tokens": 0, "cost": 1.25},
            {"usageType": "input", "tokens": 3_500_100, "cost": 0.0},
            {"usageType": "output", "tokens": 100_000, "cost": 0.0},
            {"usageType": "reasoning", "tokens": 10_000, "cost": 0.0},
            {"usageType": "tool", "tokens": 0, "cost": 0.05},
        ],
        "unpriced": [
            {"provider": "acme", "model": "acme-1", "usageType": "input", "tokens": 3_500_000},
            {"provider": "acme", "model": "acme-1", "usageType": "output", "tokens": 100_000},
            {"provider": "acme", "model": "acme-1", "usageType": "reasoning", "tokens": 10_000},
        ],
        "previous": {"total": 0.0},
        "change": {"total": None},
    }

    # The tenant prices acme-1: $1/$2 per million from the start, $3 input from Nov 2 on.
    for since, prices in (
        ("2026-01-01", {"input": "1", "output": "2"}),
        ("2026-11-02T00:00:00Z", {"input": "3"}),
    ):
        body = await gql(
            tenant.secret,
            SET_PRICE,
            {"input": {"provider": "acme", "model": "acme-1", "effectiveFrom": since, **prices}},
        )
        assert "errors" not in body, body
    async with tenant_transaction(owner_engine, tenant.id) as conn:  # not yet re-priced: a difference
        assert [d.table for d in await verify_rollups(conn, tenant.id)] == [
            "ai_usage_hourly",
            "ai_spend_daily",
            "ai_usage_daily",
        ]
    assert await correct_marked_days(owner_engine, tenant.id, max_days=10) != []
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert await verify_rollups(conn, tenant.id) == []
    after = await costs(gql, tenant.secret)
    # Nov 1: 1M input * $1 + 100k output * $2 = 1.2; Nov 2: 2M * $3 = 6; Nov 3: 500k * $3 = 1.5 and 10k
    # reasoning at the output price $2 = 0.02; plus the client's 1.25 and the tool's 0.05.
    assert after["summary"]["total"] == 10.02
    assert after["summary"]["unpricedTokens"] == 0 and after["summary"]["unpriced"] == []
    assert after["byModel"] == [
        {
            "key": "acme-1",
            "provider": "acme",
            "cost": 9.97,
            "tokens": 3_610_100,
            "unpricedTokens": 0,
            "requests": 4,
            "share": 99.5,
        }
    ]
    assert after["byAgent"] == [
        {"key": "support", "cost": 7.2, "requests": 2},
        {"key": "sales", "cost": 2.82, "requests": 2},
    ]
    assert after["byConversation"] == [{"key": "c1", "cost": 7.2, "requests": 2}]
    assert [
        (p["start"][:10], p["cost"], p["requests"], p["errors"], p["toolCalls"])
        for p in after["trends"]["points"]
    ] == [("2026-11-01", 1.2, 1, 0, 0), ("2026-11-02", 6.0, 1, 1, 0), ("2026-11-03", 2.82, 2, 0, 2)]


OPERATIONS = """query($range: RangeInput!) { tenant {
  requests(range: $range) {
    stats { count errors cancelled errorRate latencyP50 latencyP95 latencyP99 timeToFirstTokenP50 tokens }
    list(first: 2, status: "ok") { totalCount pageInfo { hasNextPage } nodes { model agent inputTokens cost clientCost } }
    models { provider model priced stats { count } } }
  agents(range: $range) { list { name toolCalls conversations stats { count cost } } }
  agent(name: "sales", range: $range) { tools { name calls errors errorRate durationP50 cost } }
  tools(range: $range) { stats { name calls averageDurationMs } }
  tool(name: "crm", range: $range) { stats { calls } trends(granularity: DAY) { points { requests errors } } }
  conversations(range: $range) {
    stats { conversations turns requests averageTurns averageDurationSeconds }
    list { id agent turns requests durationSeconds } } } }"""


async def test_requests_agents_tools_and_conversations(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any
) -> None:
    tenant = await make_tenant()
    await gql.track(tenant.publishable, EVENTS)
    await run_worker()
    data = (await gql.data(tenant.secret, OPERATIONS, {"range": RANGE}))["tenant"]
    assert data["requests"]["stats"] == {
        "count": 4,
        "errors": 1,
        "cancelled": 1,
        "errorRate": 25.0,
        "latencyP50": 2018.689,
        "latencyP95": 2018.689,
        "latencyP99": 2018.689,
        "timeToFirstTokenP50": 399.474,
        "tokens": 3_610_100,
    }
    assert data["requests"]["list"] == {
        "totalCount": 2,
        "pageInfo": {"hasNextPage": False},
        "nodes": [
            {"model": "acme-1", "agent": "sales", "inputTokens": 100, "cost": 1.25, "clientCost": True},
            {
                "model": "acme-1",
                "agent": "support",
                "inputTokens": 1_000_000,
                "cost": None,
                "clientCost": False,
            },
        ],
    }
    assert data["requests"]["models"] == [
        {"provider": "acme", "model": "acme-1", "priced": False, "stats": {"count": 4}}
    ]
    assert data["agents"]["list"] == [
        {"name": "sales", "toolCalls": 2, "conversations": 0, "stats": {"count": 2, "cost": 1.3}},
        {"name": "support", "toolCalls": 0, "conversations": 1, "stats": {"count": 2, "cost": 0.0}},
    ]
    assert data["agent"]["tools"] == [
        {"name": "crm", "calls": 2, "errors": 1, "errorRate": 50.0, "durationP50": 301.913, "cost": 0.05}
    ]
    assert data["tools"]["stats"] == [{"name": "crm", "calls": 2, "averageDurationMs": 400.0}]
    assert data["tool"]["stats"] == {"calls": 2}
    assert data["tool"]["trends"]["points"] == [
        {"requests": 0, "errors": 0},
        {"requests": 0, "errors": 0},
        {"requests": 2, "errors": 1},
    ]
    assert data["conversations"]["stats"] == {
        "conversations": 1,
        "turns": 1,
        "requests": 2,
        "averageTurns": 1.0,
        "averageDurationSeconds": 86460.0,
    }
    assert data["conversations"]["list"] == [
        {"id": "c1", "agent": "support", "turns": 1, "requests": 2, "durationSeconds": 86460.0}
    ]


async def test_a_publishable_key_sends_ai_requests_but_never_reads_costs(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any
) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    assert (await gql.track(tenant.publishable, EVENTS))["accepted"] == len(EVENTS)
    await run_worker()
    for query in (SUMMARY, OPERATIONS):
        body = await gql(tenant.publishable, query, {"range": RANGE})
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    body = await gql(
        tenant.publishable,
        SET_PRICE,
        {"input": {"provider": "acme", "model": "acme-1", "effectiveFrom": "2026-01-01", "input": "1"}},
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Another tenant's secret key sees none of it.
    assert (await costs(gql, other.secret))["summary"]["requests"] == 0
    data = (await gql.data(other.secret, OPERATIONS, {"range": RANGE}))["tenant"]
    assert data["requests"]["list"]["totalCount"] == 0 and data["agents"]["list"] == []
    assert data["conversations"]["list"] == []


BIG = """query($range: RangeInput!) { tenant {
  costs(range: $range) { summary { unpricedTokens byUsageType { usageType tokens } unpriced { tokens } }
    breakdown(by: CONVERSATION) { key tokens unpricedTokens }
    trends(granularity: DAY) { points { tokens unpricedTokens } } }
  requests(range: $range) { stats { tokens unpricedTokens } }
  conversations(range: $range) { stats { tokens } list { tokens unpricedTokens } } } }"""


async def test_token_sums_past_32_bits(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    # Three requests of 900 million input tokens each (the per-field limit is 10^9): 2.7 billion, past
    # GraphQL Int's 2,147,483,647, so the sums are BigInt.
    tenant = await make_tenant()
    sent = [
        custom(f"2026-11-0{day}T09:00:00Z", inputTokens=900_000_000, conversationId="big")
        for day in (1, 2, 2)
    ]
    assert (await gql.track(tenant.publishable, sent))["accepted"] == 3
    await run_worker()
    data = (await gql.data(tenant.secret, BIG, {"range": RANGE}))["tenant"]
    total = 2_700_000_000
    assert data["costs"]["summary"] == {
        "unpricedTokens": total,
        "byUsageType": [{"usageType": "input", "tokens": total}],
        "unpriced": [{"tokens": total}],
    }
    assert data["costs"]["breakdown"] == [{"key": "big", "tokens": total, "unpricedTokens": total}]
    assert data["costs"]["trends"]["points"] == [
        {"tokens": 900_000_000, "unpricedTokens": 900_000_000},
        {"tokens": 1_800_000_000, "unpricedTokens": 1_800_000_000},
        {"tokens": 0, "unpricedTokens": 0},
    ]
    assert data["requests"]["stats"] == {"tokens": total, "unpricedTokens": total}
    assert data["conversations"] == {
        "stats": {"tokens": total},
        "list": [{"tokens": total, "unpricedTokens": total}],
    }


CONVERSATION_TRENDS = """{ tenant { conversations(range: {from: "2026-11-03", to: "2026-11-04"}) {
  trends(granularity: DAY, compare: PREVIOUS_PERIOD) { comparisonPeriod { firstDay lastDay }
    points { start conversations turns cost previous { conversations turns cost }
             change { conversations turns cost } } } } } }"""


def turn(at: str, conversation: str) -> dict[str, Any]:
    return event(
        "ConversationMessage",
        at,
        "u1",
        contentId="chat",
        capsule={"conversationId": conversation, "role": "user", "turn": 1},
        ai={"agent": "support"},
    )


async def test_conversation_trends_compared_with_the_previous_period(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any
) -> None:
    tenant = await make_tenant()
    sent = [
        custom("2026-11-01T09:00:00Z", conversationId="c-a", cost=1.0),
        turn("2026-11-01T08:59:00Z", "c-a"),
        custom("2026-11-02T09:00:00Z", conversationId="c-b", cost=2.0),
        custom("2026-11-03T09:00:00Z", conversationId="c-a", cost=0.5),
        custom("2026-11-03T10:00:00Z", conversationId="c-c", cost=0.25),
        turn("2026-11-03T09:59:00Z", "c-c"),
    ]
    assert (await gql.track(tenant.publishable, sent))["accepted"] == len(sent)
    await run_worker()
    trends = (await gql.data(tenant.secret, CONVERSATION_TRENDS))["tenant"]["conversations"]["trends"]
    assert trends["comparisonPeriod"] == {"firstDay": "2026-11-01", "lastDay": "2026-11-02"}
    assert [{k: v for k, v in p.items() if k != "start"} for p in trends["points"]] == [
        {
            "conversations": 2,
            "turns": 1,
            "cost": 0.75,
            "previous": {"conversations": 1, "turns": 1, "cost": 1.0},
            "change": {"conversations": 100.0, "turns": 0.0, "cost": -25.0},
        },
        {
            "conversations": 0,
            "turns": 0,
            "cost": 0.0,
            "previous": {"conversations": 1, "turns": 0, "cost": 2.0},
            "change": {"conversations": -100.0, "turns": None, "cost": -100.0},
        },
    ]


SHARES = """query($range: RangeInput!) { tenant { costs(range: $range) {
  summary { total }
  byModel: breakdown(by: MODEL) { key cost share }
  byUser: breakdown(by: USER) { key cost share }
  byConversation: breakdown(by: CONVERSATION) { key cost share } } } }"""


async def test_user_and_conversation_shares_divide_the_cost_of_the_days_their_rows_cover(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any
) -> None:
    """Spend per user and conversation is kept per local day: over a range that cuts a day their rows
    cover the whole days it touches, and each share is of those days' cost, so the shares add up to
    100 (they added up to 133.33 when divided by the range's own cost)."""
    tenant = await make_tenant()
    sent = [
        custom("2026-11-01T09:00:00Z", "u1", conversationId="c1", cost=1.0),  # before the range, same day
        custom("2026-11-02T09:00:00Z", "u1", conversationId="c1", cost=2.0),
        custom("2026-11-02T10:00:00Z", "u2", conversationId="c2", cost=1.0),
    ]
    assert (await gql.track(tenant.publishable, sent))["accepted"] == len(sent)
    await run_worker()
    cut = {"from": "2026-11-01T12:00:00Z", "to": "2026-11-03T00:00:00Z"}
    costs = (await gql.data(tenant.secret, SHARES, {"range": cut}))["tenant"]["costs"]
    assert costs["summary"] == {"total": 3.0}
    assert costs["byModel"] == [{"key": "acme-1", "cost": 3.0, "share": 100.0}]
    assert costs["byUser"] == [
        {"key": "u:u1", "cost": 3.0, "share": 75.0},
        {"key": "u:u2", "cost": 1.0, "share": 25.0},
    ]
    assert costs["byConversation"] == [
        {"key": "c1", "cost": 3.0, "share": 75.0},
        {"key": "c2", "cost": 1.0, "share": 25.0},
    ]
