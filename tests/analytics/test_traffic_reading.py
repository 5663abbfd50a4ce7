"""Reading patterns: each threshold of the reference's table on both sides, and the precedence."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.errors import InvalidArgument
from analytics.rollups.aggregate import RawEvent
from analytics.sessions.derive import session_facts
from analytics.traffic.reading import ReadingPattern, reading_pattern


@pytest.mark.parametrize(("seconds", "scroll", "pattern"), [
    # bounce: < 10 s and < 25%
    (0, 0, "bounce"),
    (9.9, 24.9, "bounce"),
    (10, 24.9, "skimmer"),
    (9.9, 25, "skimmer"),
    # scanner: > 30% and < 20 s
    (19.9, 30.1, "scanner"),
    (19.9, 30, "skimmer"),
    (20, 30.1, "skimmer"),
    (2, 45, "scanner"),
    # reader: > 50% and > 15 s
    (25, 50.1, "reader"),
    (25, 50, "skimmer"),
    (15, 60, "scanner"),
    (15.1, 60, "reader"),
    # engaged: > 75% and > 30 s
    (30.1, 75.1, "engaged"),
    (30, 75.1, "reader"),
    (30.1, 75, "reader"),
    (240, 100, "engaged"),
    # long but shallow, or deep but slow-ish without meeting any row
    (120, 20, "skimmer"),
    (12, 28, "skimmer"),
])
def test_thresholds(seconds: float, scroll: float, pattern: str) -> None:
    assert reading_pattern(seconds, scroll) is ReadingPattern(pattern)


@pytest.mark.parametrize(("seconds", "scroll", "pattern"), [
    (17, 60, "reader"),     # reader and scanner both match: reader is more engaged
    (15.1, 50.1, "reader"),
    (45, 90, "engaged"),    # engaged and reader both match: engaged wins
])
def test_the_more_engaged_pattern_wins(seconds: float, scroll: float, pattern: str) -> None:
    assert reading_pattern(seconds, scroll) is ReadingPattern(pattern)


@pytest.mark.parametrize(("seconds", "scroll", "pattern"), [
    (-3, 10, "bounce"),
    (5, -10, "bounce"),
    (45, 130, "engaged"),
])
def test_out_of_range_inputs_are_clamped(seconds: float, scroll: float, pattern: str) -> None:
    assert reading_pattern(seconds, scroll) is ReadingPattern(pattern)


@pytest.mark.parametrize(("seconds", "scroll"), [(math.nan, 50), (30, math.nan)])
def test_nan_is_refused(seconds: float, scroll: float) -> None:
    with pytest.raises(InvalidArgument, match="got NaN"):
        reading_pattern(seconds, scroll)


def _at(second: int) -> datetime:
    return datetime(2025, 5, 1, 10, tzinfo=UTC) + timedelta(seconds=second)


def _view(second: int, url: str) -> RawEvent:
    return RawEvent("PageViewed", _at(second), None, None, None, None, None, None, None, url)


def _report(second: int, url: str | None, **engagement: Any) -> RawEvent:
    return RawEvent("PageEngagement", _at(second), None, None, None, None, None, None, None, url,
                    engagement=engagement)


def test_a_page_views_reports_combine_and_reports_without_a_time_say_nothing() -> None:
    events = [
        _view(0, "https://shop.example/a?ref=x"),
        _report(10, "https://shop.example/a", timeOnPageMs=10_000, scrollDepth=60),  # as the reader goes
        _report(40, "https://shop.example/a", timeOnPageMs=40_000, scrollDepth=30),  # on the way back up
        _view(41, "https://shop.example/b"),
        _report(42, "https://shop.example/a", timeOnPageMs=41_000),  # still page a (another tab)
        _report(50, "https://shop.example/b", focusedMs=5_000, clicks=2),  # no time: not a reading
        _report(60, "https://shop.example/b", timeOnPageMs=0),  # scroll missing: 0
        _report(70, None, timeOnPageMs=3_000, scrollDepth=10),  # no URL: stands alone
    ]
    facts = session_facts(uuid.uuid4(), [e._replace(visitor_id="v") for e in events])
    assert (facts.engagement_events, facts.engaged_ms, facts.zero_dwell_page_views) == (6, 44_000, 1)
    assert facts.reading_patterns == {"reader": 1, "bounce": 2}
