"""The session facts as derived from a session's events before they became a fold (analytics.sessions.fold):
the reference the fold is checked against, kept here as code of record (issue 15)."""

from __future__ import annotations

import itertools
import statistics
import uuid
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from analytics.rollups.aggregate import RawEvent
from analytics.sessions.derive import UNKNOWN_PROFILE, SessionFacts, _with_context_utm
from analytics.sessions.fold import PAGE_ENGAGEMENT, PAGE_VIEW, path_of
from analytics.traffic.agents import describe_agent, is_bot, unknown_agent_verdict
from analytics.traffic.reading import reading_pattern
from analytics.traffic.referrers import classify_source, utm
from analytics.traffic.scanner import (
    VELOCITY_LIMIT,
    VELOCITY_WINDOW,
    ScannerReason,
    is_scanner,
    peak_requests,
)


def reference_facts(session_id: uuid.UUID, events: Sequence[RawEvent], bot_patterns: Sequence[str] = (),
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
