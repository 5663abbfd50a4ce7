"""Sessions derived from raw events (pure): who is one visitor, which events make one session, and
the facts of each session (pages, source, UTM, geo, device, tier-1 and tier-2 bot verdicts).

An event with a userId or anonymousId carries its identity's visitor id and no ``visitor_prev``
(analytics.ingest.origin). A cookieless event carries two ids: ``visitor_id`` under the event's UTC
day salt and ``visitor_prev`` under the day before's. An event at 00:05 therefore names, in ``visitor_prev``,
the id its sender had at 23:55; :func:`link_visitors` joins such ids into one visitor so a visit
across midnight stays one session. Sessions follow :mod:`analytics.traffic.sessions` (30 minutes
idle, 24 hours at most, SDK session ids respected) and are named by a UUID derived from the first
event's visitor id and the session key, so the same events always give the same session ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from analytics.rollups.aggregate import RawEvent
from analytics.sessions.fold import SessionFold, path_of
from analytics.traffic.agents import AgentProfile, DeviceType, describe_agent, is_bot, unknown_agent_verdict
from analytics.traffic.referrers import classify_source, utm
from analytics.traffic.scanner import PATH_RULES
from analytics.traffic.sessions import VisitorEvent, assign_sessions

SESSION_NAMESPACE = uuid.UUID("6f1d4c52-9a53-4a83-8b39-3c1f0e6f2d7a")
# What :func:`session_facts` derives from the same events changes with this number; a stored row of
# an older one is derived again when its visitor next sends events. 1: the first; 2: one tier-2
# reason per scanner rule met, scan_velocity, engagement reports combined per page view. (Events
# stored before server_source existed derive as before: no bump for the unknown-agent class.)
DERIVATION = 2
PER_RULE_REASONS = 2  # the first derivation whose path reasons name every rule a session met
UNKNOWN_PROFILE = AgentProfile(DeviceType.UNKNOWN, "", None, "", None)
UTM_FIELDS = ("utmSource", "utmMedium", "utmCampaign", "utmTerm", "utmContent")


@dataclass
class SessionFacts:
    """One row of ``sessions`` as the worker writes it (behavioural columns belong to the scorer)."""

    id: uuid.UUID
    visitor_id: str
    user_id: str | None
    anonymous_id: str | None
    sdk_session_id: str | None
    started_at: datetime
    last_seen_at: datetime
    request_count: int
    page_views: int
    unique_pages: int
    landing_page: str | None
    entry_url: str | None
    exit_page: str | None
    referrer_url: str | None
    referrer_source: str
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_term: str | None
    utm_content: str | None
    country: str | None
    region: str | None
    city: str | None
    device_type: str
    browser: str | None
    os: str | None
    user_agent: str | None
    ip_address: str | None
    engagement_events: int
    engaged_ms: int
    zero_dwell_page_views: int
    interval_stddev_ms: float | None
    reading_patterns: dict[str, int]  # page views (with engagement) by reading pattern
    is_bot: bool
    is_scanner: bool
    agent_reasons: list[dict[str, Any]] = field(default_factory=list)
    derivation: int = DERIVATION


def link_visitors(events: Iterable[RawEvent]) -> list[list[RawEvent]]:
    """Events grouped by visitor (ids joined through ``visitor_prev``), each group in time order."""
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        parent.setdefault(name, name)
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    with_visitor = [e for e in events if e.visitor_id]
    for event in with_visitor:
        assert event.visitor_id is not None
        first = root(event.visitor_id)
        if event.visitor_prev:
            parent[root(event.visitor_prev)] = first
    groups: dict[str, list[RawEvent]] = {}
    for event in with_visitor:
        assert event.visitor_id is not None
        groups.setdefault(root(event.visitor_id), []).append(event)
    return [sorted(group, key=_order) for group in groups.values()]


def _order(event: RawEvent) -> tuple[datetime, str]:
    return event.occurred_at, str(event.id)


def split_sessions(visitor_events: Sequence[RawEvent]) -> dict[uuid.UUID, list[RawEvent]]:
    """One visitor's time-ordered events, by session id."""
    keys = assign_sessions([VisitorEvent(e.occurred_at, e.sdk_session_id) for e in visitor_events])
    sessions: dict[str, list[RawEvent]] = {}
    for key, event in zip(keys, visitor_events, strict=True):
        sessions.setdefault(key, []).append(event)
    return {session_id_of(events[0], key): events for key, events in sessions.items()}


