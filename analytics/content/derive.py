"""Content facts of one session, derived from its events (pure): per content item the session's
first view, time on capsule and first conversion, its conversations, and its clicks, conversions
and asset views keyed by call-to-action or asset."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from analytics.ingest.catalogue import CATALOGUE, CONTENT
from analytics.rollups.aggregate import RawEvent

VIEWED = "ContentViewed"
CONVERTED = "ContentConverted"
CTA_CLICKED = "ContentCtaClicked"
MESSAGE = "ConversationMessage"
ASSET_VIEWED = "ContentAssetViewed"
VIDEO_COMPLETED = "VideoCompleted"
ENGAGEMENT = "ContentEngagement"

# content_session_items.kind
CTA_CLICK = "cta_click"
CONVERSION = "conversion"
DOCUMENT_VIEW = "document_view"
VIDEO_VIEW = "video_view"
VIDEO_COMPLETION = "video_completion"


@dataclass(frozen=True)
class ContentSession:
    """One content item within one session (a row of ``content_sessions``)."""

    session_id: UUID
    content_id: str
    started_at: datetime  # the session's first event of this content
    first_view_at: datetime | None
    engaged_ms: int  # sum of ContentEngagement timeOnPageMs
    first_conversion_at: datetime | None


@dataclass(frozen=True)
class Conversation:
    """One conversation of a capsule within one session (a row of ``content_conversations``)."""

    session_id: UUID
    content_id: str
    conversation_id: str
    started_at: datetime
    last_at: datetime
    messages: int
    turns: int  # messages with role user
    converted: bool  # the session converted on this content at or after the first message


@dataclass(frozen=True)
class SessionItem:
    """Events of one kind for one call-to-action or asset (a row of ``content_session_items``)."""

    session_id: UUID
    content_id: str
    kind: str
    key: str  # ctaId or assetId, '' when the event named none
    detail: str  # ctaType of clicks and conversions, else ''
    count: int


@dataclass
class ContentFacts:
    sessions: list[ContentSession] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    items: list[SessionItem] = field(default_factory=list)


def is_content(event: RawEvent) -> bool:
    kind = CATALOGUE.get(event.type)
    return kind is not None and kind.entity_type == CONTENT and event.content_id is not None


def _item_key(event: RawEvent) -> tuple[str, str, str] | None:
    """(kind, key, detail) of an event that counts per call-to-action or asset."""
    capsule = event.capsule or {}
    if event.type in (CTA_CLICKED, CONVERTED):
        kind = CTA_CLICK if event.type == CTA_CLICKED else CONVERSION
        return kind, str(capsule.get("ctaId") or ""), str(capsule.get("ctaType") or "")
    if event.type == ASSET_VIEWED:
        kind = VIDEO_VIEW if capsule.get("assetKind") == "video" else DOCUMENT_VIEW
        return kind, str(capsule.get("assetId") or ""), ""
    if event.type == VIDEO_COMPLETED:
        return VIDEO_COMPLETION, str(capsule.get("assetId") or ""), ""
    return None


def content_facts(session_id: UUID, events: Sequence[RawEvent]) -> ContentFacts:
    """The content facts of one session's events (any order)."""
    by_content: dict[str, list[RawEvent]] = {}
    for event in sorted((e for e in events if is_content(e)), key=lambda e: (e.occurred_at, str(e.id))):
        assert event.content_id is not None
        by_content.setdefault(event.content_id, []).append(event)
    facts = ContentFacts()
    for content_id, content_events in sorted(by_content.items()):
        views = [e.occurred_at for e in content_events if e.type == VIEWED]
        conversions = [e.occurred_at for e in content_events if e.type == CONVERTED]
        engaged = sum(int((e.engagement or {}).get("timeOnPageMs") or 0)
                      for e in content_events if e.type == ENGAGEMENT)
        facts.sessions.append(ContentSession(session_id, content_id, content_events[0].occurred_at,
                                             views[0] if views else None, engaged,
                                             conversions[0] if conversions else None))
        facts.conversations.extend(_conversations(session_id, content_id, content_events, conversions))
        items = Counter(key for e in content_events if (key := _item_key(e)) is not None)
        facts.items.extend(SessionItem(session_id, content_id, kind, key, detail, count)
                           for (kind, key, detail), count in sorted(items.items()))
    return facts


def _conversations(session_id: UUID, content_id: str, events: Sequence[RawEvent],
                   conversions: Sequence[datetime]) -> list[Conversation]:
    messages: dict[str, list[RawEvent]] = {}
    for event in events:
        conversation = (event.capsule or {}).get("conversationId") if event.type == MESSAGE else None
        if conversation:
            messages.setdefault(str(conversation), []).append(event)
    result = []
    for conversation_id, said in sorted(messages.items()):
        started = said[0].occurred_at
        result.append(Conversation(
            session_id, content_id, conversation_id, started, said[-1].occurred_at, len(said),
            sum(1 for e in said if (e.capsule or {}).get("role") == "user"),
            any(at >= started for at in conversions)))
    return result
