"""Tier-3 behavioural score: every signal on both sides of its threshold, and the weighting."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest

from analytics.traffic import behaviour
from analytics.traffic.behaviour import POINTS, BehaviourScore, BehaviourSignal, SessionSignals, score_session

S = BehaviourSignal

# A person: 12 page views over 15 minutes, irregular gaps (CV 0.49), scrolling and clicking.
HUMAN = SessionSignals(request_count=12, duration_seconds=900, unique_pages=8, page_views=12,
                       interval_stddev_ms=40_000, engagement_events=30, zero_dwell_page_views=1)


@pytest.mark.parametrize(("changes", "fired"), [
    # request_velocity: > 60 requests a minute, averaged over at least one minute
    ({"request_count": 61, "duration_seconds": 60}, [S.REQUEST_VELOCITY]),
    ({"request_count": 60, "duration_seconds": 60}, []),
    ({"request_count": 121, "duration_seconds": 120}, [S.REQUEST_VELOCITY]),
    ({"request_count": 120, "duration_seconds": 120}, []),
    # ...so 50 requests in one second are 50/min, caught by the interval signal instead
    ({"request_count": 50, "duration_seconds": 1}, [S.REQUEST_INTERVAL]),
    # request_interval: mean gap < 100 ms over at least 5 gaps
    ({"request_count": 6, "duration_seconds": 0.4995}, [S.REQUEST_INTERVAL]),
    ({"request_count": 6, "duration_seconds": 0.5}, []),
    ({"request_count": 5, "duration_seconds": 0.1}, []),
    ({"request_count": 1, "duration_seconds": 0}, []),
    # page_coverage: > 50 unique pages
    ({"unique_pages": 51}, [S.PAGE_COVERAGE]),
    ({"unique_pages": 50}, []),
    # session_duration: > 4 hours
    ({"duration_seconds": 4 * 3600 + 1, "interval_stddev_ms": 900_000}, [S.SESSION_DURATION]),
    ({"duration_seconds": 4 * 3600, "interval_stddev_ms": 900_000}, []),
    # regular_intervals: coefficient of variation < 0.1 over at least 10 gaps (mean gap 60 s here)
    ({"request_count": 11, "duration_seconds": 600, "interval_stddev_ms": 5_999}, [S.REGULAR_INTERVALS]),
    ({"request_count": 11, "duration_seconds": 600, "interval_stddev_ms": 6_000}, []),
    ({"request_count": 10, "duration_seconds": 540, "interval_stddev_ms": 0}, []),
    ({"request_count": 11, "duration_seconds": 600, "interval_stddev_ms": None}, []),
    # no_engagement: >= 10 page views and no engagement event, when the tenant collects them
    ({"page_views": 10, "engagement_events": 0}, [S.NO_ENGAGEMENT]),
    ({"page_views": 9, "engagement_events": 0}, []),
    ({"page_views": 10, "engagement_events": 1}, []),
    ({"page_views": 40, "engagement_events": None}, []),
    # zero_dwell: >= 5 page views, >= 90% of them 0 s on page and unscrolled
    ({"page_views": 10, "zero_dwell_page_views": 9}, [S.ZERO_DWELL]),
    ({"page_views": 10, "zero_dwell_page_views": 8}, []),
    ({"page_views": 5, "zero_dwell_page_views": 5}, [S.ZERO_DWELL]),
    ({"page_views": 4, "zero_dwell_page_views": 4}, []),
    # no_browser_token: the agent is a bare product name tier 1 let through
    ({"bare_agent": True}, [S.NO_BROWSER_TOKEN]),
    ({"bare_agent": False}, []),
])
def test_each_signal_fires_only_past_its_threshold(changes: dict[str, Any], fired: list[S]) -> None:
    result = score_session(replace(HUMAN, **changes))
    points = {signal: POINTS[signal] for signal in fired}
    assert result == BehaviourScore(score=sum(points.values()), flagged=sum(points.values()) >= 50,
                                    contributions=points)


def test_a_person_scores_zero() -> None:
    assert score_session(HUMAN) == BehaviourScore(score=0, flagged=False, contributions={})


@pytest.mark.parametrize(("changes", "score", "flagged"), [
    # Velocity alone is enough: a request a second for a whole session is no one clicking.
    ({"request_count": 61, "duration_seconds": 60}, 50, True),
    # Any other signal alone is not.
    ({"unique_pages": 51}, 30, False),
    ({"duration_seconds": 5 * 3600, "interval_stddev_ms": 900_000}, 20, False),
    ({"request_count": 6, "duration_seconds": 0.3}, 35, False),
    # Two of them are (coverage with duration too), except duration or zero dwell with missing engagement.
    ({"request_count": 11, "duration_seconds": 0.9, "interval_stddev_ms": 1}, 65, True),
    ({"unique_pages": 51, "page_views": 60, "engagement_events": 0}, 55, True),
    ({"unique_pages": 51, "duration_seconds": 5 * 3600, "interval_stddev_ms": 900_000}, 50, True),
    ({"page_views": 20, "engagement_events": 0, "zero_dwell_page_views": 20}, 45, False),
    ({"duration_seconds": 5 * 3600, "interval_stddev_ms": 900_000, "page_views": 20,
      "engagement_events": 0}, 45, False),
    # A bare product name is a suspicion: with pace, breadth or regularity it flags, with no engagement not.
    ({"bare_agent": True}, 20, False),
    ({"bare_agent": True, "unique_pages": 51}, 50, True),
    ({"bare_agent": True, "request_count": 6, "duration_seconds": 0.3}, 55, True),
    ({"bare_agent": True, "page_views": 20, "engagement_events": 0}, 45, False),
    ({"bare_agent": True, "page_views": 20, "zero_dwell_page_views": 20}, 40, False),
    # A scraper fires nearly everything; the score stops at 100 while every contribution is kept.
    ({"request_count": 400, "duration_seconds": 30, "unique_pages": 390, "page_views": 400,
      "interval_stddev_ms": 3, "engagement_events": 0, "zero_dwell_page_views": 400}, 100, True),
])
def test_weighting(changes: dict[str, Any], score: int, flagged: bool) -> None:
    result = score_session(replace(HUMAN, **changes))
    assert (result.score, result.flagged) == (score, flagged)


def test_the_scraper_keeps_all_six_contributions() -> None:
    scraper = SessionSignals(request_count=400, duration_seconds=30, unique_pages=390, page_views=400,
                             interval_stddev_ms=3, engagement_events=0, zero_dwell_page_views=400)
    assert score_session(scraper).contributions == {
        S.REQUEST_VELOCITY: 50, S.REQUEST_INTERVAL: 35, S.PAGE_COVERAGE: 30, S.REGULAR_INTERVALS: 30,
        S.NO_ENGAGEMENT: 25, S.ZERO_DWELL: 20}


def test_the_module_docstring_states_the_points_in_force() -> None:
    documented = dict(re.findall(r"^([a-z_]+) {2,}.* {2,}(\d+)$", behaviour.__doc__ or "", re.MULTILINE))
    assert {signal.value: int(points) for signal, points in POINTS.items()} == {
        name: int(points) for name, points in documented.items()}
