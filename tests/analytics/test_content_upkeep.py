"""Content facts per session: the pure derivation on events written as data, and the rows the rollup
keeps equal to a derivation from all raw events after late events re-split sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.content.derive import ContentSession, Conversation, SessionItem, content_facts
from analytics.db import tenant_transaction
from analytics.rollups.aggregate import RAW_EVENT_COLUMNS, RawEvent
from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient, event

SESSION = uuid.UUID("00000000-0000-4000-8000-000000000001")
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"2025-05-10T{clock}+00:00")


def raw(kind: str, clock: str, content: str | None = "cap", *, capsule: dict[str, Any] | None = None,
        engagement: dict[str, Any] | None = None) -> RawEvent:
    return RawEvent(kind, at(clock), "u", None, None, None, None, content, None, None, id=uuid.uuid4(),
                    capsule=capsule, engagement=engagement)


def message(clock: str, conversation: str, role: str, content: str = "cap") -> RawEvent:
    return raw("ConversationMessage", clock, content, capsule={"conversationId": conversation, "role": role})


def test_content_facts_of_one_session() -> None:
    events = [
        raw("ContentEngagement", "10:09:00", engagement={"timeOnPageMs": 90_000, "scrollDepth": 40}),
        raw("ContentViewed", "10:00:00"),
        raw("ContentViewed", "10:05:00"),
        message("10:00:30", "c1", "assistant"),
        message("10:01:00", "c1", "user"),
        message("10:02:00", "c1", "user"),
        message("10:03:00", "c2", "user"),
        raw("ContentAssetViewed", "10:04:00", capsule={"assetId": "guide", "assetKind": "document"}),
        raw("ContentAssetViewed", "10:04:10", capsule={"assetId": "guide", "assetKind": "document"}),
        raw("ContentAssetViewed", "10:04:20", capsule={"assetId": "intro", "assetKind": "video"}),
        raw("VideoCompleted", "10:06:00", capsule={"assetId": "intro"}),
        raw("ContentCtaClicked", "10:02:30", capsule={"ctaId": "demo", "ctaType": "button"}),
        raw("ContentConverted", "10:02:40", capsule={"ctaId": "demo", "ctaType": "button"}),
        raw("ContentConverted", "10:07:00"),
        raw("ContentEngagement", "10:09:30", engagement={"timeOnPageMs": 30_000}),
        raw("ContentViewed", "11:00:00", "other"),
        raw("target_not_found", "11:00:01", "third"),  # an SDK failure is no visit
        raw("PageViewed", "11:00:02", None),
    ]
    facts = content_facts(SESSION, events)
    assert facts.sessions == [
        ContentSession(SESSION, "cap", at("10:00:00"), at("10:00:00"), 120_000, at("10:02:40")),
        ContentSession(SESSION, "other", at("11:00:00"), at("11:00:00"), 0, None),
    ]
    # c1 began before the 10:02:40 conversion: converted; c2 began after it, and before 10:07: converted.
    assert facts.conversations == [
        Conversation(SESSION, "cap", "c1", at("10:00:30"), at("10:02:00"), 3, 2, True),
        Conversation(SESSION, "cap", "c2", at("10:03:00"), at("10:03:00"), 1, 1, True),
    ]
    assert facts.items == [
        SessionItem(SESSION, "cap", "conversion", "", "", 1),
        SessionItem(SESSION, "cap", "conversion", "demo", "button", 1),
        SessionItem(SESSION, "cap", "cta_click", "demo", "button", 1),
        SessionItem(SESSION, "cap", "document_view", "guide", "", 2),
        SessionItem(SESSION, "cap", "video_completion", "intro", "", 1),
        SessionItem(SESSION, "cap", "video_view", "intro", "", 1),
    ]


def test_a_conversation_after_the_last_conversion_did_not_convert() -> None:
    facts = content_facts(SESSION, [raw("ContentConverted", "10:00:00"), message("10:00:01", "c", "user"),
                                    message("10:00:02", "c", "assistant")])
    assert facts.conversations == [Conversation(SESSION, "cap", "c", at("10:00:01"), at("10:00:02"), 2, 1,
                                                False)]
    assert facts.sessions == [ContentSession(SESSION, "cap", at("10:00:00"), None, 0, at("10:00:00"))]


def test_a_session_without_content_events_has_no_facts() -> None:
    facts = content_facts(SESSION, [raw("PageViewed", "10:00:00", None), raw("TourStarted", "10:00:01", None)])
    assert (facts.sessions, facts.conversations, facts.items) == ([], [], [])


_TABLES = {
    "content_sessions": "session_id, content_id, started_at, first_view_at, engaged_ms, first_conversion_at",
    "content_conversations": "session_id, content_id, conversation_id, started_at, last_at, messages, turns, "
                             "converted",
    "content_session_items": "session_id, content_id, kind, key, detail, count",
}


async def stored_facts(engine: AsyncEngine, tenant_id: int) -> dict[str, set[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        return {table: {tuple(r) for r in await conn.execute(text(
            f"SELECT {columns} FROM {table} WHERE tenant_id = :t"), {"t": tenant_id})}
            for table, columns in _TABLES.items()}


async def derived_from_raw_events(engine: AsyncEngine, tenant_id: int) -> dict[str, set[tuple[Any, ...]]]:
    """Content facts of every stored session, derived again from all of the tenant's raw events."""
    async with engine.connect() as conn:
        events = [RawEvent(*row) for row in await conn.execute(text(
            f"SELECT {RAW_EVENT_COLUMNS} FROM events WHERE tenant_id = :t"), {"t": tenant_id})]
    by_session: dict[uuid.UUID, list[RawEvent]] = {}
    for e in events:
        assert e.session_key is not None
        by_session.setdefault(e.session_key, []).append(e)
    result: dict[str, set[tuple[Any, ...]]] = {table: set() for table in _TABLES}
    for session_id, session_events in by_session.items():
        facts = content_facts(session_id, session_events)
        result["content_sessions"] |= {tuple(vars(f).values()) for f in facts.sessions}
        result["content_conversations"] |= {tuple(vars(f).values()) for f in facts.conversations}
        result["content_session_items"] |= {tuple(vars(f).values()) for f in facts.items}
    return result


