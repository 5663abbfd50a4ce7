"""Tour analytics read from the rollups: totals, series, funnel, user status, selector health."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.db import CURRENT_TENANT
from analytics.db import HUMANS_UNLESS_INCLUDE_BOTS as HUMANS
from analytics.ingest.catalogue import TOUR, TOUR_METRICS
from analytics.periods import Granularity, Period, bucket_day, bucket_starts, local_midnight
from analytics.rollups import sketches
from analytics.rollups.reads import counter_rows, ids_filter


@dataclass(frozen=True)
class TourCounts:
    """The tour counters of one period (or one bucket) and the rates derived from them."""

    starts: int = 0
    completions: int = 0
    dismissals: int = 0
    restarts: int = 0
    step_views: int = 0
    step_completions: int = 0
    target_failures: int = 0

    @classmethod
    def from_mapping(cls, values: dict[str, int]) -> TourCounts:
        return cls(**{m: int(values.get(m, 0)) for m in TOUR_METRICS})

    @property
    def completion_rate(self) -> float | None:
        return metrics.completion_rate(self.completions, self.starts)

    @property
    def dismissal_rate(self) -> float | None:
        return metrics.dismissal_rate(self.dismissals, self.starts)


async def tour_counts(
    conn: AsyncConnection, *, tour_ids: Sequence[str] | None, period: Period, include_bots: bool = False
) -> dict[str, TourCounts]:
    """Totals per tour over the period (all tours with data when ``tour_ids`` is None)."""
    totals: dict[str, dict[str, int]] = defaultdict(dict)
    rows = await counter_rows(conn, entity_type=TOUR, entity_ids=tour_ids, period=period, by="total",
                              include_bots=include_bots)
    for tour_id, _, metric, value in rows:
        totals[tour_id][metric] = value
    result = {tour_id: TourCounts.from_mapping(values) for tour_id, values in totals.items()}
    for tour_id in tour_ids or ():
        result.setdefault(tour_id, TourCounts())
    return result


def combined(counts: Sequence[TourCounts]) -> TourCounts:
    return TourCounts(**{m: sum(getattr(c, m) for c in counts) for m in TOUR_METRICS})


@dataclass(frozen=True)
class SeriesPoint:
    start: datetime
    counts: TourCounts


async def tour_series(
    conn: AsyncConnection, *, tour_id: str | None, period: Period, granularity: Granularity,
    include_bots: bool = False,
) -> list[SeriesPoint]:
    """One point per bucket, empty buckets as zeros; ``tour_id=None`` sums every tour."""
    starts = bucket_starts(period, granularity)
    buckets: dict[datetime, dict[str, int]] = {start: defaultdict(int) for start in starts}
    if granularity is Granularity.HOUR:
        rows = await counter_rows(conn, entity_type=TOUR, entity_ids=None if tour_id is None else [tour_id],
                                   period=_as_hourly(period), by="bucket", include_bots=include_bots)
        for _, at, metric, value in rows:
            assert isinstance(at, datetime)
            key = max(at, starts[0])
            if key in buckets:
                buckets[key][metric] += value
    else:
        whole = period.whole_days()
        rows = await counter_rows(conn, entity_type=TOUR, entity_ids=None if tour_id is None else [tour_id],
                                   period=whole, by="day", include_bots=include_bots)
        assert whole.days is not None
        for _, at, metric, value in rows:
            assert isinstance(at, date)
            first = max(bucket_day(at, granularity), whole.days[0])
            key = local_midnight(first, period.tz)
            if key in buckets:
                buckets[key][metric] += value
    return [SeriesPoint(start, TourCounts.from_mapping(values)) for start, values in buckets.items()]


def _as_hourly(period: Period) -> Period:
    return Period(period.start, period.end, period.tz, None)


@dataclass(frozen=True)
class FunnelStep:
    index: int
    title: str | None
    selector: str | None
    users: int
    percent_of_first: float
    drop_off: float  # percentage points of the first step lost since the previous step


@dataclass(frozen=True)
class Funnel:
    period: Period
    steps: list[FunnelStep] = field(default_factory=list)

    @property
    def biggest_drop_off(self) -> FunnelStep | None:
        candidates = [s for s in self.steps[1:] if s.drop_off > 0]
        return max(candidates, key=lambda s: (s.drop_off, -s.index)) if candidates else None


def build_funnel(period: Period, definitions: dict[int, tuple[str | None, str | None]],
                 users_by_step: dict[int, int]) -> Funnel:
    """Steps in index order, users per step, share of the first step and drop-off per step."""
    indexes = sorted(set(definitions) | set(users_by_step))
    first_users = users_by_step.get(indexes[0], 0) if indexes else 0
    steps: list[FunnelStep] = []
    previous_users = first_users
    for index in indexes:
        users = users_by_step.get(index, 0)
        drop = metrics.percent_of_first(max(previous_users - users, 0), first_users)
        title, selector = definitions.get(index, (None, None))
        steps.append(FunnelStep(index, title, selector, users,
                                metrics.percent_of_first(users, first_users), drop))
        previous_users = users
    return Funnel(period, steps)


# Distinct viewers per (tour, step) over whole days (``:whole_first`` .. ``:whole_last``): the per-day
# sketches of the days that have them, the daily_users rows of the rest (analytics.rollups.sketches),
# each (step, day, bot side) group of the rest found through its counters_daily row.
_STEP_KEY = "ARRAY[g.entity_id, CAST(g.step_index AS text)]"
_STEP_VIEWS = f"{sketches.tour_step_views('g.')} AND {ids_filter('g.entity_id')}"
_STEP_USERS = text(sketches.count_sql(
    sketches.TOUR_STEPS, sketches.daily_users_people(_STEP_KEY, _STEP_VIEWS),
    sketch_filter=f" AND {ids_filter('s.key[1]')}"))
_STEP_DEFINITIONS = text(
    f"SELECT tour_id, step_index, title, selector FROM tour_steps WHERE {CURRENT_TENANT} "
    f"AND {ids_filter('tour_id')}"
)


async def funnels(conn: AsyncConnection, *, tour_ids: Sequence[str] | None,
                  period: Period, include_bots: bool = False) -> dict[str, Funnel]:
    """Distinct users who viewed each step, per tour, over the whole local days of the period."""
    whole = period.whole_days()
    assert whole.days is not None
    ids = list(tour_ids) if tour_ids is not None else None
    users: dict[str, dict[int, int]] = defaultdict(dict)
    counted = sketches.counts_from(await conn.execute(
        _STEP_USERS, {"whole_first": whole.days[0], "whole_last": whole.days[1], "ids": ids,
                      "include_bots": include_bots}))
    for (tour_id, index), count in counted.items():
        users[tour_id][int(index)] = count
    definitions: dict[str, dict[int, tuple[str | None, str | None]]] = defaultdict(dict)
    for tour_id, index, title, selector in await conn.execute(_STEP_DEFINITIONS, {"ids": ids}):
        definitions[tour_id][index] = (title, selector)
    wanted = ids if ids is not None else sorted(set(users) | set(definitions))
    return {t: build_funnel(whole, definitions.get(t, {}), users.get(t, {})) for t in wanted}


@dataclass(frozen=True)
class UserStatus:
    """Distinct users of the period by what they did: started, completed, dismissed, in progress."""

    started: int
    completed: int
    dismissed: int
    in_progress: int


_USER_STATUS = text(
    f"""
    WITH people AS (
        SELECT user_key,
               bool_or(metric = 'starts') AS started,
               bool_or(metric = 'completions') AS completed,
               bool_or(metric = 'dismissals') AS dismissed
        FROM daily_users
        WHERE {CURRENT_TENANT} AND entity_type = 'tour' AND entity_id = :tour AND step_index = -1
          AND metric IN ('starts', 'completions', 'dismissals') AND day BETWEEN :first AND :last
          AND {HUMANS}
        GROUP BY user_key
    )
    SELECT count(*) FILTER (WHERE started), count(*) FILTER (WHERE completed),
           count(*) FILTER (WHERE dismissed),
           count(*) FILTER (WHERE started AND NOT completed AND NOT dismissed)
    FROM people
    """
)


async def user_status(conn: AsyncConnection, *, tour_id: str, period: Period,
                      include_bots: bool = False) -> UserStatus:
    whole = period.whole_days()
    assert whole.days is not None
    row = (await conn.execute(_USER_STATUS, {"tour": tour_id, "first": whole.days[0],
                                             "last": whole.days[1],
                                             "include_bots": include_bots})).one()
    return UserStatus(*(int(v) for v in row))


@dataclass(frozen=True)
class SelectorFailure:
    selector: str
    failures: int
    last_seen_at: datetime
    urls: list[str]
    tour_ids: list[str]


@dataclass(frozen=True)
class SelectorHealth:
    period: Period
    total_failures: int
    selectors: list[SelectorFailure]


_SELECTORS = text(
    f"""
    SELECT selector, sum(failures) AS failures, max(last_seen_at),
           array_agg(DISTINCT url) FILTER (WHERE url <> ''),
           array_agg(DISTINCT entity_id) FILTER (WHERE entity_type = 'tour')
    FROM selector_failures_daily
    WHERE {CURRENT_TENANT} AND day BETWEEN :first AND :last AND {HUMANS}
      AND (CAST(:tour AS text) IS NULL OR (entity_type = 'tour' AND entity_id = :tour))
    GROUP BY selector ORDER BY failures DESC, selector
    """
)


async def selector_health(conn: AsyncConnection, *, tour_id: str | None, period: Period,
                          limit: int, include_bots: bool = False) -> SelectorHealth:
    """Broken selectors ranked by failures over the whole local days of the period."""
    whole = period.whole_days()
    assert whole.days is not None
    rows = (await conn.execute(_SELECTORS, {"first": whole.days[0], "last": whole.days[1],
                                            "tour": tour_id, "include_bots": include_bots})).all()
    selectors = [SelectorFailure(r[0], int(r[1]), r[2], sorted(r[3] or []), sorted(r[4] or []))
                 for r in rows]
    return SelectorHealth(whole, sum(s.failures for s in selectors), selectors[:limit])


@dataclass(frozen=True)
class TourOverview:
    period: Period
    active_tours: int
    totals: TourCounts
    top_tour: tuple[str, TourCounts] | None
    needs_attention: tuple[str, FunnelStep] | None


async def overview(conn: AsyncConnection, *, period: Period, include_bots: bool = False) -> TourOverview:
    """Across all tours: active tours, combined completion rate, the best tour, the worst drop."""
    counts = await tour_counts(conn, tour_ids=None, period=period, include_bots=include_bots)
    active = {t: c for t, c in counts.items() if c.starts > 0}
    top = max(active.items(), key=lambda item: (item[1].completion_rate or 0.0, item[1].starts,
                                                  item[0]), default=None)
    attention: tuple[str, FunnelStep] | None = None
    for tour_id, funnel in sorted((await funnels(conn, tour_ids=None, period=period,
                                                 include_bots=include_bots)).items()):
        drop = funnel.biggest_drop_off
        if drop is not None and (attention is None or drop.drop_off > attention[1].drop_off):
            attention = (tour_id, drop)
    return TourOverview(period, len(active), combined(list(counts.values())), top, attention)
