"""The event as an SDK sends it, and the validation that turns it into a row or per-field errors.

The GraphQL input ``TrackEvent`` mirrors :class:`EventIn` field for field; both the generic
GraphQL path and the fast decoder end in :func:`validate_batch`, so they report the same errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
import orjson

from analytics.ingest.catalogue import CATALOGUE, CONTENT, EVENT_TYPES, TOUR

MAX_ID_LENGTH = 200
MAX_URL_LENGTH = 2048
MAX_SELECTOR_LENGTH = 1000
MAX_PROPERTIES_BYTES = 8192
MAX_STEP_INDEX = 999
MAX_CONTEXT_TEXT = {"referrer": 2048, "userAgent": 1000, "locale": 35, "title": 500, "utmSource": 200,
                    "utmMedium": 200, "utmCampaign": 200, "utmTerm": 200, "utmContent": 200}
MAX_SCREEN = 100_000
MAX_TIME_ON_PAGE_MS = 86_400_000  # a page view lasts at most a day
MAX_CLICKS = 100_000


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


class Engagement(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """How a page view went (PageEngagement): scroll depth in percent, times in milliseconds."""

    scroll_depth: float | None = None
    time_on_page_ms: GraphQLInt | None = None
    focused_ms: GraphQLInt | None = None
    clicks: GraphQLInt | None = None


class EventIn(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """One event of a ``track`` batch as received; on the wire the names are camelCase."""

    id: str
    type: str
    timestamp: str
    user_id: str | None = None
    anonymous_id: str | None = None
    session_id: str | None = None
    tour_id: str | None = None
    step_index: GraphQLInt | None = None
    step_id: str | None = None
    content_id: str | None = None
    selector: str | None = None
    url: str | None = None
    properties: Any = None
    context: EventContext | None = None
    engagement: Engagement | None = None


@dataclass(frozen=True)
class FieldError:
    index: int
    field: str
    reason: str


# Column order of a stored row; one tuple per valid event.
ROW_COLUMNS = ("id", "occurred_at", "type", "user_id", "anonymous_id", "session_id", "tour_id",
               "step_index", "step_id", "content_id", "selector", "url", "properties", "context",
               "engagement", "visitor_id", "visitor_prev")

# Who an event's visitor is without cookies: ids under today's and yesterday's salt (api layer).
Identify = Callable[["EventIn"], tuple[str | None, str | None]]


@dataclass(frozen=True)
class ValidEvent:
    index: int
    id: uuid.UUID
    occurred_at: datetime
    row: tuple[Any, ...]


@dataclass(frozen=True)
class ValidatedBatch:
    valid: list[ValidEvent]
    errors: list[FieldError]


def _parse_timestamp(raw: str) -> datetime | str:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return "must be an ISO 8601 date-time such as 2025-05-10T14:22:00Z"
    if parsed.tzinfo is None:
        return "must include a UTC offset (Z or +hh:mm)"
    return parsed.astimezone(UTC)


def _check_text(
    problems: list[tuple[str, str]], name: str, value: str | None, limit: int
) -> None:
    """Length, and what PostgreSQL text cannot hold: NUL characters and lone surrogates."""
    if value is None:
        return
    if len(value) > limit:
        problems.append((name, f"is {len(value)} characters; the limit is {limit}"))
    elif "\x00" in value:
        problems.append((name, "must not contain NUL (\\u0000) characters"))
    elif not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            problems.append((name, "is not valid Unicode (lone surrogate)"))


def _properties_json(value: Any) -> tuple[str | None, str | None]:
    """The properties as JSON text, or why they cannot be stored."""
    if not isinstance(value, dict):
        return None, "must be a JSON object"
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:  # integers over 64 bits, lone surrogates
        return None, f"cannot be stored as JSON: {exc}"
    if b"\\u0000" in encoded:
        return None, "must not contain NUL (\\u0000) characters"
    if len(encoded) > MAX_PROPERTIES_BYTES:
        return None, f"is {len(encoded)} bytes of JSON; the limit is {MAX_PROPERTIES_BYTES}"
    return encoded.decode(), None


def _blank_to_none(value: str | None) -> str | None:
    """An empty id means no id: the rollups and their recomputation must agree on that."""
    return value if value else None


def validate_event(
    event: EventIn, *, now: datetime, oldest: datetime, newest: datetime
) -> tuple[tuple[Any, ...] | None, list[tuple[str, str]]]:
    """Check one event; return the row to store (``ROW_COLUMNS``), or the (field, reason) pairs."""
    problems: list[tuple[str, str]] = []
    try:
        event_id = uuid.UUID(event.id)
    except ValueError:
        problems.append(("id", "must be a UUID such as 3f1c2a8e-0b7d-4f5e-9c1a-2b3c4d5e6f70"))
        event_id = uuid.UUID(int=0)
    kind = CATALOGUE.get(event.type)
    if kind is None:
        problems.append(("type", f"unknown event type {event.type[:60]!r}; expected one of "
                                 + ", ".join(EVENT_TYPES)))
    occurred = _parse_timestamp(event.timestamp)
    if isinstance(occurred, str):
        problems.append(("timestamp", occurred))
    elif occurred < oldest:
        problems.append(("timestamp", f"is older than the tenant's raw retention "
                                      f"({(now - oldest).days} days)"))
    elif occurred > newest:
        problems.append(("timestamp", f"is more than {int((newest - now).total_seconds())} "
                                      "seconds in the future"))
    if not event.user_id and not event.anonymous_id:
        problems.append(("userId", "userId or anonymousId is required"))
    for name, value in (("userId", event.user_id), ("anonymousId", event.anonymous_id),
                        ("sessionId", event.session_id), ("tourId", event.tour_id),
                        ("stepId", event.step_id), ("contentId", event.content_id)):
        _check_text(problems, name, value, MAX_ID_LENGTH)
    _check_text(problems, "url", event.url, MAX_URL_LENGTH)
    _check_text(problems, "selector", event.selector, MAX_SELECTOR_LENGTH)
    if kind is not None:
        if kind.entity_type == TOUR and not event.tour_id:
            problems.append(("tourId", f"is required for {kind.name}"))
        if kind.entity_type == CONTENT and not event.content_id:
            problems.append(("contentId", f"is required for {kind.name}"))
        if kind.entity_type is None and not (event.tour_id or event.content_id):
            problems.append(("tourId", f"tourId or contentId is required for {kind.name}"))
        if kind.requires_step and event.step_index is None:
            problems.append(("stepIndex", f"is required for {kind.name}"))
        if kind.requires_selector and not event.selector:
            problems.append(("selector", f"is required for {kind.name}"))
    if event.step_index is not None and not 0 <= event.step_index <= MAX_STEP_INDEX:
        problems.append(("stepIndex", f"must be between 0 and {MAX_STEP_INDEX}"))
    if kind is not None and kind.requires_url and not event.url:
        problems.append(("url", f"is required for {kind.name}"))
    if kind is not None and kind.requires_engagement and event.engagement is None:
        problems.append(("engagement", f"is required for {kind.name}"))
    context = _context_json(problems, event.context)
    engagement = _engagement_json(problems, event.engagement)
    properties: str | None = None
    if event.properties is not None:
        properties, problem = _properties_json(event.properties)
        if problem:
            problems.append(("properties", problem))
    if problems or isinstance(occurred, str):
        return None, problems
    return (event_id, occurred, event.type, _blank_to_none(event.user_id),
            _blank_to_none(event.anonymous_id), _blank_to_none(event.session_id),
            _blank_to_none(event.tour_id), event.step_index, _blank_to_none(event.step_id),
            _blank_to_none(event.content_id), event.selector, _blank_to_none(event.url),
            properties, context, engagement, None, None), []


def _context_json(problems: list[tuple[str, str]], context: EventContext | None) -> str | None:
    if context is None:
        return None
    values = msgspec.to_builtins(context)  # camelCase keys, unset fields left out
    values = {k: v for k, v in values.items() if v is not None and v != ""}
    before = len(problems)
    for name, limit in MAX_CONTEXT_TEXT.items():
        _check_text(problems, f"context.{name}", values.get(name), limit)
    for name in ("screenWidth", "screenHeight"):
        if name in values and not 0 <= values[name] <= MAX_SCREEN:
            problems.append((f"context.{name}", f"must be between 0 and {MAX_SCREEN}"))
    if len(problems) > before or not values:
        return None
    return orjson.dumps(values).decode()


def _engagement_json(problems: list[tuple[str, str]], engagement: Engagement | None) -> str | None:
    if engagement is None:
        return None
    values = {k: v for k, v in msgspec.to_builtins(engagement).items() if v is not None}
    scroll = values.get("scrollDepth")
    if scroll is not None and not 0 <= scroll <= 100:
        problems.append(("engagement.scrollDepth", "must be between 0 and 100 (percent)"))
    for name, limit in (("timeOnPageMs", MAX_TIME_ON_PAGE_MS), ("focusedMs", MAX_TIME_ON_PAGE_MS),
                        ("clicks", MAX_CLICKS)):
        if name in values and not 0 <= values[name] <= limit:
            problems.append((f"engagement.{name}", f"must be between 0 and {limit}"))
    if not values:
        problems.append(("engagement", "give at least one of scrollDepth, timeOnPageMs, focusedMs, clicks"))
    return orjson.dumps(values).decode() if values else None


def validate_batch(
    events: Sequence[EventIn], *, retention_days: int, max_future_seconds: int,
    now: datetime | None = None, identify: Identify | None = None,
) -> ValidatedBatch:
    now = now or datetime.now(UTC)
    oldest = now - timedelta(days=retention_days)
    newest = now + timedelta(seconds=max_future_seconds)
    valid: list[ValidEvent] = []
    errors: list[FieldError] = []
    for index, event in enumerate(events):
        row, problems = validate_event(event, now=now, oldest=oldest, newest=newest)
        if row is None:
            errors.extend(FieldError(index, field, reason) for field, reason in problems)
        else:
            if identify is not None:
                row = (*row[:-2], *identify(event))
            valid.append(ValidEvent(index, row[0], row[1], row))
    return ValidatedBatch(valid, errors)


EVENTS_DECODER = msgspec.json.Decoder(list[EventIn])
