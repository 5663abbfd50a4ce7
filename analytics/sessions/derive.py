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

import itertools
import statistics
import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from analytics.rollups.aggregate import RawEvent
from analytics.traffic.agents import AgentProfile, DeviceType, describe_agent, is_bot, unknown_agent_verdict
from analytics.traffic.reading import reading_pattern
from analytics.traffic.referrers import classify_source, utm
from analytics.traffic.scanner import (
    PATH_RULES,
    VELOCITY_LIMIT,
    VELOCITY_WINDOW,
    ScannerReason,
    is_scanner,
    peak_requests,
)
from analytics.traffic.sessions import VisitorEvent, assign_sessions

SESSION_NAMESPACE = uuid.UUID("6f1d4c52-9a53-4a83-8b39-3c1f0e6f2d7a")
# What :func:`session_facts` derives from the same events changes with this number; a stored row of
# an older one is derived again when its visitor next sends events. 1: the first; 2: one tier-2
# reason per scanner rule met, scan_velocity, engagement reports combined per page view. (Events
# stored before server_source existed derive as before: no bump for the unknown-agent class.)
DERIVATION = 2
PER_RULE_REASONS = 2  # the first derivation whose path reasons name every rule a session met
PAGE_VIEW = "PageViewed"
PAGE_ENGAGEMENT = "PageEngagement"
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
    return {uuid.uuid5(SESSION_NAMESPACE, f"{events[0].visitor_id}|{key}"): events
            for key, events in sessions.items()}


def path_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return url


# The most reasons a session can hold: one tier-1 verdict (the library's or, applied later, a tenant
# rule's: rules flag only sessions not already bots), one per scanner path rule, the scanner's agent
# and its velocity. The API costs a session's reasons by it (api/cost.py).
MAX_BOT_REASONS = 1 + len(PATH_RULES) + 2


def session_facts(session_id: uuid.UUID, events: Sequence[RawEvent], bot_patterns: Sequence[str] = (),
                  exempt_rules: Collection[str] = (), exclude_unknown: bool = False) -> SessionFacts:
    """The facts of one session's time-ordered events; ``bot_patterns`` are the tenant's bot rules,
    ``exempt_rules`` the scanner path rules its own site needs (analytics.traffic.scanner),
    ``exclude_unknown`` the tenant's choice for server-sourced sessions without any agent."""
    first = events[0]
    pages = [e for e in events if e.type == PAGE_VIEW and e.url]
    landing = pages[0] if pages else next((e for e in events if e.url), None)
    with_context = [e.context for e in ([landing] if landing else []) + list(events) if e.context]
    context = with_context[0] if with_context else {}
    entry_url = landing.url if landing else None
    agent = next((e.user_agent for e in events if e.user_agent), None)
    # A server sent them without the end user's agent: the unknown-agent class, not ua_empty.
    unknown = agent is None and any(e.server_source for e in events)
    tags = utm(_with_context_utm(entry_url, context))
    profile = UNKNOWN_PROFILE if unknown else describe_agent(agent)
    engagements = [e for e in events if e.type == PAGE_ENGAGEMENT]
    readings = page_readings(events)
    verdict = unknown_agent_verdict(exclude_unknown) if unknown else is_bot(agent, bot_patterns)
    reasons: list[dict[str, Any]] = []
    if verdict.is_bot:
        reasons.append({"tier": 1, "code": str(verdict.reason_code), "detail": verdict.matched})
    reasons.extend(_scanner_reasons(events, agent, pages, exempt_rules))
    return SessionFacts(
        id=session_id, visitor_id=str(first.visitor_id),
        user_id=next((e.user_id for e in events if e.user_id), None),
        anonymous_id=next((e.anonymous_id for e in events if e.anonymous_id), None),
        sdk_session_id=next((e.sdk_session_id for e in events if e.sdk_session_id), None),
        started_at=first.occurred_at, last_seen_at=events[-1].occurred_at,
        request_count=len(events), page_views=len(pages),
        unique_pages=len({path_of(e.url) for e in pages}),
        landing_page=path_of(entry_url), entry_url=entry_url,
        exit_page=path_of(pages[-1].url) if pages else None,
        referrer_url=context.get("referrer"),
        referrer_source=str(classify_source(context.get("referrer"), _with_context_utm(entry_url, context))),
        utm_source=tags.source, utm_medium=tags.medium, utm_campaign=tags.campaign, utm_term=tags.term,
        utm_content=tags.content,
        country=context.get("country"), region=context.get("region"), city=context.get("city"),
        device_type=str(profile.device_type), browser=profile.browser or None, os=profile.os or None,
        user_agent=agent, ip_address=next((e.ip_address for e in events if e.ip_address), None),
        engagement_events=len(engagements),
        engaged_ms=sum(ms for ms, _ in readings),
        zero_dwell_page_views=sum(1 for ms, scroll in readings if ms == 0 and scroll == 0),
        interval_stddev_ms=_interval_stddev_ms(events),
        reading_patterns=dict(Counter(str(reading_pattern(ms / 1000, scroll)) for ms, scroll in readings)),
        is_bot=verdict.is_bot, is_scanner=any(r["tier"] == 2 for r in reasons), agent_reasons=reasons,
    )


