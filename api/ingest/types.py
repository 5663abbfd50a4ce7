"""``track`` input and result types; the input mirrors analytics.ingest.events.EventIn."""

from __future__ import annotations

import enum

import strawberry
from strawberry.scalars import JSON

from analytics.ingest.catalogue import CATALOGUE, CUSTOM
from analytics.ingest.details import (
    AI_STATUSES,
    CAPSULE_CHOICES,
    MAX_AI_COST,
    MAX_AI_MS,
    MAX_AI_TEXT,
    MAX_CAPSULE_TEXT,
    MAX_CONTEXT_TEXT,
    MAX_TOKENS,
    MAX_TURN,
    AIDetails,
    Capsule,
    Engagement,
    EventContext,
)
from analytics.ingest.events import (
    MAX_NAME_LENGTH,
    MAX_PROPERTIES_BYTES,
    MAX_PROPERTIES_DEPTH,
    MAX_PROPERTIES_KEYS,
    EventIn,
)
from analytics.ingest.service import EventStatus as DomainEventStatus
from analytics.ingest.service import IngestOutcome

_TYPES_DOC = "; ".join(f"{k.name} ({k.metric}: {k.description})" for k in CATALOGUE.values())


@strawberry.input(description="Where the event happened, as the SDK sees it.")
class TrackContext:
    referrer: str | None = None
    user_agent: str | None = strawberry.field(
        default=None, description="The end user's browser agent. From a browser: else the request's "
                                  "User-Agent header. From a server or relay (a library's User-Agent or "
                                  "none, or the header Analytics-Source: server): the only agent used; none "
                                  "files the event under unknown agent.")
    locale: str | None = None
    title: str | None = strawberry.field(default=None, description="Page title.")
    screen_width: int | None = None
    screen_height: int | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    country: str | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2 country code (2 letters, stored upper-cased; XX and "
                                  "T1 mean unknown). Else the trusted proxy's country, if configured.")
    region: str | None = strawberry.field(
        default=None, description=f"ISO 3166-2 subdivision code or name, at most "
                                  f"{MAX_CONTEXT_TEXT['region']} characters.")
    city: str | None = strawberry.field(
        default=None, description=f"At most {MAX_CONTEXT_TEXT['city']} characters.")
    privacy_signal: bool | None = strawberry.field(
        default=None, description="The person's browser sent Do Not Track or Global Privacy Control (set it "
                                  "when you forward events from a server). A tenant that honours these "
                                  "signals drops the event: OPTED_OUT, never stored.")

    ip: str | None = strawberry.field(
        default=None, description="The end user's IP address, when a server or relay sends the event: it "
                                  "identifies cookieless visitors (hashed) and is stored only for tenants "
                                  "that keep addresses. Ignored from browsers.")

    def to_context(self) -> EventContext:
        return EventContext(**{f: getattr(self, f) for f in EventContext.__struct_fields__})


@strawberry.input(description="How a page view (PageEngagement) or a capsule visit (ContentEngagement) "
                              "went.")
class TrackEngagement:
    scroll_depth: float | None = strawberry.field(default=None, description="Deepest scroll, 0-100 percent.")
    time_on_page_ms: int | None = strawberry.field(
        default=None, description="Milliseconds on the page or capsule.")
    focused_ms: int | None = strawberry.field(default=None, description="Milliseconds the tab had focus.")
    clicks: int | None = None

    def to_engagement(self) -> Engagement:
        return Engagement(**{f: getattr(self, f) for f in Engagement.__struct_fields__})


def _capsule_doc(name: str, doc: str) -> str:
    rule = (" or ".join(CAPSULE_CHOICES[name]) if name in CAPSULE_CHOICES
            else f"at most {MAX_CAPSULE_TEXT[name]} characters")
    return f"{doc} ({rule})."