def capsule_event(kind: str, clock: str, **fields: Any) -> dict[str, Any]:
    return event(kind, f"2025-05-10T{clock}Z", "u1", contentId="cap", context={"userAgent": CHROME}, **fields)


async def test_late_events_merge_sessions_and_the_facts_follow(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine,
        app_engine: AsyncEngine) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    first = [capsule_event("ContentViewed", "10:00:00"),
             capsule_event("ConversationMessage", "10:01:00", capsule={"conversationId": "c", "role": "user"}),
             capsule_event("ContentViewed", "10:50:00"),
             capsule_event("ConversationMessage", "10:51:00", capsule={"conversationId": "c", "role": "user"}),
             capsule_event("ContentConverted", "10:52:00", capsule={"ctaId": "demo"})]
    assert (await gql.track(tenant.publishable, first))["accepted"] == 5
    await run_worker()
    stored = await stored_facts(owner_engine, tenant.id)
    assert len(stored["content_sessions"]) == 2  # 49 minutes apart: two sessions
    assert sorted((r[5], r[6], r[7]) for r in stored["content_conversations"]) == [(1, 1, False), (1, 1, True)]
    assert stored == await derived_from_raw_events(owner_engine, tenant.id)

    # 10:25 joins them into one session: one conversation with two turns that converted.
    late = [capsule_event("ContentEngagement", "10:25:00", engagement={"timeOnPageMs": 45_000})]
    assert (await gql.track(tenant.publishable, late))["accepted"] == 1
    await run_worker()
    stored = await stored_facts(owner_engine, tenant.id)
    (session,) = stored["content_sessions"]
    assert session[2:] == (datetime(2025, 5, 10, 10, tzinfo=UTC), datetime(2025, 5, 10, 10, tzinfo=UTC), 45_000,
                           datetime(2025, 5, 10, 10, 52, tzinfo=UTC))
    assert [r[2:] for r in stored["content_conversations"]] == [
        ("c", datetime(2025, 5, 10, 10, 1, tzinfo=UTC), datetime(2025, 5, 10, 10, 51, tzinfo=UTC), 2, 2, True)]
    assert [r[2:] for r in stored["content_session_items"]] == [("conversion", "demo", "", 1)]
    assert stored == await derived_from_raw_events(owner_engine, tenant.id)
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
    # Row-level security: another tenant's transaction sees none of these rows.
    async with tenant_transaction(app_engine, other.id) as conn:
        for table in _TABLES:
            assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 0, table
