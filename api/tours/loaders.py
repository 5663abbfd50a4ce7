"""Request-scoped DataLoaders: a page of tours asking for stats costs one query per period."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from analytics.periods import Period
from analytics.tours import stats
from api.context import AppInfo


def _period_key(period: Period) -> tuple[object, ...]:
    return (period.start, period.end, period.days)


async def load_counts(info: AppInfo, tour_id: str | None, period: Period,
                      include_bots: bool = False) -> stats.TourCounts:
    """Counts of one tour, or of every tour together when ``tour_id`` is None."""
    context = info.context
    name = f"tour_counts:{_period_key(period)}:{include_bots}"
    loader = context.loaders.get(name)
    if loader is None:
        async def batch(keys: Sequence[str | None]) -> list[stats.TourCounts]:
            async with context.read() as conn:
                ids = [k for k in keys if k is not None]
                by_tour = await stats.tour_counts(conn, tour_ids=ids, period=period,
                                                  include_bots=include_bots) if ids else {}
                total = (stats.combined(list((await stats.tour_counts(
                    conn, tour_ids=None, period=period, include_bots=include_bots)).values()))
                    if None in keys else None)
            return [total if key is None else by_tour[key] for key in keys]  # type: ignore[misc]

        loader = context.loaders[name] = DataLoader(load_fn=batch)
    result: stats.TourCounts = await loader.load(tour_id)
    return result