def session_id_of(first: RawEvent, key: str) -> uuid.UUID:
    """The id of the session that starts with ``first`` under the sessionization key ``key``."""
    return uuid.uuid5(SESSION_NAMESPACE, f"{first.visitor_id}|{key}")


# The most reasons a session can hold: one tier-1 verdict (the library's or, applied later, a tenant
# rule's: rules flag only sessions not already bots), one per scanner path rule, the scanner's agent
# and its velocity. The API costs a session's reasons by it (api/cost.py).
MAX_BOT_REASONS = 1 + len(PATH_RULES) + 2


def session_facts(session_id: uuid.UUID, events: Sequence[RawEvent], bot_patterns: Sequence[str] = (),
                  exempt_rules: Collection[str] = (), exclude_unknown: bool = False) -> SessionFacts:
    """The facts of one session's time-ordered events; ``bot_patterns`` are the tenant's bot rules,
    ``exempt_rules`` the scanner path rules its own site needs (analytics.traffic.scanner),
    ``exclude_unknown`` the tenant's choice for server-sourced sessions without any agent."""
    return folded_facts(session_id, SessionFold.of(events), bot_patterns, exempt_rules, exclude_unknown)


def folded_facts(session_id: uuid.UUID, fold: SessionFold, bot_patterns: Sequence[str] = (),
                 exempt_rules: Collection[str] = (), exclude_unknown: bool = False) -> SessionFacts:
    """The facts of the events folded into ``fold`` (analytics.sessions.fold)."""
    # The landing page is the first page view, else the first event with a URL; the context (source,
    # UTM, geo) is the landing event's, else the first one any event carried.
    landing_url, landing_context = fold.first_page or fold.first_url or (None, None)
    context = landing_context or fold.first_context or {}
    agent = fold.agent
    # A server sent them without the end user's agent: the unknown-agent class, not ua_empty.
    unknown = agent is None and fold.server_source
    tagged_url = _with_context_utm(landing_url, context)
    tags = utm(tagged_url)
    profile = UNKNOWN_PROFILE if unknown else describe_agent(agent)
    verdict = unknown_agent_verdict(exclude_unknown) if unknown else is_bot(agent, bot_patterns)
    reasons: list[dict[str, Any]] = []
    if verdict.is_bot:
        reasons.append({"tier": 1, "code": str(verdict.reason_code), "detail": verdict.matched})
    reasons.extend(fold.scanner_reasons(exempt_rules))
    engaged_ms, zero_dwell, patterns = fold.readings()
    return SessionFacts(
        id=session_id, visitor_id=fold.visitor_id, user_id=fold.user_id, anonymous_id=fold.anonymous_id,
        sdk_session_id=fold.sdk_session_id, started_at=fold.started_at, last_seen_at=fold.last_seen_at,
        request_count=fold.request_count, page_views=fold.page_views, unique_pages=len(fold.paths),
        landing_page=path_of(landing_url), entry_url=landing_url, exit_page=path_of(fold.exit_url),
        referrer_url=context.get("referrer"),
        referrer_source=str(classify_source(context.get("referrer"), tagged_url)),
        utm_source=tags.source, utm_medium=tags.medium, utm_campaign=tags.campaign, utm_term=tags.term,
        utm_content=tags.content,
        country=context.get("country"), region=context.get("region"), city=context.get("city"),
        device_type=str(profile.device_type), browser=profile.browser or None, os=profile.os or None,
        user_agent=agent, ip_address=fold.ip_address,
        engagement_events=fold.engagement_events, engaged_ms=engaged_ms, zero_dwell_page_views=zero_dwell,
        interval_stddev_ms=fold.interval_stddev_ms(), reading_patterns=patterns,
        is_bot=verdict.is_bot, is_scanner=any(r["tier"] == 2 for r in reasons), agent_reasons=reasons,
    )


def _with_context_utm(entry_url: str | None, context: dict[str, Any]) -> str | None:
    """The landing URL, with the context's UTM tags added when the SDK sent them separately."""
    given = {f"utm_{name[3:].lower()}": context[name] for name in UTM_FIELDS if context.get(name)}
    if not given:
        return entry_url
    if utm(entry_url).source or utm(entry_url).medium or utm(entry_url).campaign:
        return entry_url
    base = entry_url or "/"
    return f"{base}{'&' if '?' in base else '?'}{urlencode(given)}"
