"""Reading pattern of one page view, from time on page and scroll depth, exactly per the reference.

==========  =========================================  =================
pattern     criteria (all strict inequalities)          precedence
==========  =========================================  =================
engaged     scroll > 75% and time > 30 s               1 (wins)
reader      scroll > 50% and time > 15 s               2
scanner     scroll > 30% and time < 20 s               3
bounce      scroll < 25% and time < 10 s               4
skimmer     anything else                              5 (fallback)
==========  =========================================  =================

Only two pairs can both match: engaged with reader (every engaged view is also a reader), and
reader with scanner (scroll > 50% and 15 s < time < 20 s). The more engaged pattern wins, so the
first pair is ``engaged`` and the second ``reader``. ``bounce`` overlaps nothing (its scroll
< 25% excludes the others), so its place in the order changes no answer. A value exactly on a
threshold does not satisfy it: 10 s with 10% scroll is a ``skimmer``, not a bounce.

Inputs out of range are clamped (negative time to 0, scroll to 0-100): SDKs report 101% on
elastic scrolling and clocks go backwards. NaN is refused.
"""

from __future__ import annotations

import enum
import math

from analytics.errors import InvalidArgument


class ReadingPattern(enum.StrEnum):
    BOUNCE = "bounce"
    SCANNER = "scanner"
    READER = "reader"
    ENGAGED = "engaged"
    SKIMMER = "skimmer"


def reading_pattern(seconds_on_page: float, scroll_percent: float) -> ReadingPattern:
    """Classify one page view; see the module docstring for the table and the precedence."""
    if math.isnan(seconds_on_page) or math.isnan(scroll_percent):
        raise InvalidArgument("reading_pattern", "time on page and scroll depth must be numbers, got NaN")
    seconds = max(seconds_on_page, 0.0)
    scroll = min(max(scroll_percent, 0.0), 100.0)
    if scroll > 75 and seconds > 30:
        return ReadingPattern.ENGAGED
    if scroll > 50 and seconds > 15:
        return ReadingPattern.READER
    if scroll > 30 and seconds < 20:
        return ReadingPattern.SCANNER
    if scroll < 25 and seconds < 10:
        return ReadingPattern.BOUNCE
    return ReadingPattern.SKIMMER
