"""Fold raw events into counter increments in memory (pure: no I/O)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from analytics.ingest.catalogue import CATALOGUE, CONTENT, TOUR, USER_METRICS
from analytics.periods import hour_floor

WHOLE = -1  # step_index of a counter about the whole tour or content item


class RawEvent(NamedTuple):
    type: str
    occurred_at: datetime
    user_id: str | None
    anonymous_id: str | None
    tour_id: str | None
    step_index: int | None
    step_id: str | None
    content_id: str | None
    selector: str | None
    url: str | None
    # What sessions need besides the counters (analytics.sessions): all optional so that counting
    # code and tests can build events from the first ten fields alone.
    id: UUID | None = None
    sdk_session_id: str | None = None
    visitor_id: str | None = None
    visitor_prev: str | None = None
    context: dict[str, Any] | None = None
    engagement: dict[str, Any] | None = None
    capsule: dict[str, Any] | None = None
    user_agent: str | None = None
    ip_address: str | None = None
    session_key: UUID | None = None
    name: str | None = None  # a Custom event's own name
    properties: dict[str, Any] | None = None
    server_source: bool = False  # sent by a server or relay for its end user (analytics.ingest.origin)
    ai: dict[str, Any] | None = None  # AIRequest / ToolCall / ConversationMessage details (analytics.ai)


# The columns RawEvent is read from, in its field order: what counting needs, then the rest.
COUNTED_COLUMNS = ("type", "occurred_at", "user_id", "anonymous_id", "tour_id", "step_index", "step_id",
                   "content_id", "selector", "url")
_RAW_COLUMNS = (*COUNTED_COLUMNS, "id", "session_id", "visitor_id", "visitor_prev", "context", "engagement",
                "capsule", "user_agent", "ip_address", "session_key", "name", "properties", "server_source",
                "ai")


def raw_event_columns(table: str = "") -> str:
    """The select list of a RawEvent, each column qualified by ``table`` when given."""
    prefix = f"{table}." if table else ""
    return ", ".join(f"host({prefix}{c})" if c == "ip_address" else f"{prefix}{c}" for c in _RAW_COLUMNS)


RAW_EVENT_COLUMNS = raw_event_columns()


def user_key(user_id: str | None, anonymous_id: str | None) -> str:
    """One identity per person: the user id when known, else the anonymous id (never confused)."""
    return f"u:{user_id}" if user_id is not None else f"a:{anonymous_id}"


def entity_of(event: RawEvent) -> tuple[str, str]:
    kind = CATALOGUE[event.type]
    entity_type = kind.entity_type or (TOUR if event.tour_id is not None else CONTENT)
    entity_id = event.tour_id if entity_type == TOUR else event.content_id
    assert entity_id is not None
    return entity_type, entity_id


@dataclass
class Aggregate:
    """Counter increments; every key ends with ``bot``: whether the event's session is excluded."""

    hourly: Counter[tuple[str, str, str, int, datetime, bool]] = field(default_factory=Counter)
    daily: Counter[tuple[str, str, str, int, date, bool]] = field(default_factory=Counter)
    users: set[tuple[str, str, str, int, date, bool, str]] = field(default_factory=set)
    selector_failures: dict[tuple[str, str, str, str, date, bool], list[Any]] = field(default_factory=dict)
    tours_seen: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    steps_seen: dict[tuple[str, int], str | None] = field(default_factory=dict)


def aggregate(events: Iterable[tuple[RawEvent, bool]], tz: ZoneInfo, into: Aggregate | None = None
              ) -> Aggregate:
    """Fold ``(event, bot)`` pairs (``bot``: the event's session is excluded as a bot) into ``into``
    or a new Aggregate."""
    agg = into if into is not None else Aggregate()
    for event, bot in events:
        if not CATALOGUE[event.type].rolled_up:
            continue
        metric = CATALOGUE[event.type].metric
        entity_type, entity_id = entity_of(event)
        hour = hour_floor(event.occurred_at, tz)
        day = event.occurred_at.astimezone(tz).date()
        steps = [WHOLE]
        if entity_type == TOUR and event.step_index is not None:
            steps.append(event.step_index)
        who = user_key(event.user_id, event.anonymous_id)
        for step in steps:
            agg.hourly[(entity_type, entity_id, metric, step, hour, bot)] += 1
            agg.daily[(entity_type, entity_id, metric, step, day, bot)] += 1
            if metric in USER_METRICS:
                agg.users.add((entity_type, entity_id, metric, step, day, bot, who))
        if metric == "target_failures" and event.selector:
            key = (entity_type, entity_id, event.selector, event.url or "", day, bot)
            seen = agg.selector_failures.setdefault(key, [0, event.occurred_at])
            seen[0] += 1
            seen[1] = max(seen[1], event.occurred_at)
        if entity_type == TOUR:
            first, last = agg.tours_seen.get(entity_id, (event.occurred_at, event.occurred_at))
            agg.tours_seen[entity_id] = (min(first, event.occurred_at), max(last, event.occurred_at))
            if event.step_index is not None:
                known = agg.steps_seen.get((entity_id, event.step_index))
                agg.steps_seen[(entity_id, event.step_index)] = known or event.step_id
    return agg
