"""The rollup's consumers, in the order the rollup transaction calls them (analytics.rollups.consumers).

Add a consumer here and the rollup, the day corrections, retention and ``analytics rollups verify``
all take it up.
"""

from __future__ import annotations

from analytics.ai.consumer import COSTS
from analytics.content.upkeep import CONTENT_SESSIONS
from analytics.custom_events.rollup import CUSTOM_EVENTS
from analytics.experiments.aggregates import EXPERIMENTS
from analytics.features.upkeep import FEATURES
from analytics.funnels.progress import FUNNELS
from analytics.rollups.consumers import Consumer
from analytics.rollups.counters import COUNTERS
from analytics.segments.upkeep import SEGMENTS
from analytics.sessions.days import SESSION_DAYS
from analytics.users.activity import USER_DAYS

CONSUMERS: tuple[Consumer, ...] = (COUNTERS, USER_DAYS, CUSTOM_EVENTS, SEGMENTS, FEATURES, FUNNELS, COSTS,
                                    EXPERIMENTS, SESSION_DAYS, CONTENT_SESSIONS)
