"""Days that clocks change on. America/Havana leaves daylight saving time on 2025-11-02 at 01:00, back
to 00:00, so that day starts at 04:00 UTC (00:00 CDT) and its first hour comes again at 05:00 UTC
(00:00 CST). PostgreSQL reads "2025-11-02 00:00" in that zone as the later instant; the day rollups'
rows must still land on that day in every series, and retention (rollups and raw events) must keep
all of it. Australia/Lord_Howe moves by 30 minutes: every hour bucket keeps its sessions. And Python
reads the pinned time zone database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.retention import enforce_retention, set_raw_retention
from analytics.rollups.recompute import verify_rollups
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


async def test_raw_retention_keeps_the_first_hour_of_a_day_whose_midnight_occurs_twice(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any, app_engine: AsyncEngine, owner_engine: AsyncEngine
) -> None:
    site = await make_tenant(timezone="America/Havana")
    pages = [page("2025-11-02T04:30:00Z", "/", CHROME, anon="a1"), page("2025-11-02T15:00:00Z", "/", CHROME, anon="a2")]
    assert (await gql.track(site.publishable, pages))["accepted"] == 2
    await run_worker()
    async with owner_engine.begin() as conn:
        await set_raw_retention(conn, site.id, 8, rollup_days=3650)
    # local day 2025-11-11 less 8 + 1 days: 2025-11-02 is the first raw day kept
    await enforce_retention(app_engine, now=datetime(2025, 11, 11, 17, tzinfo=UTC), rollup_days=3650)
    async with owner_engine.connect() as conn:
        kept = (await conn.execute(text("SELECT count(*) FROM events WHERE tenant_id = :t"), {"t": site.id})).scalar()
        first = (await conn.execute(text("SELECT raw_events_from FROM tenants WHERE id = :t"), {"t": site.id})).scalar()
        assert (kept, first) == (2, datetime(2025, 11, 2, 4, tzinfo=UTC))
        assert await verify_rollups(conn, site.id) == []


async def test_every_hour_bucket_keeps_its_sessions_when_clocks_move_by_thirty_minutes(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any
) -> None:
    """Lord Howe Island goes from 02:00 to 02:30 on 2025-10-05 (UTC+10:30 to +11)."""
    site = await make_tenant(timezone="Australia/Lord_Howe")
    pages = [
        page("2025-10-04T14:45:00Z", "/", CHROME, anon="a1"),  # 01:15 +10:30
        page("2025-10-04T15:45:00Z", "/", CHROME, anon="a2"),  # 02:45 +11
        page("2025-10-04T16:45:00Z", "/", CHROME, anon="a3"),  # 03:45 +11
    ]
    assert (await gql.track(site.publishable, pages))["accepted"] == 3
    await run_worker()
    query = """{ tenant { sessionSeries(range: {from: "2025-10-05", to: "2025-10-05"}, granularity: HOUR) {
      points { start sessions } } } }"""
    points = (await gql.data(site.secret, query))["tenant"]["sessionSeries"]["points"]
    assert {p["start"]: p["sessions"] for p in points if p["sessions"]} == {
        "2025-10-05T01:00:00+10:30": 1, "2025-10-05T02:30:00+11:00": 1, "2025-10-05T03:30:00+11:00": 1}


def test_python_reads_the_pinned_time_zone_database() -> None:
    """Zones come from the tzdata package, the same on every machine, not from the system's copy
    (which may be years old: 2025b still has British Columbia on UTC-8 this winter)."""
    import zoneinfo

    import analytics  # noqa: F401  (sets the path on import)

    assert zoneinfo.TZPATH == ()
    vancouver = datetime(2026, 12, 4, 12, tzinfo=UTC).astimezone(ZoneInfo("America/Vancouver"))
    assert vancouver.utcoffset() is not None and vancouver.utcoffset().total_seconds() == -7 * 3600