@strawberry.input(description="What happened inside a content capsule (the event's contentId).")
class TrackCapsule:
    conversation_id: str | None = strawberry.field(
        default=None, description=_capsule_doc("conversationId", "The conversation; required for "
                                                                  "ConversationMessage"))
    role: str | None = strawberry.field(
        default=None, description=_capsule_doc("role", "Who wrote the message; required for "
                                                       "ConversationMessage"))
    turn: int | None = strawberry.field(
        default=None, description=f"The message's turn in its conversation (1 to {MAX_TURN}).")
    asset_id: str | None = strawberry.field(
        default=None, description=_capsule_doc("assetId", "The document or video; required for "
                                                          "ContentAssetViewed and VideoCompleted"))
    asset_kind: str | None = strawberry.field(
        default=None, description=_capsule_doc("assetKind", "What was opened; required for "
                                                            "ContentAssetViewed"))
    cta_id: str | None = strawberry.field(
        default=None, description=_capsule_doc("ctaId", "The call-to-action of ContentCtaClicked or "
                                                        "ContentConverted"))
    cta_type: str | None = strawberry.field(
        default=None, description=_capsule_doc("ctaType", "Its kind, such as book_demo"))

    def to_capsule(self) -> Capsule:
        return Capsule(**{f: getattr(self, f) for f in Capsule.__struct_fields__})


def _ai_text(name: str, doc: str) -> str:
    return f"{doc} (at most {MAX_AI_TEXT[name]} characters)."


def _tokens(doc: str) -> str:
    return f"{doc}, 0 to {MAX_TOKENS}."


@strawberry.input(description="An AI operation (AIRequest, ToolCall) or a conversation turn's agent "
                              "(ConversationMessage). Names follow the OpenTelemetry GenAI semantic "
                              "conventions (gen_ai.*) where one exists.")
class TrackAI:
    provider: str | None = strawberry.field(default=None, description=_ai_text(
        "provider", "gen_ai.provider.name, such as anthropic or openai; required for AIRequest"))
    model: str | None = strawberry.field(default=None, description=_ai_text(
        "model", "gen_ai.request.model as sent, such as claude-sonnet-4-5-20250929; required for AIRequest"))
    agent: str | None = strawberry.field(default=None, description=_ai_text("agent", "gen_ai.agent.name"))
    tool: str | None = strawberry.field(default=None, description=_ai_text(
        "tool", "gen_ai.tool.name; required for ToolCall"))
    conversation_id: str | None = strawberry.field(default=None, description=_ai_text(
        "conversationId", "gen_ai.conversation.id"))
    input_tokens: int | None = strawberry.field(default=None, description=_tokens(
        "gen_ai.usage.input_tokens: uncached input tokens"))
    output_tokens: int | None = strawberry.field(default=None, description=_tokens(
        "gen_ai.usage.output_tokens: output tokens, reasoning not included"))
    cache_read_tokens: int | None = strawberry.field(default=None, description=_tokens(
        "gen_ai.usage.cache_read.input_tokens"))
    cache_write_tokens: int | None = strawberry.field(default=None, description=_tokens(
        "gen_ai.usage.cache_creation.input_tokens"))
    reasoning_tokens: int | None = strawberry.field(default=None, description=_tokens(
        "Reasoning tokens, billed at the output price unless a reasoning price is set"))
    latency_ms: int | None = strawberry.field(default=None, description=(
        f"gen_ai.client.operation.duration in milliseconds, 0 to {MAX_AI_MS}."))
    time_to_first_token_ms: int | None = strawberry.field(default=None, description=(
        f"gen_ai.server.time_to_first_token in milliseconds, 0 to {MAX_AI_MS}."))
    duration_ms: int | None = strawberry.field(default=None, description=(
        f"A tool call's duration in milliseconds, 0 to {MAX_AI_MS}."))
    status: str | None = strawberry.field(default=None, description=(
        f"{', '.join(AI_STATUSES)}; ok when left out."))
    error_class: str | None = strawberry.field(default=None, description=_ai_text(
        "errorClass", "error.type, such as rate_limit or timeout"))
    cost: float | None = strawberry.field(default=None, description=(
        f"What the request or call cost, when the client knows it (0 to {MAX_AI_COST}); it wins over "
        "the price table."))
    currency: str | None = strawberry.field(default=None, description="Of cost: USD (the default).")

    def to_ai(self) -> AIDetails:
        return AIDetails(**{f: getattr(self, f) for f in AIDetails.__struct_fields__})


