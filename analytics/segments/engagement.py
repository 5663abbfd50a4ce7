"""The engagement score (0-10) and the thresholds of the four built-in segments, read from the
rollup tables (``user_days``), never from raw events.

As of a tenant-local day D, over a window of W days (D - W + 1 .. D, default 28), from the user's
human (non-bot) activity on days up to D:

- recency   = max(0, 1 - (D - last active day) / W)     (1 when active on D, 0 after W days of silence)
- frequency = active days in the window / W
- depth     = min(1, events in the window / active days in the window / depth target)  (default 10)
- score     = round(10 * (0.4 * recency + 0.4 * frequency + 0.2 * depth), 1)

Built-in segments, each user in at most one, decided in this order: ``new`` (first active day within
the last ``new_days`` = 14 days: D - first day < 14), ``power`` (score >= 7), ``regular``
(score >= 4), ``at_risk`` (active before, now below the regular threshold: declining, or silent for
at most ``at_risk_days`` = 56 days). Someone silent longer is in none (lapsed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.errors import InvalidArgument

NEW, POWER, REGULAR, AT_RISK = "new", "power", "regular", "at_risk"
BUILT_IN: dict[str, str] = {POWER: "Power users", REGULAR: "Regular users", NEW: "New users",
                            AT_RISK: "At risk"}


@dataclass(frozen=True)
class Thresholds:
    """A tenant's engagement window and built-in segment thresholds (the defaults are reference 001's)."""

    window_days: int = 28
    depth_target: float = 10.0
    power_min: float = 7.0
    regular_min: float = 4.0
    new_days: int = 14
    at_risk_days: int = 56

    def check(self) -> Thresholds:
        if not 7 <= self.window_days <= 365:
            raise InvalidArgument("windowDays", "must be 7 to 365 days")
        if not 0 < self.depth_target <= 10_000:
            raise InvalidArgument("depthTarget", "must be above 0 and at most 10000 events a day")
        if not 0 <= self.regular_min <= self.power_min <= 10:
            raise InvalidArgument("powerMin", "needs 0 <= regularMin <= powerMin <= 10")
        if not 1 <= self.new_days <= 365:
            raise InvalidArgument("newDays", "must be 1 to 365 days")
        if not 1 <= self.at_risk_days <= 760:
            raise InvalidArgument("atRiskDays", "must be 1 to 760 days")
        return self

    def built_in(self, *, score: float, age_days: int, silent_days: int) -> str | None:
        """The built-in segment of a user with this score, first-seen age and days since last active."""
        if age_days < self.new_days:
            return NEW
        if score >= self.power_min:
            return POWER
        if score >= self.regular_min:
            return REGULAR
        if silent_days <= self.at_risk_days:
            return AT_RISK
        return None


# The score of one user as SQL, from the columns ``last_day``, ``active_days``, ``events`` of a row
# and the parameters :day (D), :window (W) and :depth (the depth target): the one definition.
SCORE_SQL = """round(CAST(10 * (
    0.4 * greatest(0, 1 - coalesce(CAST(:day AS date) - {p}last_day, CAST(:window AS integer))::numeric
                          / CAST(:window AS integer))
  + 0.4 * {p}active_days::numeric / CAST(:window AS integer)
  + 0.2 * least(1, {p}events::numeric / greatest({p}active_days, 1) / CAST(:depth AS numeric)))
  AS numeric), 1)"""

# Per user key of ``{keys}`` (a query with a ``user_key`` column): first and last active day up to
# :day, active days and events in the window; users without human activity get NULL days.
FEATURES_SQL = """
    SELECT k.user_key, f.first_day, f.last_day, coalesce(f.active_days, 0) AS active_days,
           coalesce(f.events, 0) AS events
    FROM ({keys}) k LEFT JOIN LATERAL (
        SELECT min(day) AS first_day, max(day) AS last_day,
               count(*) FILTER (WHERE day > CAST(:day AS date) - CAST(:window AS integer))
                   AS active_days,
               sum(events) FILTER (WHERE day > CAST(:day AS date) - CAST(:window AS integer)) AS events
        FROM user_days WHERE tenant_id = :tenant AND user_key = k.user_key AND NOT bot
          AND day <= CAST(:day AS date)) f ON true
"""


def score_params(thresholds: Thresholds) -> dict[str, Any]:
    return {"window": thresholds.window_days, "depth": thresholds.depth_target}


_LOAD = text("SELECT window_days, depth_target, power_min, regular_min, new_days, at_risk_days "
             "FROM segment_settings WHERE tenant_id = :tenant")
_SAVE = text(
    """
    INSERT INTO segment_settings (tenant_id, window_days, depth_target, power_min, regular_min, new_days,
                                  at_risk_days)
    VALUES (:tenant, :window_days, :depth_target, :power_min, :regular_min, :new_days, :at_risk_days)
    ON CONFLICT (tenant_id) DO UPDATE SET window_days = EXCLUDED.window_days,
        depth_target = EXCLUDED.depth_target, power_min = EXCLUDED.power_min,
        regular_min = EXCLUDED.regular_min, new_days = EXCLUDED.new_days, at_risk_days = EXCLUDED.at_risk_days
    """
)


async def load_thresholds(conn: AsyncConnection, tenant_id: int) -> Thresholds:
    row = (await conn.execute(_LOAD, {"tenant": tenant_id})).one_or_none()
    return Thresholds(*row) if row else Thresholds()


async def save_thresholds(conn: AsyncConnection, tenant_id: int, thresholds: Thresholds) -> Thresholds:
    """Store checked thresholds and mark every known user for re-evaluation (the segments job)."""
    await conn.execute(_SAVE, {"tenant": tenant_id, **asdict(thresholds.check())})
    await mark_all_users(conn, tenant_id)
    return thresholds


async def mark_all_users(conn: AsyncConnection, tenant_id: int) -> None:
    await conn.execute(text(
        "INSERT INTO segment_dirty_users (tenant_id, user_key) "
        "SELECT CAST(:tenant AS bigint), user_key FROM segment_users "
        "WHERE tenant_id = :tenant ON CONFLICT (tenant_id, user_key) DO NOTHING"), {"tenant": tenant_id})
