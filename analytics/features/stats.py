"""Feature adoption over a range of tenant-local days: per feature the usage count (matching events),
unique users, adoption rate (unique users / active users * 100) and its trend against a comparison
period. Reads ``feature_user_days`` and ``user_days`` only, never raw events."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.db import CURRENT_TENANT, HUMANS_UNLESS_INCLUDE_BOTS
from analytics.features.service import Feature, list_features
from analytics.segments.service import member_of
from analytics.usage.stats import active_users

STABLE_BAND = Fraction(5, 100)  # a relative change of the rate within ±5 % is STABLE


class Trend(enum.Enum):
    UP = "UP"
    DOWN = "DOWN"
    STABLE = "STABLE"


def adoption_trend(users: int, active: int, previous_users: int, previous_active: int) -> Trend:
    """UP / DOWN when the adoption rate changed by more than 5 % of the previous rate (relative, exact
    fractions: 50 % -> 52.5 % is +5 %, STABLE; 50 % -> 52.6 % is UP); STABLE within ±5 % inclusive.
    Without a previous rate (no active users or no use before): UP when the feature is used now, else
    STABLE."""
    now = Fraction(users, active) if active else Fraction(0)
    before = Fraction(previous_users, previous_active) if previous_active else Fraction(0)
    if before == 0:
        return Trend.UP if now > 0 else Trend.STABLE
    change = (now - before) / before
    if change > STABLE_BAND:
        return Trend.UP
    if change < -STABLE_BAND:
        return Trend.DOWN
    return Trend.STABLE


@dataclass(frozen=True)
class FeatureUse:
    usage_count: int
    unique_users: int
    active_users: int

    @property
    def adoption_rate(self) -> float | None:
        return metrics.adoption_rate(self.unique_users, self.active_users)


@dataclass(frozen=True)
class FeatureAdoption:
    feature: Feature
    use: FeatureUse
    previous: FeatureUse

    @property
    def trend(self) -> Trend:
        return adoption_trend(self.use.unique_users, self.use.active_users, self.previous.unique_users,
                              self.previous.active_users)


_USE = f"""
    SELECT feature_id, coalesce(sum(events), 0) AS usage, count(DISTINCT user_key) AS users
    FROM feature_user_days WHERE {CURRENT_TENANT} AND {HUMANS_UNLESS_INCLUDE_BOTS}
      AND day BETWEEN :first AND :last AND {member_of("user_key")} GROUP BY feature_id
"""


async def feature_use(conn: AsyncConnection, *, first_day: date, last_day: date, include_bots: bool,
                      segment: str | None = None, segment_at: datetime | None = None
                      ) -> tuple[int, dict[int, FeatureUse]]:
    """The days' active users, and each used feature's figures (features without use are absent).
    With a ``segment``, only its members as of ``segment_at`` count, in both."""
    active = await active_users(conn, first_day=first_day, last_day=last_day, include_bots=include_bots,
                                segment=segment, segment_at=segment_at)
    rows = await conn.execute(text(_USE), {"first": first_day, "last": last_day, "include_bots": include_bots,
                                           "segment": segment, "segment_at": segment_at})
    return active, {int(r.feature_id): FeatureUse(int(r.usage), int(r.users), active) for r in rows}


async def feature_adoption(conn: AsyncConnection, *, days: tuple[date, date],
                           previous_days: tuple[date, date], include_bots: bool,
                           segment: str | None = None,
                           segment_ats: tuple[datetime, datetime] | None = None) -> list[FeatureAdoption]:
    """Every feature of the tenant (by name) over ``days``, against ``previous_days``; with a
    ``segment``, among its members as of each period's end (``segment_ats``)."""
    features = await list_features(conn)
    now_at, before_at = segment_ats if segment_ats is not None else (None, None)
    active, now = await feature_use(conn, first_day=days[0], last_day=days[1], include_bots=include_bots,
                                    segment=segment, segment_at=now_at)
    active_before, before = await feature_use(conn, first_day=previous_days[0], last_day=previous_days[1],
                                              include_bots=include_bots, segment=segment,
                                              segment_at=before_at)
    return [FeatureAdoption(f, now.get(f.id, FeatureUse(0, 0, active)),
                            before.get(f.id, FeatureUse(0, 0, active_before))) for f in features]