@strawberry.input(description="One event. Retrying with the same id and timestamp counts once.")
class TrackEvent:
    id: str = strawberry.field(description="Client-generated UUID of the event.")
    type: str = strawberry.field(description=f"The event type, one of: {_TYPES_DOC}.")
    timestamp: str = strawberry.field(
        description="When it happened: ISO 8601 with a UTC offset, e.g. 2025-05-10T14:22:00Z.")
    user_id: str | None = strawberry.field(
        default=None, description="Your user id; userId or anonymousId is required, except on page "
                                  "events (PageViewed, PageEngagement: cookieless visitors). With "
                                  "anonymousId it names the visitor: events with the same userId and "
                                  "anonymousId are one visitor, whoever sent them.")
    anonymous_id: str | None = strawberry.field(
        default=None, description="A device or browser id; two different anonymousIds are never one "
                                  "visitor.")
    session_id: str | None = None
    tour_id: str | None = strawberry.field(default=None, description="Required for tour events.")
    step_index: int | None = strawberry.field(
        default=None, description="Position of the step, 0 for the first; required for step events.")
    step_id: str | None = None
    content_id: str | None = strawberry.field(
        default=None, description="Required for content events.")
    selector: str | None = strawberry.field(
        default=None, description="CSS selector; required for target_not_found.")
    url: str | None = strawberry.field(default=None, description="Page the event happened on.")
    name: str | None = strawberry.field(
        default=None, description=f"The product event's own name, required for type {CUSTOM} and only "
                                  f"for it: letters, digits, spaces and _ . : - /, at most {MAX_NAME_LENGTH} "
                                  "characters, not a name of the catalogue above.")
    properties: JSON | None = strawberry.field(
        default=None, description=f"Custom properties: a JSON object of at most {MAX_PROPERTIES_BYTES} "
                                  f"bytes, {MAX_PROPERTIES_KEYS} keys (at every level) and "
                                  f"{MAX_PROPERTIES_DEPTH} levels of nesting.")
    context: TrackContext | None = None
    engagement: TrackEngagement | None = strawberry.field(
        default=None, description="Required for PageEngagement and ContentEngagement (timeOnPageMs).")
    capsule: TrackCapsule | None = strawberry.field(
        default=None, description="Conversation, asset or call-to-action details of content events.")
    ai: TrackAI | None = strawberry.field(
        default=None, description="AIRequest and ToolCall details; a ConversationMessage's agent.")

    def to_event(self) -> EventIn:
        return EventIn(
            id=self.id, type=self.type, timestamp=self.timestamp, user_id=self.user_id,
            anonymous_id=self.anonymous_id, session_id=self.session_id, tour_id=self.tour_id,
            step_index=self.step_index, step_id=self.step_id, content_id=self.content_id,
            selector=self.selector, url=self.url, properties=self.properties, name=self.name,
            context=self.context.to_context() if self.context else None,
            engagement=self.engagement.to_engagement() if self.engagement else None,
            capsule=self.capsule.to_capsule() if self.capsule else None,
            ai=self.ai.to_ai() if self.ai else None,
        )


@strawberry.enum(description="What happened to one event of a batch.")
class EventStatus(enum.Enum):
    ACCEPTED = DomainEventStatus.ACCEPTED.value
    DUPLICATE = DomainEventStatus.DUPLICATE.value
    REJECTED = DomainEventStatus.REJECTED.value
    OPTED_OUT = strawberry.enum_value(DomainEventStatus.OPTED_OUT.value, description=(
        "Sent with Do Not Track or Global Privacy Control to a tenant that honours them: not stored."))


@strawberry.type
class EventResult:
    index: int = strawberry.field(description="Position of the event in the batch, from 0.")
    id: str
    status: EventStatus


@strawberry.type(description="Why an event was rejected: one row per failing field.")
class EventRejection:
    index: int
    field: str
    reason: str


@strawberry.type
class TrackResult:
    accepted: int
    duplicates: int
    rejected: int
    opted_out: int = strawberry.field(description=(
        "Events dropped unread because the person opted out (Do Not Track / Global Privacy Control) "
        "and the tenant honours it (setPrivacySignals)."))
    outcome: strawberry.Private[IngestOutcome]

    @strawberry.field(description="One entry per event, in batch order.")
    def results(self) -> list[EventResult]:
        # Built only when selected: a 500-event batch need not pay for 500 objects it never reads.
        return [EventResult(index=o.index, id=o.id, status=EventStatus(o.status.value))
                for o in self.outcome.outcomes]

    @strawberry.field(description="Why events were rejected, one row per failing field.")
    def rejections(self) -> list[EventRejection]:
        return [EventRejection(index=e.index, field=e.field, reason=e.reason)
                for e in self.outcome.errors]