def page_readings(events: Sequence[RawEvent]) -> list[tuple[int, float]]:
    """(time on page in ms, scroll depth in %) per page view that has an engagement report with a
    time. A report belongs to the latest earlier page view of its URL path (one without a URL, or
    with no such page view, stands alone); several reports of one page view combine into the longest
    time and the deepest scroll (an SDK may report as the reader goes). A report without
    ``timeOnPageMs`` (focus or clicks only) says nothing about reading; a missing scroll is 0."""
    readings: dict[int, tuple[int, float]] = {}
    latest: dict[str | None, int] = {}  # URL path -> index of its latest page view
    for index, event in enumerate(events):
        if event.type == PAGE_VIEW:
            latest[path_of(event.url)] = index
            continue
        report = event.engagement or {}
        if event.type != PAGE_ENGAGEMENT or report.get("timeOnPageMs") is None:
            continue
        page = latest.get(path_of(event.url), index) if event.url else index
        ms, scroll = int(report["timeOnPageMs"]), float(report.get("scrollDepth") or 0)
        before = readings.get(page, (0, 0.0))
        readings[page] = (max(before[0], ms), max(before[1], scroll))
    return list(readings.values())


def _with_context_utm(entry_url: str | None, context: dict[str, Any]) -> str | None:
    """The landing URL, with the context's UTM tags added when the SDK sent them separately."""
    given = {f"utm_{name[3:].lower()}": context[name] for name in UTM_FIELDS if context.get(name)}
    if not given:
        return entry_url
    if utm(entry_url).source or utm(entry_url).medium or utm(entry_url).campaign:
        return entry_url
    base = entry_url or "/"
    return f"{base}{'&' if '?' in base else '?'}{urlencode(given)}"


def _scanner_reasons(events: Sequence[RawEvent], agent: str | None, pages: Sequence[RawEvent],
                     exempt_rules: Collection[str]) -> list[dict[str, Any]]:
    """Tier 2: the first path the session requested under each scanner rule (detail ``rule: path``,
    so an exemption added later can lift exactly those), a scanner's own user agent, and more page
    views in one minute than a person makes."""
    reasons: list[dict[str, Any]] = []
    skipped = frozenset(exempt_rules)  # exempt, or already a reason
    for event in events:
        while event.url and (rule := is_scanner(event.url, None, exempt_rules=skipped)).path_rule:
            skipped |= {rule.path_rule}
            reasons.append({"tier": 2, "code": str(ScannerReason.PATH),
                            "detail": f"{rule.path_rule}: {rule.matched_path}"})
    by_agent = is_scanner("", agent)
    if by_agent.matched_agent:
        reasons.append({"tier": 2, "code": str(ScannerReason.AGENT), "detail": by_agent.matched_agent})
    peak = peak_requests([e.occurred_at for e in pages])
    if peak > VELOCITY_LIMIT:
        reasons.append({"tier": 2, "code": str(ScannerReason.VELOCITY),
                        "detail": f"{peak} page views in {VELOCITY_WINDOW.seconds} s"})
    return reasons


def _interval_stddev_ms(events: Sequence[RawEvent]) -> float | None:
    gaps = [(b.occurred_at - a.occurred_at).total_seconds() * 1000 for a, b in itertools.pairwise(events)]
    return statistics.pstdev(gaps) if gaps else None
