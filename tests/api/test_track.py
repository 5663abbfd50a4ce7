"""``track`` over HTTP: idempotency, partial batches, limits, keys, and the two decode paths agreeing."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.settings import Settings
from tests.conftest import BROWSER_AGENT, TRACK, GraphQLClient, Servers, TenantKeys, _serve, event

STATS = """{ tenant { tour(id: "t1") {
    stats(range: {from: "2025-05-01", to: "2025-05-10"}) { starts completions } } } }"""


async def stored_events(engine: AsyncEngine, tenant_id: int) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM events WHERE tenant_id = :t"),
                                       {"t": tenant_id})).scalar_one())


async def test_a_retried_batch_counts_once(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                           owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    batch = [event("TourStarted", f"2025-05-0{d}T10:00:00Z", f"u{d}", tourId="t1") for d in range(1, 4)]
    batch.append(event("TourCompleted", "2025-05-03T10:05:00Z", "u3", tourId="t1"))
    first = await gql.track(tenant.publishable, batch)
    assert (first["accepted"], first["duplicates"], first["rejected"]) == (4, 0, 0)
    second = await gql.track(tenant.publishable, batch)
    assert (second["accepted"], second["duplicates"], second["rejected"]) == (0, 4, 0)
    assert [r["status"] for r in second["results"]] == ["DUPLICATE"] * 4
    # The same event twice inside one batch: the second copy is the duplicate.
    again = event("TourStarted", "2025-05-04T10:00:00Z", "u4", tourId="t1")
    third = await gql.track(tenant.publishable, [again, dict(again)])
    assert [r["status"] for r in third["results"]] == ["ACCEPTED", "DUPLICATE"]
    await run_worker()
    data = await gql.data(tenant.secret, STATS)
    assert data["tenant"]["tour"]["stats"] == {"starts": 4, "completions": 1}
    assert await stored_events(owner_engine, tenant.id) == 5


async def test_partial_batch_stores_exactly_the_valid_events(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    batch = [
        event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1"),                 # 0 ok
        {**event("TourStarted", "2025-05-01T10:00:00Z", "u2", tourId="t1"), "id": "not-a-uuid"},  # 1
        event("TourStarted", "yesterday", "u3", tourId="t1"),                              # 2
        event("TourStarted", "2025-05-01T10:00:00", "u4", tourId="t1"),                    # 3 no offset
        event("TourFinished", "2025-05-01T10:00:00Z", "u5", tourId="t1"),                  # 4
        event("TourStarted", "2025-05-01T10:00:00Z", "u6"),                                # 5 no tour
        event("StepViewed", "2025-05-01T10:00:00Z", "u7", tourId="t1"),                    # 6 no step
        event("target_not_found", "2025-05-01T10:00:00Z", "u8", tourId="t1"),              # 7 no selector
        event("TourStarted", "2025-05-01T10:00:00Z", None, tourId="t1"),                   # 8 nobody
        event("TourCompleted", "2025-05-01T10:01:00Z", "u1", tourId="t1"),                 # 9 ok
        event("StepViewed", "2025-05-01T10:00:30Z", "u1", tourId="t1", stepIndex=1000),    # 10
        event("TourStarted", "2025-05-01T10:00:00Z", "u" * 201, tourId="t1"),              # 11
        event("TourStarted", "2025-05-01T10:00:00Z", "u12", tourId="t1", properties=[1]),  # 12
    ]
    result = await gql.track(tenant.publishable, batch)
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (2, 0, 11)
    assert [r["status"] for r in result["results"]] == (
        ["ACCEPTED"] + ["REJECTED"] * 8 + ["ACCEPTED"] + ["REJECTED"] * 3)
    assert [r["id"] for r in result["results"]] == [e["id"] for e in batch]
    fields = [(r["index"], r["field"]) for r in result["rejections"]]
    assert fields == [(1, "id"), (2, "timestamp"), (3, "timestamp"), (4, "type"), (5, "tourId"),
                      (6, "stepIndex"), (7, "selector"), (8, "userId"), (10, "stepIndex"),
                      (11, "userId"), (12, "properties")]
    reasons = {r["index"]: r["reason"] for r in result["rejections"]}
    assert reasons[3] == "must include a UTC offset (Z or +hh:mm)"
    assert reasons[4].startswith("unknown event type 'TourFinished'; expected one of TourStarted")
    assert reasons[11] == "is 201 characters; the limit is 200"
    assert await stored_events(owner_engine, tenant.id) == 2
    await run_worker()
    data = await gql.data(tenant.secret, STATS)
    assert data["tenant"]["tour"]["stats"] == {"starts": 1, "completions": 1}


async def test_timestamps_outside_the_window_are_rejected(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant(retention_days=90)
    now = datetime.now(UTC)
    batch = [
        event("TourStarted", (now - timedelta(days=91)).isoformat(), "u1", tourId="t1"),
        event("TourStarted", (now + timedelta(days=2)).isoformat(), "u1", tourId="t1"),
        event("TourStarted", (now - timedelta(days=89)).isoformat(), "u1", tourId="t1"),
    ]
    result = await gql.track(tenant.publishable, batch)
    assert [r["status"] for r in result["results"]] == ["REJECTED", "REJECTED", "ACCEPTED"]
    assert [r["reason"] for r in result["rejections"]] == [
        "is older than the tenant's raw retention (90 days)",
        "is more than 86400 seconds in the future"]


async def test_over_the_event_limit_nothing_is_written(gql: GraphQLClient, make_tenant: Any,
                                                       owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    batch = [event("TourStarted", "2025-05-01T10:00:00Z", f"u{i}", tourId="t1") for i in range(1001)]
    body = await gql(tenant.publishable, TRACK, {"events": batch})
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BATCH_TOO_LARGE", "limit": 1000}
    assert body["errors"][0]["message"].startswith("events: 1001 events in one request; the limit is 1000")
    empty = await gql(tenant.publishable, TRACK, {"events": []})
    assert empty["errors"][0]["message"] == "events: at least 1 event is required"
    assert empty["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await stored_events(owner_engine, tenant.id) == 0


async def test_over_the_body_limit_nothing_is_written(gql: GraphQLClient, make_tenant: Any,
                                                      owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    padding = {"note": "x" * 7000}
    batch = [event("TourStarted", "2025-05-01T10:00:00Z", f"u{i}", tourId="t1", properties=padding)
             for i in range(160)]
    response = await gql.post(tenant.publishable, TRACK, {"events": batch})
    assert response.status_code == 413
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "the limit is 1048576 bytes" in error["message"]
    assert await stored_events(owner_engine, tenant.id) == 0


async def test_keys_kinds_and_revocation(gql: GraphQLClient, make_tenant: Any,
                                         owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    one = [event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1")]
    missing = await gql(None, TRACK, {"events": one})
    assert missing["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "Authorization: Bearer" in missing["errors"][0]["message"]
    wrong = await gql("pk_not_a_key", TRACK, {"events": one})
    assert wrong["errors"][0]["message"] == "the API key is unknown or revoked"
    reading = await gql(tenant.publishable, STATS)
    assert reading["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert reading["data"] is None
    # The secret key may ingest too (server-side tracking); X-API-Key works as well as Bearer.
    response = await gql.http.post(f"{gql.url}/graphql", headers={"X-API-Key": tenant.secret},
                                   json={"query": TRACK, "variables": {"events": one}})
    assert response.json()["data"]["track"]["accepted"] == 1
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE api_keys SET revoked_at = now() WHERE tenant_id = :t"),
                           {"t": tenant.id})
    revoked = await gql(tenant.secret, STATS)
    assert revoked["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


AI_REQUEST = {"provider": "anthropic", "model": "claude-sonnet-4-5-20250929"}
AI_BATCHES: list[list[dict[str, Any]]] = [
    [event("AIRequest", "2025-05-01T10:00:00Z", "u1",
           ai={**AI_REQUEST, "agent": "support", "tool": "search", "conversationId": "c1", "inputTokens": 10,
               "outputTokens": 5, "cacheReadTokens": 1, "cacheWriteTokens": 2, "reasoningTokens": 3,
               "latencyMs": 900, "timeToFirstTokenMs": 100, "status": "error", "errorClass": "timeout",
               "cost": 0.25, "currency": "USD"}),
     event("AIRequest", "2025-05-01T10:00:00Z", None, ai=AI_REQUEST),
     event("ToolCall", "2025-05-01T10:00:00Z", "u1", ai={"tool": "search", "durationMs": 40, "cost": 0.01}),
     event("ConversationMessage", "2025-05-01T10:00:00Z", "u1", contentId="c", ai={"agent": "support"},
           capsule={"conversationId": "c1", "role": "assistant", "turn": 2}),
     event("AIRequest", "2025-05-01T10:00:00Z", "u1"),
     event("AIRequest", "2025-05-01T10:00:00Z", "u1", ai={"model": "m" * 201, "inputTokens": 10**9 + 1,
                                                         "outputTokens": -1, "latencyMs": 3_600_001,
                                                         "status": "failed", "cost": -1, "currency": "EUR"}),
     event("ToolCall", "2025-05-01T10:00:00Z", "u1", ai={"agent": "a", "currency": "USD"}),
     event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1", ai={"agent": "a"})],
    [event("AIRequest", "2025-05-01T10:00:00Z", "u1", ai={**AI_REQUEST, "inputTokens": 2**31})],
    [event("AIRequest", "2025-05-01T10:00:00Z", "u1", ai={**AI_REQUEST, "temperature": 0.2})],
    [event("AIRequest", "2025-05-01T10:00:00Z", "u1", ai={**AI_REQUEST, "cost": "cheap"})],
]

BATCHES: list[list[dict[str, Any]]] = [
    # valid and semantically invalid events: per-event results
    [event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1"),
     event("StepViewed", "2025-05-01T10:00:00Z", "u1", tourId="t1", stepIndex=2, stepId="s2",
           url="https://a.example/x", sessionId="s", properties={"plan": "pro", "n": [1, 2]}),
     event("TourStarted", "bad", "u2", tourId="t1"),
     {**event("TourStarted", "2025-05-01T10:00:00Z", "u3"), "id": "x"}],
    # GraphQL type errors: the whole request fails, the same way on both paths
    [event("StepViewed", "2025-05-01T10:00:00Z", "u1", tourId="t1", stepIndex="two")],
    [event("StepViewed", "2025-05-01T10:00:00Z", "u1", tourId="t1", stepIndex=2**40)],
    [{**event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1"), "colour": "red"}],
    [{**event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1"), "id": None}],
    [{"type": "TourStarted", "timestamp": "2025-05-01T10:00:00Z", "userId": "u1", "tourId": "t1"}],
    # page views and engagement: context and engagement, valid and out of range
    [event("PageViewed", "2025-05-01T10:00:00Z", None, anonymousId="a1", url="https://a.example/p",
           context={"referrer": "https://www.google.com/", "userAgent": "Mozilla/5.0", "locale": "de-DE",
                    "screenWidth": 1440, "screenHeight": 900, "utmSource": "news", "utmCampaign": "spring"}),
     event("PageEngagement", "2025-05-01T10:01:00Z", None, anonymousId="a1", url="https://a.example/p",
           engagement={"scrollDepth": 80.5, "timeOnPageMs": 42000, "focusedMs": 40000, "clicks": 3}),
     event("PageEngagement", "2025-05-01T10:01:00Z", None, anonymousId="a1", url="https://a.example/p",
           engagement={"scrollDepth": 120}),
     event("PageEngagement", "2025-05-01T10:01:00Z", None, anonymousId="a1", url="https://a.example/p"),
     event("PageViewed", "2025-05-01T10:00:00Z", None, anonymousId="a1",
           context={"screenWidth": -1, "locale": "x" * 40})],
    [event("PageViewed", "2025-05-01T10:00:00Z", "u1", url="/p", context={"colour": "red"})],
    [event("PageEngagement", "2025-05-01T10:00:00Z", "u1", url="/p", engagement={"scrollDepth": "deep"})],
    # geo in the context: valid, lower-case, unknown (XX, T1) and invalid
    [event("PageViewed", "2025-05-01T10:00:00Z", "u1", url="/p",
           context={"country": "de", "region": "DE-BY", "city": "München"}),
     event("PageViewed", "2025-05-01T10:00:00Z", "u1", url="/p", context={"country": "XX", "city": "Tor"}),
     event("PageViewed", "2025-05-01T10:00:00Z", "u1", url="/p", context={"country": "T1"}),
     event("PageViewed", "2025-05-01T10:00:00Z", "u1", url="/p",
           context={"country": "DEU", "region": "r" * 101, "city": "c" * 101}),
     event("PageViewed", "2025-05-01T10:00:00Z", "u1", url="/p", context={"country": "1A"})],
    [event("PageViewed", "2025-05-01T10:00:00Z", "u1", url="/p", context={"country": 49})],
    # capsule events: valid, missing and invalid details
    [event("ConversationMessage", "2025-05-01T10:00:00Z", "u1", contentId="c1",
           capsule={"conversationId": "conv1", "role": "user", "turn": 1}),
     event("ContentAssetViewed", "2025-05-01T10:00:00Z", "u1", contentId="c1",
           capsule={"assetId": "deck.pdf", "assetKind": "document"}),
     event("VideoCompleted", "2025-05-01T10:00:00Z", "u1", contentId="c1", capsule={"assetId": "v1"}),
     event("ContentConverted", "2025-05-01T10:00:00Z", "u1", contentId="c1",
           capsule={"ctaId": "demo", "ctaType": "book_demo"}),
     event("ContentEngagement", "2025-05-01T10:00:00Z", "u1", contentId="c1",
           engagement={"timeOnPageMs": 5000, "scrollDepth": 40}),
     event("ConversationMessage", "2025-05-01T10:00:00Z", "u1", contentId="c1"),
     event("ConversationMessage", "2025-05-01T10:00:00Z", "u1", contentId="c1",
           capsule={"role": "bot", "turn": 0, "conversationId": "x" * 201}),
     event("ContentAssetViewed", "2025-05-01T10:00:00Z", "u1", contentId="c1",
           capsule={"assetKind": "audio", "ctaType": "t" * 101}),
     event("ContentEngagement", "2025-05-01T10:00:00Z", "u1", capsule={}, engagement={"scrollDepth": 40})],
    [event("ConversationMessage", "2025-05-01T10:00:00Z", "u1", contentId="c1",
           capsule={"conversationId": "c", "role": "user", "turn": "two"})],
    [event("ConversationMessage", "2025-05-01T10:00:00Z", "u1", contentId="c1",
           capsule={"conversationId": "c", "role": "user", "mood": "happy"})],
    [event("ConversationMessage", "2025-05-01T10:00:00Z", "u1", contentId="c1",
           capsule={"conversationId": "c", "role": "user", "turn": 2**31})],
    # the privacy signal: kept out of the stored context (this tenant does not honour it)
    [event("PageViewed", "2025-05-01T10:00:00Z", "u1", url="/p", context={"privacySignal": True}),
     event("PageViewed", "2025-05-01T10:00:00Z", "u2", url="/p", context={"privacySignal": False, "locale": "fr"})],
    [event("PageViewed", "2025-05-01T10:00:00Z", "u1", url="/p", context={"privacySignal": "yes"})],
    # experiment exposures: experiment and variant in the properties, each checked
    [event("ExperimentExposure", "2025-05-01T10:00:00Z", "u1", properties={"experiment": "e1", "variant": "b"}),
     event("ExperimentExposure", "2025-05-01T10:00:00Z", "u1", properties={"experiment": "e1"}),
     event("ExperimentExposure", "2025-05-01T10:00:00Z", "u1"),
     event("ExperimentExposure", "2025-05-01T10:00:00Z", "u1", properties={"experiment": 3, "variant": "v" * 101})],
    # product (Custom) events: a name of its own, properties within their limits
    [event("Custom", "2025-05-01T10:00:00Z", "u1", name="deploy", properties={"env": "prod", "n": 3}),
     event("Custom", "2025-05-01T10:00:00Z", None, anonymousId="a1", name="Run Pipeline: v2/ci-x.y",
           sessionId="s1", properties={"a": {"b": {"c": 1}}}),
     event("Custom", "2025-05-01T10:00:00Z", "u1"),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="n" * 101),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="deploy!"),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="TourStarted"),
     event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1", name="deploy"),
     event("Custom", "2025-05-01T10:00:00Z", None, name="deploy"),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="deep", properties={"a": {"b": {"c": {"d": 1}}}}),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="wide", properties={f"k{i}": i for i in range(51)}),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="list", properties={"a": [[[1]]]})],
    [event("Custom", "2025-05-01T10:00:00Z", "u1", name=7)],
    # AI operations (AIRequest, ToolCall, a ConversationMessage's agent): valid, missing, out of range
    *AI_BATCHES,
]


async def test_fast_and_generic_paths_agree(gql: GraphQLClient, generic_gql: GraphQLClient,
                                            make_tenant: Any, owner_engine: AsyncEngine) -> None:
    for batch in BATCHES:
        fast_tenant, generic_tenant = await make_tenant(), await make_tenant()
        fast = await gql.post(fast_tenant.publishable, TRACK, {"events": batch})
        generic = await generic_gql.post(generic_tenant.publishable, TRACK, {"events": batch})
        assert fast.status_code == generic.status_code
        assert fast.json() == generic.json(), batch
        # ... and store the same rows.
        assert (await stored_details(owner_engine, fast_tenant.id)
                == await stored_details(owner_engine, generic_tenant.id)), batch


# Batches for a tenant with event definitions (``order`` strict, ``signup`` plain) and its event
# allowlist on: the definitions' per-event errors must be the same on both paths too.
DEFINITIONS = [
    {"name": "order", "strict": True, "properties": [
        {"name": "amount", "type": "NUMBER", "required": True}, {"name": "plan", "type": "STRING"},
        {"name": "trial", "type": "BOOLEAN"}]},
    {"name": "signup"},
]
DEFINED_BATCHES: list[list[dict[str, Any]]] = [
    [event("Custom", "2025-05-01T10:00:00Z", "u1", name="order", properties={"amount": 3, "plan": "pro"}),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="order", properties={"amount": "3"}),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="order", properties={"plan": 1, "trial": "no"}),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="order"),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="order", properties={"amount": True, "x": None}),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="signup", properties={"amount": "x"}),
     event("Custom", "2025-05-01T10:00:00Z", "u1", name="deploy"),
     event("Custom", "bad", "u1", name="deploy"),
     event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1")],
    [event("Custom", "2025-05-01T10:00:00Z", "u1", name="order", properties=[1])],
]
DEFINE_EVENT = "mutation($input: EventDefinitionInput!) { defineEvent(input: $input) { name } }"


async def test_fast_and_generic_paths_agree_on_event_definitions(
        gql: GraphQLClient, generic_gql: GraphQLClient, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    for batch in DEFINED_BATCHES:
        fast_tenant, generic_tenant = await make_tenant(), await make_tenant()
        for tenant in (fast_tenant, generic_tenant):
            for definition in DEFINITIONS:
                await gql.data(tenant.secret, DEFINE_EVENT, {"input": definition})
            await gql.data(tenant.secret, "mutation { setEventAllowlist(enabled: true) }")
        fast = await gql.post(fast_tenant.publishable, TRACK, {"events": batch})
        generic = await generic_gql.post(generic_tenant.publishable, TRACK, {"events": batch})
        assert fast.status_code == generic.status_code
        assert fast.json() == generic.json(), batch
        assert (await stored_details(owner_engine, fast_tenant.id)
                == await stored_details(owner_engine, generic_tenant.id)), batch
    first = await gql.post(fast_tenant.publishable, TRACK, {"events": DEFINED_BATCHES[0]})
    result = first.json()["data"]["track"]
    assert [(r["index"], r["field"]) for r in result["rejections"]] == [
        (1, "properties.amount"), (2, "properties.amount"), (2, "properties.plan"), (2, "properties.trial"),
        (3, "properties.amount"), (4, "properties.amount"), (6, "name"), (7, "timestamp"), (7, "name")]


async def stored_details(engine: AsyncEngine, tenant_id: int) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(
            "SELECT id, type, name, content_id, properties, context, engagement, capsule, ai FROM events "
            "WHERE tenant_id = :t "
            "ORDER BY id"), {"t": tenant_id})]


async def test_geo_and_capsule_details_are_checked_per_field(gql: GraphQLClient, make_tenant: Any,
                                                              owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    geo, capsules = BATCHES[9], BATCHES[11]
    result = await gql.track(tenant.publishable, geo)
    assert [r["status"] for r in result["results"]] == ["ACCEPTED"] * 3 + ["REJECTED"] * 2
    assert [(r["index"], r["field"], r["reason"]) for r in result["rejections"]] == [
        (3, "context.region", "is 101 characters; the limit is 100"),
        (3, "context.city", "is 101 characters; the limit is 100"),
        (3, "context.country", "must be an ISO 3166-1 alpha-2 code: exactly 2 letters, such as DE"),
        (4, "context.country", "must be an ISO 3166-1 alpha-2 code: exactly 2 letters, such as DE")]
    result = await gql.track(tenant.publishable, capsules)
    assert [r["status"] for r in result["results"]] == ["ACCEPTED"] * 5 + ["REJECTED"] * 4
    assert [(r["index"], r["field"], r["reason"]) for r in result["rejections"]] == [
        (5, "capsule", "is required for ConversationMessage"),
        (6, "capsule.conversationId", "is 201 characters; the limit is 200"),
        (6, "capsule.role", "must be user or assistant"),
        (6, "capsule.turn", "must be between 1 and 100000"),
        (7, "capsule.ctaType", "is 101 characters; the limit is 100"),
        (7, "capsule.assetKind", "must be document or video"),
        (7, "capsule.assetId", "is required for ContentAssetViewed"),
        (8, "contentId", "is required for ContentEngagement"),
        (8, "engagement.timeOnPageMs", "is required for ContentEngagement")]
    async with owner_engine.connect() as conn:
        rows = [tuple(r) for r in await conn.execute(text(
            "SELECT type, context, capsule, engagement FROM events WHERE tenant_id = :t "
            "ORDER BY type, context::text"), {"t": tenant.id})]
    assert rows == [
        ("ContentAssetViewed", None, {"assetId": "deck.pdf", "assetKind": "document"}, None),
        ("ContentConverted", None, {"ctaId": "demo", "ctaType": "book_demo"}, None),
        ("ContentEngagement", None, None, {"timeOnPageMs": 5000, "scrollDepth": 40}),
        ("ConversationMessage", None, {"conversationId": "conv1", "role": "user", "turn": 1}, None),
        ("PageViewed", {"country": "DE", "region": "DE-BY", "city": "München"}, None, None),
        ("PageViewed", {"city": "Tor"}, None, None),  # XX is no country
        ("PageViewed", None, None, None),  # T1 (Tor) alone leaves no context
        ("VideoCompleted", None, {"assetId": "v1"}, None)]


async def test_fast_path_handles_aliases_and_other_variables(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    query = """mutation Send($batch: [TrackEvent!]!) {
        sent: track(events: $batch) { accepted results { status } } }"""
    body = await gql(tenant.publishable, query,
                     {"batch": [event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1")],
                      "undeclared": "ignored"})
    assert body == {"data": {"sent": {"accepted": 1, "results": [{"status": "ACCEPTED"}]}}}
    unique = str(uuid.uuid4())
    inline = f"""mutation {{ track(events: [{{id: "{unique}", type: "TourStarted",
        timestamp: "2025-05-01T10:00:00Z", userId: "u1", tourId: "t1"}}]) {{ accepted }} }}"""
    assert await gql(tenant.publishable, inline) == {"data": {"track": {"accepted": 1}}}


async def test_values_postgres_cannot_store_are_rejected_per_event(
        gql: GraphQLClient, generic_gql: GraphQLClient, make_tenant: Any, run_worker: Any,
        owner_engine: AsyncEngine) -> None:
    from analytics.rollups.recompute import verify_rollups

    batch = [
        event("TourStarted", "2025-05-01T10:00:00Z", "bad\u0000user", tourId="t1"),
        event("TourStarted", "2025-05-01T10:00:00Z", "u2", tourId="t\ud800"),
        event("TourStarted", "2025-05-01T10:00:00Z", "u3", tourId="t1", properties={"n": 2**70}),
        event("TourStarted", "2025-05-01T10:00:00Z", "u4", tourId="t1", properties={"s": "a\u0000b"}),
        # Empty ids mean "none": counted as the content item, and by the anonymous id.
        event("target_not_found", "2025-05-01T10:00:00Z", None, tourId="", contentId="c1",
              selector="#x", anonymousId="a1"),
        event("TourStarted", "2025-05-01T10:00:00Z", "", tourId="t1", anonymousId="a1"),
    ]
    for client in (gql, generic_gql):
        tenant: TenantKeys = await make_tenant()
        result = await client.track(tenant.publishable, batch)
        assert [r["status"] for r in result["results"]] == ["REJECTED"] * 4 + ["ACCEPTED"] * 2
        assert [(r["index"], r["field"]) for r in result["rejections"]] == [
            (0, "userId"), (1, "tourId"), (2, "properties"), (3, "properties")]
        await run_worker()
        async with owner_engine.connect() as conn:
            assert await verify_rollups(conn, tenant.id) == []
        data = await gql.data(tenant.secret, STATS)
        assert data["tenant"]["tour"]["stats"] == {"starts": 1, "completions": 0}


async def test_page_views_keep_their_context_and_engagement(gql: GraphQLClient, make_tenant: Any,
                                                          owner_engine: AsyncEngine, run_worker: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    result = await gql.track(tenant.publishable, BATCHES[6])
    assert [r["status"] for r in result["results"]] == ["ACCEPTED", "ACCEPTED", "REJECTED", "REJECTED",
                                                        "REJECTED"]
    assert [(r["index"], r["field"]) for r in result["rejections"]] == [
        (2, "engagement.scrollDepth"), (3, "engagement"), (4, "url"), (4, "context.locale"),
        (4, "context.screenWidth")]
    async with owner_engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT type, context, engagement FROM events WHERE tenant_id = :t ORDER BY occurred_at"),
            {"t": tenant.id})).all()
    assert [tuple(r) for r in rows] == [
        ("PageViewed", {"referrer": "https://www.google.com/", "userAgent": "Mozilla/5.0", "locale": "de-DE",
                        "screenWidth": 1440, "screenHeight": 900, "utmSource": "news", "utmCampaign": "spring"},
         None),
        ("PageEngagement", None, {"scrollDepth": 80.5, "timeOnPageMs": 42000, "focusedMs": 40000, "clicks": 3})]
    # Page events feed sessions, not the tour and content counters.
    await run_worker()
    async with owner_engine.connect() as conn:
        counters = (await conn.execute(text("SELECT count(*) FROM counters_daily WHERE tenant_id = :t"),
                                       {"t": tenant.id})).scalar_one()
    assert counters == 0


async def test_visitors_are_cookieless_hashes_and_no_ip_is_stored(gql: GraphQLClient, make_tenant: Any,
                                                                  owner_engine: AsyncEngine) -> None:
    from analytics.ingest.origin import load_salts
    from analytics.traffic.visitor import visitor_candidates

    tenant: TenantKeys = await make_tenant()
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
    # Cookieless (no userId or anonymousId), from the browser itself (a browser's User-Agent header).
    header_agent = "Mozilla/5.0 Firefox/1"
    batch = [event("PageViewed", "2025-05-01T10:00:00Z", None, url="/a", context={"userAgent": chrome}),
             event("PageViewed", "2025-05-01T10:05:00Z", None, url="/b", context={"userAgent": chrome}),
             event("PageViewed", "2025-05-01T10:06:00Z", None, url="/a")]  # header agent
    # The API is behind a trusted proxy (uvicorn trusts 127.0.0.1), so the client is 203.0.113.9.
    response = await gql.post(tenant.publishable, TRACK, {"events": batch},
                              **{"X-Forwarded-For": "203.0.113.9", "User-Agent": header_agent})
    assert response.json()["data"]["track"]["accepted"] == 3
    async with owner_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT visitor_id, visitor_prev, user_agent, ip_address FROM events "
                                        "WHERE tenant_id = :t ORDER BY occurred_at"), {"t": tenant.id})).all()
        dump = (await conn.execute(text("SELECT string_agg(e::text, ' ') FROM events e WHERE tenant_id = :t"),
                                   {"t": tenant.id})).scalar_one()
    salts = await load_salts(owner_engine, datetime.now(UTC).date())  # the API's salts of today
    expected = visitor_candidates(tenant.id, "203.0.113.9", chrome, salts=salts)
    assert rows[0] == rows[1] == (expected.today, expected.yesterday, chrome, None)
    header = visitor_candidates(tenant.id, "203.0.113.9", header_agent, salts=salts)
    assert rows[2] == (header.today, header.yesterday, header_agent, None)
    assert "203.0.113.9" not in dump and "127.0.0.1" not in dump


async def test_ai_details_are_checked_per_field(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    result = await gql.track(tenant.publishable, AI_BATCHES[0])
    assert [r["status"] for r in result["results"]] == ["ACCEPTED"] * 4 + ["REJECTED"] * 4
    assert [(r["index"], r["field"], r["reason"]) for r in result["rejections"]] == [
        (4, "ai", "is required for AIRequest"),
        (5, "ai.model", "is 201 characters; the limit is 200"),
        (5, "ai.inputTokens", "must be between 0 and 1000000000"),
        (5, "ai.outputTokens", "must be between 0 and 1000000000"),
        (5, "ai.latencyMs", "must be between 0 and 3600000 (one hour)"),
        (5, "ai.status", "must be ok, error or cancelled"),
        (5, "ai.cost", "must be between 0 and 1000000"),
        (5, "ai.currency", "must be USD (prices and costs are in US dollars)"),
        (5, "ai.provider", "is required for AIRequest"),
        (6, "ai.currency", "is only for a cost"),
        (6, "ai.tool", "is required for ToolCall"),
        (7, "ai", "is only for AIRequest, ConversationMessage, ToolCall events")]



# Documents the fast path answers without execution (api.ingest.fast_track), and what the generic path
# must answer identically: aliases, __typename, user errors located on the field, a missing key.
TYPENAMES = """mutation T($e: [TrackEvent!]!) { t: track(events: $e) { __typename n: accepted optedOut
    results { __typename i: index status id } rejections { __typename field reason index } duplicates } }"""
ONLY_COUNTS = "mutation ($events: [TrackEvent!]!) { track(events: $events) { rejected accepted } }"


async def test_the_fast_track_answers_whole_responses_as_execution_does(
        gql: GraphQLClient, generic_gql: GraphQLClient, make_tenant: Any, monkeypatch: Any) -> None:
    import api.view

    fast_answers = 0
    answer_track = api.view.answer_track

    async def counting(*args: Any) -> Any:
        nonlocal fast_answers
        fast_answers += 1
        return await answer_track(*args)

    monkeypatch.setattr(api.view, "answer_track", counting)
    good = event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1")
    bad = event("StepViewed", "2025-05-01T10:00:00Z", "u1", tourId="t1")
    cases: list[tuple[str, str, list[dict[str, Any]], str]] = [
        (TYPENAMES, "e", [good, bad, good], "publishable"),
        (ONLY_COUNTS, "events", [good], "secret"),
        (TRACK, "events", [], "publishable"),  # BAD_USER_INPUT on the field
        (TRACK, "events", [good] * 1001, "publishable"),  # BATCH_TOO_LARGE
        (TRACK, "events", [good], "none"),  # UNAUTHENTICATED
        (TRACK, "events", [good], "unknown"),
    ]
    for document, variable, batch, key in cases:
        answers = []
        for client in (gql, generic_gql):
            tenant: TenantKeys = await make_tenant()
            keys = {"publishable": tenant.publishable, "secret": tenant.secret, "none": None,
                    "unknown": "pk_" + "0" * 40}
            response = await client.post(keys[key], document, {variable: batch})
            answers.append((response.status_code, response.json()))
        assert answers[0] == answers[1], (document, key)
    assert fast_answers == len(cases)  # every one of them took the fast path on the fast server
    status, body = answers[0]
    assert status == 200 and body["data"] is None
    assert body["errors"][0]["path"] == ["track"] and body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_documents_the_fast_track_does_not_know_are_executed(
        gql: GraphQLClient, make_tenant: Any, monkeypatch: Any) -> None:
    import api.view

    monkeypatch.setattr(api.view, "answer_track", None)  # would fail if called
    tenant: TenantKeys = await make_tenant()
    fragment = """mutation ($e: [TrackEvent!]!) { track(events: $e) { ...counts } }
        fragment counts on TrackResult { accepted }"""
    twice = "mutation ($e: [TrackEvent!]!) { track(events: $e) { accepted accepted } }"
    skip = "mutation ($e: [TrackEvent!]!, $s: Boolean!) { track(events: $e) { accepted @skip(if: $s) rejected } }"
    for document, extra, expected in ((fragment, {}, {"accepted": 1}), (twice, {}, {"accepted": 1}),
                                      (skip, {"s": True}, {"rejected": 0})):
        batch = [event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1")]
        assert await gql.data(tenant.publishable, document, {"e": batch, **extra}) == {"track": expected}


async def test_track_keeps_keys_but_a_change_stops_the_next_request_exactly(
        gql: GraphQLClient, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    """track uses a kept principal (api.principals.for_ingest) and its write reads the key again, so a
    change made with every announcement off (session_replication_role = replica: no trigger, no
    NOTIFY) still applies to the very next request, whether it has events to write or not."""
    tenant: TenantKeys = await make_tenant()

    async def silently(sql: str) -> None:
        async with owner_engine.begin() as conn:
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
            await conn.execute(text(sql), {"t": tenant.id})

    async def send(*batch: dict[str, Any], **headers: str) -> dict[str, Any]:
        response = await gql.post(tenant.publishable, TRACK, {"events": list(batch)}, **headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    first = await send(event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t1"))
    assert first["data"]["track"]["accepted"] == 1  # the key is kept from here on
    await silently("UPDATE tenants SET honour_privacy_signals = true WHERE id = :t")
    opted = await send(event("TourStarted", "2025-05-01T10:00:00Z", "u2", tourId="t1"), DNT="1")
    assert [r["status"] for r in opted["data"]["track"]["results"]] == ["OPTED_OUT"]  # nothing to write
    second = await send(event("TourStarted", "2025-05-01T10:00:00Z", "u3", tourId="t1"))
    assert second["data"]["track"]["accepted"] == 1
    await silently("UPDATE api_keys SET revoked_at = now() WHERE tenant_id = :t")
    for batch in ([event("TourStarted", "2025-05-01T10:00:00Z", "u4", tourId="t1")],
                  [event("TourStarted", "not a time", "u5", tourId="t1")]):  # with and without a write
        refused = await send(*batch)
        assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await stored_events(owner_engine, tenant.id) == 2


async def test_a_retry_after_a_changed_kept_key_is_charged_once(
        settings: Settings, servers: Servers, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    """track's retry with the key looked up again (its kept copy changed) is the same request: the
    rate limiter is charged for it once. A burst of 150 leaves no lease, so every charge shows in Redis."""
    from api.app import create_app

    limited = replace(settings, limits=replace(settings.limits, ingest_rate=0.001, ingest_burst=150))
    tenant: TenantKeys = await make_tenant()
    async with owner_engine.connect() as conn:
        key_id = (await conn.execute(text("SELECT id FROM api_keys WHERE tenant_id = :t AND kind = 'publishable'"),
                                     {"t": tenant.id})).scalar_one()
    redis = Redis.from_url(servers.redis_url)
    try:
        async for url in _serve(create_app(limited)):
            async with httpx.AsyncClient(timeout=30, headers={"User-Agent": BROWSER_AGENT}) as http:
                client = GraphQLClient(http, url)

                async def send(user: str, client: GraphQLClient = client) -> None:
                    body = await client.track(tenant.publishable,
                                              [event("TourStarted", "2025-05-01T10:00:00Z", user, tourId="t1")])
                    assert body["accepted"] == 1

                async def tokens() -> int:
                    return round(float(await redis.hget(f"analytics:rate:ingest:key:{key_id}", "tokens") or 0))

                await send("u1")  # the key is kept from here on
                assert await tokens() == 149
                async with owner_engine.begin() as conn:  # a change with every announcement off
                    await conn.execute(text("SET LOCAL session_replication_role = replica"))
                    await conn.execute(text("UPDATE tenants SET store_ip = NOT store_ip WHERE id = :t"),
                                       {"t": tenant.id})
                await send("u2")  # the write finds the kept key changed and the request runs again
                assert await tokens() == 148
    finally:
        await redis.aclose()
