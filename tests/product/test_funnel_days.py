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


def _journeys(rng: random.Random) -> list[dict[str, Any]]:
    """Forty people, one to three attempts each over 20 days; some are crawlers."""
    events: list[dict[str, Any]] = []
    for n in range(40):
        user, agent = f"p{n}", GOOGLEBOT if n % 9 == 0 else CHROME
        for _ in range(rng.randint(1, 3)):
            at = T0 + timedelta(seconds=rng.uniform(0, 20 * 86400))
            for name in NAMES:
                if name != "a" and rng.random() < 0.3:
                    break
                events.append(_event(name, at, user, agent))
                if rng.random() < 0.1:
                    events.append(_event(rng.choice(("x", "cancel")), at + timedelta(seconds=5), user, agent))
                gap = rng.choice(GAPS) if rng.random() < 0.3 else rng.uniform(10, 2 * 86400)
                at += timedelta(seconds=gap)
    rng.shuffle(events)
    return events


def _event(name: str, at: datetime, user: str, agent: str) -> dict[str, Any]:
    stamp = at.astimezone(ZONE).isoformat(timespec="microseconds")
    return event("Custom", stamp, user, name=name, context={"userAgent": f"{agent} u/{user}"})


PERIODS = [
    (_local(1), _local(22)),  # whole days, all the data
    (_local(3, 13.3), _local(12, 8.1)),  # partial first and last days
    (_local(5), _local(6)),  # one day
    (_local(8), _local(11)),  # across the change to daylight saving time
    (_local(1, 5), datetime(2025, 4, 1, tzinfo=ZONE)),  # ends after the data
]
NOWS = [None, _local(10, 15.5), _local(12), _local(6, 23.9999)]


async def _compare(app_engine: AsyncEngine, tenant_id: int) -> int:
    """Every funnel, period, ``now`` and bot choice: the sums equal the scan. Returns the answers compared."""
    compared = 0
    async with tenant_transaction(app_engine, tenant_id) as conn:
        funnels = await list_funnels(conn, tenant_id)
        for funnel in funnels:
            for start, end in PERIODS:
                period = Period(start, end, ZONE, None)
                for now in NOWS:
                    for bots in (False, True):
                        summed = await funnel_figures(conn, tenant_id, funnel, period, include_bots=bots, now=now)
                        scanned = await funnel_figures(conn, tenant_id, funnel, period, include_bots=bots,
                                                       now=now, scan=True)
                        assert summed == scanned, (funnel.definition.name, start, end, now, bots)
                        compared += 1
    return compared


async def test_day_sums_equal_the_scan(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                       app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant(timezone="America/New_York")
    await define(gql, tenant.secret, "ordered", windowSeconds=2 * 86400, exclusions=[{"event": "cancel"}])
    await define(gql, tenant.secret, "strict", windowSeconds=86400, order="STRICT", within={1: 3 * 3600})
    await define(gql, tenant.secret, "sessions", order="UNORDERED", counting="SESSION")
    await define(gql, tenant.secret, "open")  # 14 days: many attempts still open at ``now``
    journeys = _journeys(random.Random(11))
    for start in range(0, len(journeys), 40):  # claim by claim, late events included
        batch = journeys[start:start + 40]
        assert (await gql.track(tenant.publishable, batch))["accepted"] == len(batch)
        await run_worker()
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
