"""The funnel day aggregates (analytics.funnels.daily): a whole-funnel result read from them equals
the one read from the attempt rows at any instant (mid-hour, on a step, on a deadline, a range that
ended), times within the histogram's 1 %; a day rebuilt by the correction job, an erased person and
a redefined funnel leave them equal to a re-aggregation of the attempts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.funnels import daily
from analytics.funnels.result import funnel_figures
from analytics.funnels.store import get_funnel
from analytics.periods import day_period
from analytics.rollups.recompute import verify_rollups
from analytics.sessions.correction import correct_days
from tests.conftest import GraphQLClient, TenantKeys
from tests.product.funnel_helpers import GOOGLEBOT, T, custom, define
from tests.product.test_funnels import DAY, JOURNEYS

MORE = [
    custom("a", 1800, "u10"), custom("cancel", 1900, "u10"), custom("a", 2000, "u10"),  # voided, again
    custom("b", 5400, "u10"),
    custom("a", 0, "bot", agent=GOOGLEBOT), custom("b", 60, "bot", agent=GOOGLEBOT),
    custom("a", -DAY, "u11"), custom("b", -DAY + 0.0004, "u11"),  # under a millisecond apart
]
# Instants around the journeys (seconds after T): mid-hour, on a step, just after, on deadlines.
INSTANTS = [-DAY + 1, 1, 1801, 1950, 3600, 3601, 5400.5, 7200, 7201.5, DAY - 1, DAY, DAY + 1, DAY + 1800,
            DAY + 7200, 3 * DAY, 21 * DAY + 13 * 3600 + 1]


def _counts(found: Any) -> list[tuple[int, int, int]]:
    return [(s.actors, s.dropped, s.in_progress) for s in found.steps]


def _close(exact: float | None, estimate: float | None) -> bool:
    if exact is None or estimate is None:
        return exact is None and estimate is None
    return abs(estimate - exact) <= 0.01 * abs(exact) + 0.0005


async def test_aggregates_equal_the_attempts_at_any_instant(gql: GraphQLClient, make_tenant: Any,
                                                            run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant(timezone="Asia/Kolkata")  # half-hour offset: local days
    journeys = JOURNEYS + MORE
    assert (await gql.track(tenant.publishable, journeys))["accepted"] == len(journeys)
    await run_worker()
    funnels = [await define(gql, tenant.secret, "ordered", windowSeconds=DAY, exclusions=[{"event": "cancel"}]),
               await define(gql, tenant.secret, "strict", windowSeconds=DAY, order="STRICT"),
               await define(gql, tenant.secret, "unordered", windowSeconds=DAY, order="UNORDERED"),
               await define(gql, tenant.secret, "per step", windowSeconds=2 * DAY, within={1: 1800})]
    await run_worker()
    tz = ZoneInfo("Asia/Kolkata")
    periods = [day_period(date(2025, 5, 1), date(2025, 5, 31), tz),
               day_period(date(2025, 5, 10), date(2025, 5, 10), tz)]
    checked = 0
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
        for defined in funnels:
            funnel = await get_funnel(conn, tenant.id, int(defined["id"]))
            assert funnel is not None
            for period in periods:
                for seconds in INSTANTS:
                    now = T + timedelta(seconds=seconds)
                    for bots in (False, True):
                        exact = (await funnel_figures(conn, tenant.id, funnel, period, include_bots=bots,
                                                      now=now, exact_below=10**9))[0]
                        summed = (await funnel_figures(conn, tenant.id, funnel, period, include_bots=bots,
                                                       now=now, exact_below=0))[0]
                        what = (defined["name"], period.days, seconds, bots)
                        assert _counts(summed) == _counts(exact), what
                        for mine, theirs in zip(summed.steps, exact.steps, strict=True):
                            assert _close(theirs.median_seconds, mine.median_seconds), what
                            assert _close(theirs.p90_seconds, mine.p90_seconds), what
                        checked += 1
        # at T + 1 s on May 10 (ordered): u1-u5, u7 entered at T, u10 not yet; u11 the day before
        funnel = await get_funnel(conn, tenant.id, int(funnels[0]["id"]))
        assert funnel is not None
        found = (await funnel_figures(conn, tenant.id, funnel, periods[1], now=T + timedelta(seconds=1),
                                      exact_below=0))[0]
        assert _counts(found) == [(6, 0, 0), (0, 0, 6), (0, 0, 0)]
    assert checked == 4 * 2 * len(INSTANTS) * 2


async def test_corrected_days_erased_people_and_redefined_funnels(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    journeys = JOURNEYS + MORE
    assert (await gql.track(tenant.publishable, journeys))["accepted"] == len(journeys)
    await run_worker()
    funnel = await define(gql, tenant.secret, "ordered", windowSeconds=DAY)
    await run_worker()
    count = text("SELECT coalesce(sum(attempts), 0) FROM funnel_days WHERE tenant_id = :t")
    async with owner_engine.begin() as conn:
        assert (await conn.execute(count, {"t": tenant.id})).scalar_one() == 10  # u1-u7, u10, u11 and the crawler
        # a session that now counts as a bot: the correction rebuilds its day on the bot side
        await conn.execute(text("UPDATE sessions SET is_behavioural_bot = true WHERE tenant_id = :t AND id = "
                                "(SELECT session_key FROM funnel_attempts WHERE tenant_id = :t "
                                "AND person = 'u:u1')"), {"t": tenant.id})
        assert await daily.verify(conn, tenant.id) != []
        await correct_days(conn, tenant.id, [date(2025, 5, 10)], ZoneInfo("UTC"))
        assert await daily.verify(conn, tenant.id) == []
        bots = text("SELECT sum(attempts) FROM funnel_days WHERE tenant_id = :t AND bot")
        assert (await conn.execute(bots, {"t": tenant.id})).scalar_one() == 2  # u1 and the crawler
        # the erasure's statements take the person's attempts out of the aggregates
        from analytics.funnels.progress import FUNNELS
        for statement in FUNNELS.erase:
            await conn.execute(text(statement), {"tenant": tenant.id, "user_key": "u:u10"})
        assert await daily.verify(conn, tenant.id) == []
        assert (await conn.execute(count, {"t": tenant.id})).scalar_one() == 9
        await conn.rollback()
    # a redefined funnel starts again from nothing, then its backfill fills it
    await gql.data(tenant.secret, "mutation($i: DefineFunnelInput!) { defineFunnel(input: $i) { id } }",
                   {"i": {"id": funnel["id"], "name": "ordered",
                          "steps": [{"matcher": {"event": "a"}}, {"matcher": {"event": "b"}}]}})
    async with owner_engine.connect() as conn:
        assert (await conn.execute(count, {"t": tenant.id})).scalar_one() == 0
    await run_worker()
    async with owner_engine.connect() as conn:
        assert (await conn.execute(count, {"t": tenant.id})).scalar_one() == 10
        assert await verify_rollups(conn, tenant.id) == []
