"""The objects an event may carry beside its ids (context, engagement, capsule): their wire
structs and the per-field checks that turn each into the JSON stored with the event.

Each ``*_values`` function appends ``(field, reason)`` problems and returns the object's values
under their wire (camelCase) names, blanks left out, or None when the event did not send it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec

from analytics.text import unstorable

MAX_CONTEXT_TEXT = {"referrer": 2048, "userAgent": 1000, "locale": 35, "title": 500, "utmSource": 200,
                    "utmMedium": 200, "utmCampaign": 200, "utmTerm": 200, "utmContent": 200,
                    "region": 100, "city": 100}
MAX_SCREEN = 100_000
MAX_TIME_ON_PAGE_MS = 86_400_000  # a page view lasts at most a day
MAX_CLICKS = 100_000
GEO_FIELDS = ("country", "region", "city")
UNKNOWN_COUNTRIES = frozenset({"XX", "T1"})  # proxies' "unknown" and "Tor": no country at all
MAX_CAPSULE_TEXT = {"conversationId": 200, "assetId": 200, "ctaId": 200, "ctaType": 100}
CAPSULE_CHOICES = {"role": ("user", "assistant"), "assetKind": ("document", "video")}
MAX_TURN = 100_000

# GraphQL's Int is 32-bit; a value outside it must fail decoding exactly as it fails GraphQL.
GraphQLInt = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31 - 1)]


class EventContext(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Where an event happened, as the SDK sees it (all optional)."""

    referrer: str | None = None
    user_agent: str | None = None  # else the request's User-Agent header is used for the visitor id
    locale: str | None = None
    title: str | None = None
    screen_width: GraphQLInt | None = None
    screen_height: GraphQLInt | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2, stored upper-cased
    region: str | None = None  # ISO 3166-2 subdivision code or name
    city: str | None = None
    # The person's browser asked not to be tracked (Do Not Track or Global Privacy Control): set by
    # the SDK or by a relay forwarding events; tenants that honour it drop the event (OPTED_OUT).
    privacy_signal: bool | None = None
    # The end user's address, sent by a server or relay (analytics.ingest.origin): it enters the
    # cookieless visitor hash and, for tenants with store_ip, ip_address; never the stored context.
    ip: str | None = None


