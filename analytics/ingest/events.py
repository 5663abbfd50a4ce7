"""The event as an SDK sends it, and the validation that turns it into a row or per-field errors.

The GraphQL input ``TrackEvent`` mirrors :class:`EventIn` field for field; both the generic
GraphQL path and the fast decoder end in :func:`validate_batch`, so they report the same errors.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson

from analytics.custom_events.rules import NO_RULES, EventRules
from analytics.ingest.catalogue import AI_DETAILED, CATALOGUE, CONTENT, CUSTOM, EVENT_TYPES, TOUR
from analytics.ingest.details import (
    AIDetails,
    Capsule,
    Engagement,
    EventContext,
    GraphQLInt,
    ai_values,
    capsule_values,
    check_text,
    context_values,
    engagement_values,
)
from analytics.ingest.origin import ORIGIN_COLUMNS, Origin, without_origin

MAX_ID_LENGTH = 200
MAX_URL_LENGTH = 2048
MAX_SELECTOR_LENGTH = 1000
MAX_PROPERTIES_BYTES = 8192
MAX_PROPERTIES_KEYS = 50  # counted at every level of nesting
MAX_PROPERTIES_DEPTH = 3  # {"a": {"b": {"c": 1}}} is depth 3
MAX_NAME_LENGTH = 100
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:/ -]+")
MAX_STEP_INDEX = 999


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
    capsule: Capsule | None = None
    name: str | None = None  # a Custom event's own name
    ai: AIDetails | None = None  # AIRequest, ToolCall, ConversationMessage (analytics.ai)


@dataclass(frozen=True)
class FieldError:
    index: int
    field: str
    reason: str


# Column order of a stored row: the event's own columns, then what its request adds.
EVENT_COLUMNS = ("id", "occurred_at", "type", "user_id", "anonymous_id", "session_id", "tour_id",
                 "step_index", "step_id", "content_id", "selector", "url", "properties", "context",
                 "engagement", "capsule", "name", "ai")
ROW_COLUMNS = EVENT_COLUMNS + ORIGIN_COLUMNS


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


def _shape_problem(value: Any) -> str | None:
    """Why a properties object is too wide or too deep, or None."""
    keys, level, deepest = 0, [value], 0
    while level:
        deepest += 1
        nested: list[Any] = []
        for item in level:
            children = item.values() if isinstance(item, dict) else item
            keys += len(item) if isinstance(item, dict) else 0
            nested.extend(c for c in children if isinstance(c, (dict, list)))
        if deepest > MAX_PROPERTIES_DEPTH:
            return f"nest objects or arrays {deepest} deep; the limit is {MAX_PROPERTIES_DEPTH}"
        level = nested
    if keys > MAX_PROPERTIES_KEYS:
        return f"have {keys} keys; the limit is {MAX_PROPERTIES_KEYS} (counted at every level)"
    return None


def _properties_json(value: Any) -> tuple[str | None, str | None]:
    """The properties as JSON text, or why they cannot be stored."""
    if not isinstance(value, dict):
        return None, "must be a JSON object"
    if (shape := _shape_problem(value)) is not None:
        return None, shape
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


def _check_name(problems: list[tuple[str, str]], event: EventIn, rules: EventRules) -> None:
    """A Custom event needs its own name, outside the catalogue, and whatever the tenant's
    definitions demand of it (analytics.custom_events.rules); other events take no name."""
    if event.type != CUSTOM:
        if event.name is not None:
            problems.append(("name", f"is only for {CUSTOM} events; {event.type[:60]!r} is named by "
                                     "its type"))
        return
    if not event.name:
        problems.append(("name", f"is required for {CUSTOM} events"))
    elif len(event.name) > MAX_NAME_LENGTH:
        problems.append(("name", f"is {len(event.name)} characters; the limit is {MAX_NAME_LENGTH}"))
    elif not NAME_PATTERN.fullmatch(event.name):
        problems.append(("name", "may hold only letters, digits, spaces and _ . : - /"))
    elif event.name in CATALOGUE:
        problems.append(("name", f"{event.name!r} is reserved: send type {event.name!r} instead"))
    elif rules is not NO_RULES:
        problems.extend(rules.problems(event.name, event.properties))


MAX_PROPERTY_KEY_TEXT = 100


def _check_required_properties(problems: list[tuple[str, str]], type_name: str, keys: tuple[str, ...],
                               properties: Any) -> None:
    """Keys the event type needs in its properties, each short text (ExperimentExposure's experiment)."""
    for key in keys:
        value = properties.get(key) if isinstance(properties, dict) else None
        if value is None or value == "":
            problems.append((f"properties.{key}", f"is required for {type_name}"))
        elif not isinstance(value, str) or len(value) > MAX_PROPERTY_KEY_TEXT:
            problems.append((f"properties.{key}",
                             f"must be text of at most {MAX_PROPERTY_KEY_TEXT} characters"))


def validate_event(
    event: EventIn, *, now: datetime, oldest: datetime, newest: datetime,
    geo: Mapping[str, str] | None = None, rules: EventRules = NO_RULES,
) -> tuple[tuple[Any, ...] | None, list[tuple[str, str]]]:
    """Check one event; return its own columns (``EVENT_COLUMNS``), or the (field, reason) pairs.
    ``geo`` is the place a trusted proxy reported, for the context the event left without one;
    ``rules`` the tenant's event definitions."""
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
    if not event.user_id and not event.anonymous_id and (kind is None or kind.counts_people):
        problems.append(("userId", "userId or anonymousId is required"))
    for name, value in (("userId", event.user_id), ("anonymousId", event.anonymous_id),
                        ("sessionId", event.session_id), ("tourId", event.tour_id),
                        ("stepId", event.step_id), ("contentId", event.content_id)):
        check_text(problems, name, value, MAX_ID_LENGTH)
    check_text(problems, "url", event.url, MAX_URL_LENGTH)
    _check_name(problems, event, rules)
    check_text(problems, "selector", event.selector, MAX_SELECTOR_LENGTH)
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
    nested = {"context": context_values(problems, event.context, geo or {}),  # EVENT_COLUMNS' order
              "engagement": engagement_values(problems, event.engagement),
              "capsule": capsule_values(problems, event.capsule),
              "ai": ai_values(problems, event.ai)}
    if event.ai is not None and event.type not in AI_DETAILED:
        problems.append(("ai", "is only for " + ", ".join(sorted(AI_DETAILED)) + " events"))
    for path in kind.requires_details if kind is not None else ():
        holder, _, name = path.partition(".")  # "capsule.role": the capsule, then its role
        given = nested[holder]
        missing = (holder if given is None else path, f"is required for {event.type}")
        if (given is None or name not in given) and missing not in problems:
            problems.append(missing)
    properties: str | None = None
    if event.properties is not None:
        properties, problem = _properties_json(event.properties)
        if problem:
            problems.append(("properties", problem))
    if kind is not None and kind.requires_properties:
        _check_required_properties(problems, kind.name, kind.requires_properties, event.properties)
    if problems or isinstance(occurred, str):
        return None, problems
    return (event_id, occurred, event.type, _blank_to_none(event.user_id),
            _blank_to_none(event.anonymous_id), _blank_to_none(event.session_id),
            _blank_to_none(event.tour_id), event.step_index, _blank_to_none(event.step_id),
            _blank_to_none(event.content_id), event.selector, _blank_to_none(event.url),
            properties, *(orjson.dumps(nested[k]).decode() if nested[k] else None
                          for k in ("context", "engagement", "capsule")),
            event.name, orjson.dumps(nested["ai"]).decode() if nested["ai"] else None), []


def validate_batch(
    events: Sequence[EventIn], *, retention_days: int, max_future_seconds: int,
    now: datetime | None = None, origin: Origin | None = None, skip: Set[int] = frozenset(),
    rules: EventRules = NO_RULES,
) -> ValidatedBatch:
    """``origin`` (the request that sent the batch) adds user agent, opt-in IP, proxy geo, visitor
    ids and whether a server sent the event (analytics.ingest.origin); without it only the SDK's
    own user agent is kept. Events at ``skip`` are left out (opted out: neither valid nor
    rejected). ``rules``: the tenant's event definitions."""
    now = now or datetime.now(UTC)
    oldest = now - timedelta(days=retention_days)
    newest = now + timedelta(seconds=max_future_seconds)
    geo = origin.geo if origin is not None else {}
    valid: list[ValidEvent] = []
    errors: list[FieldError] = []
    for index, event in enumerate(events):
        if index in skip:
            continue
        agent = event.context.user_agent if event.context is not None else None
        server = origin is not None and origin.server_sourced(
            has_ids=bool(event.user_id or event.anonymous_id), context_agent=agent)
        # A relay's proxy geo is the relay's place, not the end user's.
        row, problems = validate_event(event, now=now, oldest=oldest, newest=newest,
                                       geo={} if server else geo, rules=rules)
        if row is None:
            errors.extend(FieldError(index, field, reason) for field, reason in problems)
            continue
        if origin is None:
            row += without_origin(agent)
        else:
            row += origin.columns(user_id=row[3], anonymous_id=row[4], context_agent=agent,
                                  context_ip=event.context.ip if event.context is not None else None,
                                  server_sourced=server)
        valid.append(ValidEvent(index, row[0], row[1], row))
    return ValidatedBatch(valid, errors)


EVENTS_DECODER = msgspec.json.Decoder(list[EventIn])
