"""A session's facts as a fold over its time-ordered events: constant-size state that the next event
updates, so a batch that only appends to an open session reads that state instead of its events.

:func:`analytics.sessions.derive.session_facts` is this fold run over all of a session's events, so
the facts of a folded session and of a derived one are the same by construction. What each fact
keeps:

- counts, sums, first and last values (ids, agent, address, landing page and context, exit page,
  start, end): one value each;
- distinct pages: the set of paths seen, which also holds each path's latest page view's open
  reading (a later engagement report of that path still combines into it). A page view of the path
  again closes the reading into running totals (engaged ms, zero-dwell views, reading patterns).
  The state grows with distinct paths, not events; past ``MAX_FOLDED_PATHS`` it is not kept and
  the session is derived from its events as before;
- the interval standard deviation: exact sums of the gaps and of their squares (fractions), so it
  is the same float ``statistics.pstdev`` gives;
- scan velocity: the page-view times inside the last minute and the peak so far;
- scanner path reasons: the first path of every rule, exemptions applied when facts are read (a
  tenant may change them between batches).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

from analytics.content.derive import is_content
from analytics.rollups.aggregate import RawEvent
from analytics.traffic.reading import reading_pattern
from analytics.traffic.scanner import VELOCITY_LIMIT, VELOCITY_WINDOW, ScannerReason, is_scanner

PAGE_VIEW = "PageViewed"
PAGE_ENGAGEMENT = "PageEngagement"
MAX_FOLDED_PATHS = 500  # a session with more distinct paths keeps no fold (derived from its events)
FOLD_VERSION = 1  # stored folds of another version are not used


def path_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return url


@dataclass
class SessionFold:
    """What a session's facts need from the events so far (JSON-serialisable through ``dump``)."""

    visitor_id: str
    started_at: datetime
    last_seen_at: datetime
    request_count: int = 0
    user_id: str | None = None
    anonymous_id: str | None = None
    sdk_session_id: str | None = None
    agent: str | None = None
    ip_address: str | None = None
    server_source: bool = False
    content: bool = False  # a content event was seen (content facts need the events)
    first_context: dict[str, Any] | None = None
    first_page: tuple[str, dict[str, Any] | None] | None = None  # (url, context) of the first page view
    first_url: tuple[str, dict[str, Any] | None] | None = None  # of the first event with a URL
    exit_url: str | None = None
    page_views: int = 0
    # path -> (ms, scroll) of its latest page view's reading, None while it has no report
    paths: dict[str, tuple[int, float] | None] = field(default_factory=dict)
    engagement_events: int = 0
    closed_ms: int = 0  # readings no later report can change
    closed_zero_dwell: int = 0
    closed_patterns: Counter[str] = field(default_factory=Counter)
    gaps: int = 0
    gap_sum: Fraction = Fraction(0)
    gap_squares: Fraction = Fraction(0)
    recent_pages: list[datetime] = field(default_factory=list)  # page views inside the velocity window
    peak_pages: int = 0
    path_reasons: list[tuple[str, str]] = field(default_factory=list)  # (rule, matched path), no exemptions

    @classmethod
    def of(cls, events: Sequence[RawEvent]) -> SessionFold:
        fold = cls(str(events[0].visitor_id), events[0].occurred_at, events[0].occurred_at)
        for event in events:
            fold.add(event)
        return fold

    def add(self, event: RawEvent) -> None:
        """Fold in the session's next event (not earlier than the last one)."""
        if self.request_count:
            gap = Fraction((event.occurred_at - self.last_seen_at).total_seconds() * 1000)
            self.gaps += 1
            self.gap_sum += gap
            self.gap_squares += gap * gap
        self.request_count += 1
        self.last_seen_at = event.occurred_at
        self.user_id = self.user_id or event.user_id
        self.anonymous_id = self.anonymous_id or event.anonymous_id
        self.sdk_session_id = self.sdk_session_id or event.sdk_session_id
        self.agent = self.agent or event.user_agent
        self.ip_address = self.ip_address or event.ip_address
        self.server_source = self.server_source or event.server_source
        self.content = self.content or is_content(event)
        if self.first_context is None and event.context:
            self.first_context = event.context
        if event.url:
            if self.first_url is None:
                self.first_url = (event.url, event.context)
            self._scan(event.url)
        if event.type == PAGE_VIEW and event.url:
            self._page_view(event.url, event.context, event.occurred_at)
        elif event.type == PAGE_ENGAGEMENT:
            self.engagement_events += 1
            report = event.engagement or {}
            if report.get("timeOnPageMs") is not None:
                self._report(event.url, int(report["timeOnPageMs"]), float(report.get("scrollDepth") or 0))

    def _scan(self, url: str) -> None:
        found = {rule for rule, _ in self.path_reasons}
        while (verdict := is_scanner(url, None, exempt_rules=found)).path_rule:
            found.add(verdict.path_rule)
            self.path_reasons.append((verdict.path_rule, str(verdict.matched_path)))

    def _page_view(self, url: str, context: dict[str, Any] | None, at: datetime) -> None:
        path = str(path_of(url))
        if self.first_page is None:
            self.first_page = (url, context)
        self.exit_url = url
        self.page_views += 1
        self._close(self.paths.get(path))
        self.paths[path] = None
        recent = [t for t in self.recent_pages if at - t < VELOCITY_WINDOW]
        recent.append(at)
        self.recent_pages = recent
        self.peak_pages = max(self.peak_pages, len(recent))

    def _report(self, url: str | None, ms: int, scroll: float) -> None:
        path = path_of(url) if url else None
        if path is None or path not in self.paths:
            self._close((max(0, ms), max(0.0, scroll)))  # stands alone
            return
        before = self.paths[path] or (0, 0.0)
        self.paths[path] = (max(before[0], ms), max(before[1], scroll))

    def _close(self, reading: tuple[int, float] | None) -> None:
        if reading is None:
            return
        self.closed_ms += reading[0]
        self.closed_zero_dwell += reading == (0, 0.0)
        self.closed_patterns[str(reading_pattern(reading[0] / 1000, reading[1]))] += 1

    # --- what the facts read ---------------------------------------------------------------------

    def readings(self) -> tuple[int, int, dict[str, int]]:
        """(engaged ms, zero-dwell page views, page views by reading pattern), open readings included."""
        ms, zero, patterns = self.closed_ms, self.closed_zero_dwell, Counter(self.closed_patterns)
        for reading in self.paths.values():
            if reading is not None:
                ms += reading[0]
                zero += reading == (0, 0.0)
                patterns[str(reading_pattern(reading[0] / 1000, reading[1]))] += 1
        return ms, zero, dict(patterns)

    def interval_stddev_ms(self) -> float | None:
        """``statistics.pstdev`` of the gaps, from exact sums (the same float)."""
        if not self.gaps:
            return None
        variance = (self.gaps * self.gap_squares - self.gap_sum * self.gap_sum) / self.gaps / self.gaps
        return _float_sqrt_of_fraction(variance)

    def scanner_reasons(self, exempt_rules: Collection[str]) -> list[dict[str, Any]]:
        reasons: list[dict[str, Any]] = [
            {"tier": 2, "code": str(ScannerReason.PATH), "detail": f"{rule}: {path}"}
            for rule, path in self.path_reasons if rule not in exempt_rules]
        by_agent = is_scanner("", self.agent)
        if by_agent.matched_agent:
            reasons.append({"tier": 2, "code": str(ScannerReason.AGENT), "detail": by_agent.matched_agent})
        if self.peak_pages > VELOCITY_LIMIT:
            reasons.append({"tier": 2, "code": str(ScannerReason.VELOCITY),
                            "detail": f"{self.peak_pages} page views in {VELOCITY_WINDOW.seconds} s"})
        return reasons

    # --- storage -----------------------------------------------------------------------------------

    def dump(self) -> dict[str, Any] | None:
        """The JSON form stored on the session row, or None when the fold is too large to keep."""
        if len(self.paths) > MAX_FOLDED_PATHS:
            return None
        state = {f.name: getattr(self, f.name) for f in fields(self)}
        state.update(version=FOLD_VERSION, closed_patterns=dict(self.closed_patterns),
                     started_at=self.started_at.isoformat(), last_seen_at=self.last_seen_at.isoformat(),
                     paths=list(self.paths.items()), gap_sum=str(self.gap_sum),
                     gap_squares=str(self.gap_squares),
                     recent_pages=[t.isoformat() for t in self.recent_pages])
        return state

    @classmethod
    def load(cls, state: dict[str, Any]) -> SessionFold | None:
        """The fold a stored state describes, or None for another version's."""
        if state.get("version") != FOLD_VERSION:
            return None
        values = {k: v for k, v in state.items() if k != "version"}
        values.update(
            started_at=datetime.fromisoformat(state["started_at"]),
            last_seen_at=datetime.fromisoformat(state["last_seen_at"]),
            first_page=tuple(state["first_page"]) if state["first_page"] else None,
            first_url=tuple(state["first_url"]) if state["first_url"] else None,
            paths={path: (tuple(reading) if reading else None) for path, reading in state["paths"]},
            closed_patterns=Counter(state["closed_patterns"]),
            gap_sum=Fraction(state["gap_sum"]), gap_squares=Fraction(state["gap_squares"]),
            recent_pages=[datetime.fromisoformat(t) for t in state["recent_pages"]],
            path_reasons=[tuple(reason) for reason in state["path_reasons"]],
        )
        return cls(**values)


def _float_sqrt_of_fraction(value: Fraction) -> float:
    """The square root of ``value`` correctly rounded to a float, as ``statistics`` computes it
    (round-to-odd on an integer square root with 109 bits)."""
    n, m = value.numerator, value.denominator
    q = (n.bit_length() - m.bit_length() - 109) // 2
    if q >= 0:
        root = math.isqrt(n // (m << 2 * q))
        root |= root * root * (m << 2 * q) != n
        return float(root << q)
    root = math.isqrt((n << -2 * q) // m)
    root |= root * root * m != n << -2 * q
    return root / (1 << -q)
