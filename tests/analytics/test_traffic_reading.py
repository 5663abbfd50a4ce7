"""Reading patterns: each threshold of the reference's table on both sides, and the precedence."""

from __future__ import annotations

import math

import pytest

from analytics.errors import InvalidArgument
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
