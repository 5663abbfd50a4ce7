"""A day whose local midnight occurs twice: America/Havana leaves daylight saving time on 2025-11-02 at
01:00, back to 00:00, so that day starts at 04:00 UTC (00:00 CDT) and its first hour comes again at
05:00 UTC (00:00 CST). PostgreSQL reads "2025-11-02 00:00" in that zone as the later instant; the day
rollups' rows must still land on that day in every series, and retention must keep all of it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.retention import enforce_retention
from tests.api.test_sessions import CHROME, page
from tests.conftest import GraphQLClient, event

RANGE = {"from": "2025-11-01", "to": "2025-11-03"}
SERIES = """query($range: RangeInput!) { tenant {
  sessionSeries(range: $range, granularity: DAY) { points { date sessions visitors pageViews } }
  sessionStats(range: $range) { sessions visitors }
  costs(range: $range) { trends(granularity: DAY) { points { start cost requests } } }
} }"""


def ai(at: str, cost: float) -> dict[str, Any]:
    return event("AIRequest", at, "u1", ai={"provider": "acme", "model": "acme-1", "cost": cost})


async def test_a_repeated_midnight_keeps_its_day_in_every_series(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any, app_engine: AsyncEngine
) -> None:
    site, bot = await make_tenant(timezone="America/Havana"), await make_tenant(timezone="America/Havana")
    pages = [
        page("2025-11-01T15:00:00Z", "/", CHROME, anon="a1"),  # 11:00 CDT on the 1st
        page("2025-11-02T04:30:00Z", "/", CHROME, anon="a2"),  # 00:30 CDT: the 2nd's first hour
        page("2025-11-02T15:00:00Z", "/", CHROME, anon="a3"),  # 10:00 CST on the 2nd
        page("2025-11-03T15:00:00Z", "/", CHROME, anon="a4"),
    ]
    requests = [
        ai("2025-11-01T15:00:00Z", 1.0),
        ai("2025-11-02T04:30:00Z", 2.0),
        ai("2025-11-02T15:00:00Z", 4.0),
        ai("2025-11-03T15:00:00Z", 8.0),
    ]
    assert (await gql.track(site.publishable, pages))["accepted"] == len(pages)
    assert (await gql.track(bot.publishable, requests))["accepted"] == len(requests)
    await run_worker()
    data = (await gql.data(site.secret, SERIES, {"range": RANGE}))["tenant"]
    assert data["sessionStats"] == {"sessions": 4, "visitors": 4}
    assert data["sessionSeries"]["points"] == [
        {"date": "2025-11-01", "sessions": 1, "visitors": 1, "pageViews": 1},
        {"date": "2025-11-02", "sessions": 2, "visitors": 2, "pageViews": 2},
        {"date": "2025-11-03", "sessions": 1, "visitors": 1, "pageViews": 1},
    ]
    data = (await gql.data(bot.secret, SERIES, {"range": RANGE}))["tenant"]
    assert data["costs"]["trends"]["points"] == [
        {"start": "2025-11-01T00:00:00-04:00", "cost": 1.0, "requests": 1},
        {"start": "2025-11-02T00:00:00-04:00", "cost": 6.0, "requests": 2},
        {"start": "2025-11-03T00:00:00-05:00", "cost": 8.0, "requests": 1},
    ]
    # Rollups kept from local day 2025-11-02 on: all of it stays, its first hour included.
    await enforce_retention(app_engine, now=datetime(2025, 11, 12, 17, tzinfo=UTC), rollup_days=10)
    data = (await gql.data(site.secret, SERIES, {"range": RANGE}))["tenant"]
    assert data["sessionStats"] == {"sessions": 3, "visitors": 3}
    assert [p["sessions"] for p in data["sessionSeries"]["points"]] == [0, 2, 1]
