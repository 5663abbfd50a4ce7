"""The funnel's day sums answer exactly as the scan of every attempt: shuffled journeys folded claim by
claim (late events, several attempts per person, voids, open windows, bots, per-session counting),
ranges with partial days and a daylight-saving change, ``as_of`` inside the data and at a midnight,
and after a session turned bot and its days were corrected."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import lock_tenant, tenant_transaction
from analytics.funnels.result import funnel_figures
from analytics.funnels.store import list_funnels
from analytics.periods import Period
from analytics.rollups.recompute import verify_rollups
from analytics.sessions.correction import correct_days
from tests.conftest import GraphQLClient, TenantKeys, event
from tests.product.funnel_helpers import CHROME, GOOGLEBOT, define

ZONE = ZoneInfo("America/New_York")  # daylight saving time begins on 2025-03-09
T0 = datetime(2025, 3, 1, tzinfo=ZONE)
NAMES = ("a", "b", "c")
GAPS = (60.0, 3600.0)  # shared by many attempts: equal step times must be counted, not merged


def _local(day: int, hour: float = 0.0) -> datetime:
    return datetime(2025, 3, day, tzinfo=ZONE) + timedelta(hours=hour)


def _journeys(rng: random.Random, t0: datetime = T0) -> list[dict[str, Any]]:
    """Forty people, one to three attempts each over 20 days from ``t0``; some are crawlers."""
    events: list[dict[str, Any]] = []
    for n in range(40):
        user, agent = f"p{n}", GOOGLEBOT if n % 9 == 0 else CHROME
        for _ in range(rng.randint(1, 3)):
            at = t0 + timedelta(seconds=rng.uniform(0, 20 * 86400))
            for name in NAMES:
                if name != "a" and rng.random() < 0.3:
                    break
                events.append(_event(name, at, user, agent, t0.tzinfo))
                if rng.random() < 0.1:
                    events.append(_event(rng.choice(("x", "cancel")), at + timedelta(seconds=5), user, agent,
                                         t0.tzinfo))
                gap = rng.choice(GAPS) if rng.random() < 0.3 else rng.uniform(10, 2 * 86400)
                at += timedelta(seconds=gap)
    rng.shuffle(events)
    return events


def _event(name: str, at: datetime, user: str, agent: str, zone: Any = ZONE) -> dict[str, Any]:
    stamp = at.astimezone(zone).isoformat(timespec="microseconds")
    return event("Custom", stamp, user, name=name, context={"userAgent": f"{agent} u/{user}"})


PERIODS = [
    (_local(1), _local(22)),  # whole days, all the data
    (_local(3, 13.3), _local(12, 8.1)),  # partial first and last days
    (_local(5), _local(6)),  # one day
    (_local(8), _local(11)),  # across the change to daylight saving time
    (_local(1, 5), datetime(2025, 4, 1, tzinfo=ZONE)),  # ends after the data
]
NOWS: list[datetime | None] = [None, _local(10, 15.5), _local(12), _local(6, 23.9999), _local(9, 9.5)]


async def _compare(app_engine: AsyncEngine, tenant_id: int, zone: ZoneInfo = ZONE,
                   periods: list[tuple[datetime, datetime]] = PERIODS, nows: list[datetime | None] = NOWS) -> int:
    """Every funnel, period, ``now`` and bot choice: the sums equal the scan. Returns the answers compared."""
    compared = 0
    async with tenant_transaction(app_engine, tenant_id) as conn:
        funnels = await list_funnels(conn, tenant_id)
        for funnel in funnels:
            for start, end in periods:
                period = Period(start, end, zone, None)
                for now in nows:
                    for bots in (False, True):
                        summed = await funnel_figures(conn, tenant_id, funnel, period, include_bots=bots, now=now)
                        scanned = await funnel_figures(conn, tenant_id, funnel, period, include_bots=bots,
                                                       now=now, scan=True)
                        assert summed == scanned, (funnel.definition.name, start, end, now, bots)
                        compared += 1
    return compared


async def _fold_journeys(gql: GraphQLClient, tenant: TenantKeys, run_worker: Any, t0: datetime) -> None:
    """The four funnels defined, then the journeys sent and folded claim by claim (late events included)."""
    await define(gql, tenant.secret, "ordered", windowSeconds=2 * 86400, exclusions=[{"event": "cancel"}])
    await define(gql, tenant.secret, "strict", windowSeconds=86400, order="STRICT", within={1: 3 * 3600})
    await define(gql, tenant.secret, "sessions", order="UNORDERED", counting="SESSION")
    await define(gql, tenant.secret, "open")  # 14 days: many attempts still open at ``now``
    journeys = _journeys(random.Random(11), t0)
    for start in range(0, len(journeys), 40):
        batch = journeys[start:start + 40]
        assert (await gql.track(tenant.publishable, batch))["accepted"] == len(batch)
        await run_worker()


async def test_day_sums_equal_the_scan(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                       app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant(timezone="America/New_York")
    await _fold_journeys(gql, tenant, run_worker, T0)
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
        sole, shared, summed = (await conn.execute(text(
            "SELECT count(*) FILTER (WHERE sole), count(*) FILTER (WHERE NOT sole), "
            "(SELECT sum(attempts) FROM funnel_days WHERE tenant_id = :t) "
            "FROM funnel_attempts WHERE tenant_id = :t"), {"t": tenant.id})).one()
    assert sole > 50 and shared > 50 and summed == sole  # both ways of counting are exercised
    assert await _compare(app_engine, tenant.id) == 4 * len(PERIODS) * len(NOWS) * 2

    # Sessions turn bot after the fold; the day correction moves their attempts' sums.
    async with owner_engine.begin() as conn:
        await conn.execute(text(
            "UPDATE sessions SET is_behavioural_bot = true WHERE tenant_id = :t AND id IN (SELECT session_key "
            "FROM funnel_attempts WHERE tenant_id = :t AND person IN ('u:p1', 'u:p2', 'u:p5'))"),
            {"t": tenant.id})
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        await lock_tenant(conn, tenant.id)
        await correct_days(conn, tenant.id, [T0.date() + timedelta(days=d) for d in range(25)], ZONE)
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
        bots = (await conn.execute(text("SELECT count(*) FROM funnel_attempts WHERE tenant_id = :t AND bot "
                                        "AND person IN ('u:p1', 'u:p2', 'u:p5')"), {"t": tenant.id})).scalar_one()
    assert bots > 0
    await _compare(app_engine, tenant.id)


HAVANA = ZoneInfo("America/Havana")  # back from 01:00 to 00:00 on 2025-11-02: that midnight occurs twice


async def test_day_sums_equal_the_scan_when_a_midnight_occurs_twice(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, app_engine: AsyncEngine) -> None:
    """A range starting at the second 00:00 of 2025-11-02 (05:00 UTC) does not hold that day whole:
    the attempts of its first hour (04:00-05:00 UTC) are not counted."""
    tenant: TenantKeys = await make_tenant(timezone="America/Havana")
    await _fold_journeys(gql, tenant, run_worker, datetime(2025, 10, 26, tzinfo=HAVANA))
    utc = ZoneInfo("UTC")
    periods = [
        (datetime(2025, 11, 2, 5, tzinfo=utc), datetime(2025, 11, 5, 5, tzinfo=utc)),  # from the second 00:00
        (datetime(2025, 11, 2, 4, tzinfo=utc), datetime(2025, 11, 5, 5, tzinfo=utc)),  # from the first
        (datetime(2025, 11, 1, 4, tzinfo=utc), datetime(2025, 11, 2, 5, tzinfo=utc)),  # to the second
        (datetime(2025, 10, 26, 4, tzinfo=utc), datetime(2025, 11, 16, 5, tzinfo=utc)),
    ]
    nows: list[datetime | None] = [None, datetime(2025, 11, 2, 4, 30, tzinfo=utc),
                                   datetime(2025, 11, 2, 5, 30, tzinfo=utc), datetime(2025, 11, 3, 4, 30, tzinfo=utc)]
    assert await _compare(app_engine, tenant.id, HAVANA, periods, nows) == 4 * len(periods) * len(nows) * 2


async def test_attempts_ending_on_the_day_of_as_of_count_open_until_their_end(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, app_engine: AsyncEngine) -> None:
    """Attempts that last moved before ``as_of``'s day and end on it are summed, not read one by one:
    each is dropped if it ended before ``as_of`` and in progress if it ends at or after it (morning and
    afternoon ``as_of`` count that from opposite sides of it)."""
    tenant: TenantKeys = await make_tenant(timezone="America/New_York")
    await define(gql, tenant.secret, "day", windowSeconds=86400)
    starts = (0.5, 5.0, 6.0, 10.0, 15.0, 20.0)  # hours into 2025-03-03 (local): each ends a day later
    sent = [_event("a", _local(3, hour), f"e{i}", CHROME) for i, hour in enumerate(starts)]
    sent.append(_event("b", _local(3, 12.0), "e3", CHROME))  # e3 reaches step 2, still ends at 10:00
    assert (await gql.track(tenant.publishable, sent))["accepted"] == len(sent)
    await run_worker()
    period = Period(_local(3), _local(5), ZONE, (_local(3).date(), _local(4).date()))  # as_of: now
    async with tenant_transaction(app_engine, tenant.id) as conn:
        (funnel,) = await list_funnels(conn, tenant.id)
        # as_of on 2025-03-04, before noon and after; an attempt ending at as_of is still open
        for hour, dropped, in_progress in ((6.0, 2, 3), (15.0, 3, 2)):
            now = _local(4, hour)
            summed = await funnel_figures(conn, tenant.id, funnel, period, now=now)
            assert summed == await funnel_figures(conn, tenant.id, funnel, period, now=now, scan=True)
            first, second = summed[0].steps[0], summed[0].steps[1]
            assert (first.actors, second.actors) == (6, 1)
            assert (second.dropped, second.in_progress) == (dropped, in_progress), hour
