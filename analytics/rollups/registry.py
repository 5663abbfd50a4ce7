"""The rollup's consumers, in the order the rollup transaction calls them (analytics.rollups.consumers).

Add a consumer here and the rollup, the day corrections, retention and ``analytics rollups verify``
all take it up.
"""

from __future__ import annotations

from analytics.experiments.aggregates import EXPERIMENTS
from analytics.rollups.consumers import Consumer
from analytics.rollups.counters import COUNTERS
from analytics.users.activity import USER_DAYS

CONSUMERS: tuple[Consumer, ...] = (COUNTERS, USER_DAYS,
                                    EXPERIMENTS)
