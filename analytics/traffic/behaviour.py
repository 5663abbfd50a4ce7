"""Tier 3: the behavioural bot score of a session, 0-100, flagged at 50, with each signal's points.

Signals, thresholds and points (a signal scores all of its points or none; the sum is capped at 100):

==================  ===================================================================  ======
signal              fires when                                                           points
==================  ===================================================================  ======
request_velocity    requests per minute > 60 (over the session, at least one minute)       50
request_interval    mean time between requests < 100 ms (at least 5 intervals)            35
page_coverage       unique pages > 50                                                      30
session_duration    first to last request > 4 hours                                        20
regular_intervals   interval coefficient of variation < 0.1 (at least 10 intervals)        30
no_engagement       >= 10 page views and not one engagement event (when collected)        25
zero_dwell          >= 5 page views and >= 90% of them with 0 s on page and no scroll      20
no_browser_token    the user agent names no browser, platform, app or library (a bare      20
                    product name such as ``AcmeSync/2.1``) and tier 1 let it through
==================  ===================================================================  ======

The first four are the reference's; the last three are what separates a patient script from a
person. Weighting: only ``request_velocity`` flags a session alone, since more than a request a
second sustained for a whole session is beyond anyone clicking. Each other signal has an innocent
reading on its own: a prefetching browser fires requests 50 ms apart, a researcher opens 60
pages, a tab stays open all afternoon, an SDK without scroll tracking sends no engagement. Any two
of them together reach 50 (``page_coverage`` with ``session_duration``: 60 pages over 4 hours is a
crawl), except ``session_duration`` with ``zero_dwell`` or ``no_engagement`` (40, 45) and
``no_engagement`` with ``zero_dwell`` (45: both say "never scrolled", one fact).

``no_browser_token`` is a suspicion, not a verdict: an in-house script and a native app both send
bare product names, so it flags a session only beside a signal of pace, breadth or regularity
(``request_interval``, ``page_coverage``, ``regular_intervals``), not beside a lack of engagement
alone (``no_engagement`` 45, ``zero_dwell`` 40, ``session_duration`` 40).

Velocity is the session's average, floored at one minute, so five requests in one second count as
5/min, not 300/min: bursts are what ``request_interval`` is for. The interval signals need enough
gaps to mean something (5 and 10), so a double-fired page view is not a bot.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

FLAG_THRESHOLD = 50
MAX_SCORE = 100

VELOCITY_PER_MINUTE = 60
UNIQUE_PAGES = 50
MEAN_INTERVAL_MS = 100
DURATION_SECONDS = 4 * 3600
REGULARITY_CV = 0.1
MIN_INTERVALS_FOR_MEAN = 5
MIN_INTERVALS_FOR_REGULARITY = 10
MIN_PAGE_VIEWS_FOR_ENGAGEMENT = 10
MIN_PAGE_VIEWS_FOR_DWELL = 5
ZERO_DWELL_NUMERATOR, ZERO_DWELL_DENOMINATOR = 9, 10  # 90%, compared in integers


class BehaviourSignal(enum.StrEnum):
    REQUEST_VELOCITY = "request_velocity"
    REQUEST_INTERVAL = "request_interval"
    PAGE_COVERAGE = "page_coverage"
    SESSION_DURATION = "session_duration"
    REGULAR_INTERVALS = "regular_intervals"
    NO_ENGAGEMENT = "no_engagement"
    ZERO_DWELL = "zero_dwell"
    NO_BROWSER_TOKEN = "no_browser_token"


POINTS: dict[BehaviourSignal, int] = {
    BehaviourSignal.REQUEST_VELOCITY: 50,
    BehaviourSignal.REQUEST_INTERVAL: 35,
    BehaviourSignal.PAGE_COVERAGE: 30,
    BehaviourSignal.SESSION_DURATION: 20,
    BehaviourSignal.REGULAR_INTERVALS: 30,
    BehaviourSignal.NO_ENGAGEMENT: 25,
    BehaviourSignal.ZERO_DWELL: 20,
    BehaviourSignal.NO_BROWSER_TOKEN: 20,
}


@dataclass(frozen=True, slots=True)
class SessionSignals:
    """What the scorer needs of a session, as the rollup computes it.

    The mean interval is ``duration / (requests - 1)`` (consecutive gaps add up to the duration),
    so only the spread is asked for: the standard deviation of the gaps between requests.
    ``engagement_events`` is None when the tenant collects none, which leaves that signal out.
    ``bare_agent``: :func:`analytics.traffic.agents.lacks_browser_token` of the session's agent.
    """

    request_count: int
    duration_seconds: float
    unique_pages: int
    page_views: int
    interval_stddev_ms: float | None = None
    engagement_events: int | None = None
    zero_dwell_page_views: int = 0
    bare_agent: bool = False

    @property
    def intervals(self) -> int:
        return max(self.request_count - 1, 0)

    @property
    def mean_interval_ms(self) -> float | None:
        return self.duration_seconds * 1000 / self.intervals if self.intervals else None

    @property
    def requests_per_minute(self) -> float:
        return self.request_count / max(self.duration_seconds / 60, 1.0)


@dataclass(frozen=True, slots=True)
class BehaviourScore:
    score: int
    flagged: bool
    contributions: dict[BehaviourSignal, int] = field(default_factory=dict)


def score_session(signals: SessionSignals) -> BehaviourScore:
    """Score a session; ``contributions`` holds the points of every signal that fired."""
    fired = [signal for signal, test in _TESTS.items() if test(signals)]
    contributions = {signal: POINTS[signal] for signal in fired}
    score = min(sum(contributions.values()), MAX_SCORE)
    return BehaviourScore(score=score, flagged=score >= FLAG_THRESHOLD, contributions=contributions)


def _fast(signals: SessionSignals) -> bool:
    return signals.requests_per_minute > VELOCITY_PER_MINUTE


def _rapid(signals: SessionSignals) -> bool:
    mean = signals.mean_interval_ms
    return signals.intervals >= MIN_INTERVALS_FOR_MEAN and mean is not None and mean < MEAN_INTERVAL_MS


def _broad(signals: SessionSignals) -> bool:
    return signals.unique_pages > UNIQUE_PAGES


def _long(signals: SessionSignals) -> bool:
    return signals.duration_seconds > DURATION_SECONDS


def _regular(signals: SessionSignals) -> bool:
    mean, spread = signals.mean_interval_ms, signals.interval_stddev_ms
    if signals.intervals < MIN_INTERVALS_FOR_REGULARITY or not mean or spread is None:
        return False
    return spread / mean < REGULARITY_CV


def _unengaged(signals: SessionSignals) -> bool:
    return (signals.engagement_events == 0
            and signals.page_views >= MIN_PAGE_VIEWS_FOR_ENGAGEMENT)


def _no_dwell(signals: SessionSignals) -> bool:
    return (signals.page_views >= MIN_PAGE_VIEWS_FOR_DWELL
            and signals.zero_dwell_page_views * ZERO_DWELL_DENOMINATOR
            >= ZERO_DWELL_NUMERATOR * signals.page_views)


def _bare(signals: SessionSignals) -> bool:
    return signals.bare_agent


_TESTS = {
    BehaviourSignal.REQUEST_VELOCITY: _fast,
    BehaviourSignal.REQUEST_INTERVAL: _rapid,
    BehaviourSignal.PAGE_COVERAGE: _broad,
    BehaviourSignal.SESSION_DURATION: _long,
    BehaviourSignal.REGULAR_INTERVALS: _regular,
    BehaviourSignal.NO_ENGAGEMENT: _unengaged,
    BehaviourSignal.ZERO_DWELL: _no_dwell,
    BehaviourSignal.NO_BROWSER_TOKEN: _bare,
}