class Engagement(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """How a page view or a capsule visit went: scroll depth in percent, times in milliseconds."""

    scroll_depth: float | None = None
    time_on_page_ms: GraphQLInt | None = None
    focused_ms: GraphQLInt | None = None
    clicks: GraphQLInt | None = None


class Capsule(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """What happened inside a content capsule: a conversation message, an asset, a call-to-action."""

    conversation_id: str | None = None
    role: str | None = None  # user | assistant
    turn: GraphQLInt | None = None  # from 1
    asset_id: str | None = None
    asset_kind: str | None = None  # document | video
    cta_id: str | None = None
    cta_type: str | None = None


def valid_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True


def check_text(problems: list[tuple[str, str]], name: str, value: str | None, limit: int) -> None:
    """Length, and what PostgreSQL text cannot hold: NUL characters and lone surrogates."""
    if value is None:
        return
    if len(value) > limit:
        problems.append((name, f"is {len(value)} characters; the limit is {limit}"))
    elif (why := unstorable(value)) is not None:
        problems.append((name, why))


def country_code(value: str) -> str | None:
    """The ISO 3166-1 alpha-2 code upper-cased, or None when ``value`` is not two letters."""
    code = value.strip().upper()
    return code if len(code) == 2 and code.isascii() and code.isalpha() else None


def _given(struct: msgspec.Struct) -> dict[str, Any]:
    """The struct's values under their wire names; unset and empty fields left out."""
    return {k: v for k, v in msgspec.to_builtins(struct).items() if v is not None and v != ""}


def context_values(problems: list[tuple[str, str]], context: EventContext | None,
                   geo: Mapping[str, str]) -> dict[str, Any]:
    """``geo`` (a trusted proxy's location, already checked) fills the place the event left out,
    unless the event names another country."""
    if context is None:
        return dict(geo)
    values = _given(context)
    values.pop("privacySignal", None)  # decides whether the event is kept; not a fact about it
    if values.get("ip") is not None and not valid_ip(values["ip"]):
        problems.append(("context.ip", "must be an IPv4 or IPv6 address such as 203.0.113.9"))
    values.pop("ip", None)  # an address is never stored in the context (origin.py decides its use)
    for name, limit in MAX_CONTEXT_TEXT.items():
        check_text(problems, f"context.{name}", values.get(name), limit)
    for name in ("screenWidth", "screenHeight"):
        if name in values and not 0 <= values[name] <= MAX_SCREEN:
            problems.append((f"context.{name}", f"must be between 0 and {MAX_SCREEN}"))
    if "country" in values:
        if values["country"].strip().upper() in UNKNOWN_COUNTRIES:
            del values["country"]
        elif (code := country_code(values["country"])) is None:
            problems.append(("context.country", "must be an ISO 3166-1 alpha-2 code: exactly 2 letters, "
                                                "such as DE"))
        else:
            values["country"] = code
    if geo and values.get("country", geo.get("country")) == geo.get("country"):
        values.update({k: v for k, v in geo.items() if k not in values})
    return values


def engagement_values(problems: list[tuple[str, str]],
                      engagement: Engagement | None) -> dict[str, Any] | None:
    if engagement is None:
        return None
    values = _given(engagement)
    scroll = values.get("scrollDepth")
    if scroll is not None and not 0 <= scroll <= 100:
        problems.append(("engagement.scrollDepth", "must be between 0 and 100 (percent)"))
    for name, limit in (("timeOnPageMs", MAX_TIME_ON_PAGE_MS), ("focusedMs", MAX_TIME_ON_PAGE_MS),
                        ("clicks", MAX_CLICKS)):
        if name in values and not 0 <= values[name] <= limit:
            problems.append((f"engagement.{name}", f"must be between 0 and {limit}"))
    if not values:
        problems.append(("engagement", "give at least one of scrollDepth, timeOnPageMs, focusedMs, clicks"))
    return values


def capsule_values(problems: list[tuple[str, str]], capsule: Capsule | None) -> dict[str, Any] | None:
    if capsule is None:
        return None
    values = _given(capsule)
    for name, limit in MAX_CAPSULE_TEXT.items():
        check_text(problems, f"capsule.{name}", values.get(name), limit)
    for name, choices in CAPSULE_CHOICES.items():
        if name in values and values[name] not in choices:
            problems.append((f"capsule.{name}", f"must be {' or '.join(choices)}"))
    if "turn" in values and not 1 <= values["turn"] <= MAX_TURN:
        problems.append(("capsule.turn", f"must be between 1 and {MAX_TURN}"))
    return values


# AI operations (AIRequest, ToolCall, and the agent of a ConversationMessage). Wire names follow the
# OpenTelemetry GenAI semantic conventions where one exists (README: "Costs and AI operations").
MAX_AI_TEXT = {"provider": 100, "model": 200, "agent": 200, "tool": 200, "conversationId": 200,
               "errorClass": 200}
MAX_TOKENS = 1_000_000_000
MAX_AI_MS = 3_600_000  # latency, time to first token and tool durations: at most an hour
MAX_AI_COST = 1_000_000  # one request or call at most a million (a guard against unit mistakes)
AI_STATUSES = ("ok", "error", "cancelled")
AI_CURRENCIES = ("USD",)  # prices are in US dollars; a client cost in another currency is refused
TOKEN_FIELDS = ("inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens", "reasoningTokens")
MS_FIELDS = ("latencyMs", "timeToFirstTokenMs", "durationMs")


class AIDetails(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """An AI request, a tool call or a conversation turn's agent (OTel GenAI names in comments)."""

    provider: str | None = None  # gen_ai.provider.name
    model: str | None = None  # gen_ai.request.model, as sent
    agent: str | None = None  # gen_ai.agent.name
    tool: str | None = None  # gen_ai.tool.name
    conversation_id: str | None = None  # gen_ai.conversation.id
    input_tokens: GraphQLInt | None = None  # gen_ai.usage.input_tokens (uncached)
    output_tokens: GraphQLInt | None = None  # gen_ai.usage.output_tokens
    cache_read_tokens: GraphQLInt | None = None  # gen_ai.usage.cache_read.input_tokens
    cache_write_tokens: GraphQLInt | None = None  # gen_ai.usage.cache_creation.input_tokens
    reasoning_tokens: GraphQLInt | None = None  # no OTel attribute yet; not included in outputTokens
    latency_ms: GraphQLInt | None = None  # gen_ai.client.operation.duration, in ms
    time_to_first_token_ms: GraphQLInt | None = None  # gen_ai.server.time_to_first_token, in ms
    duration_ms: GraphQLInt | None = None  # a tool call's duration
    status: str | None = None  # ok | error | cancelled (ok when left out)
    error_class: str | None = None  # error.type
    cost: float | None = None  # what the client knows the request or call cost
    currency: str | None = None  # of cost; USD when left out


def ai_values(problems: list[tuple[str, str]], ai: AIDetails | None) -> dict[str, Any] | None:
    if ai is None:
        return None
    values = _given(ai)
    for name, limit in MAX_AI_TEXT.items():
        check_text(problems, f"ai.{name}", values.get(name), limit)
    for name in TOKEN_FIELDS:
        if name in values and not 0 <= values[name] <= MAX_TOKENS:
            problems.append((f"ai.{name}", f"must be between 0 and {MAX_TOKENS}"))
    for name in MS_FIELDS:
        if name in values and not 0 <= values[name] <= MAX_AI_MS:
            problems.append((f"ai.{name}", f"must be between 0 and {MAX_AI_MS} (one hour)"))
    if "status" in values and values["status"] not in AI_STATUSES:
        problems.append(("ai.status", f"must be {', '.join(AI_STATUSES[:-1])} or {AI_STATUSES[-1]}"))
    if "cost" in values and not 0 <= values["cost"] <= MAX_AI_COST:
        problems.append(("ai.cost", f"must be between 0 and {MAX_AI_COST}"))
    if "currency" in values:
        if "cost" not in values:
            problems.append(("ai.currency", "is only for a cost"))
        elif values["currency"] not in AI_CURRENCIES:
            problems.append(("ai.currency", "must be USD (prices and costs are in US dollars)"))
    return values
