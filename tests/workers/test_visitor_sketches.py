"""Per-day visitor sketches (analytics.rollups.sketches, migration 0041): a breakdown's distinct
visitors merge the current sketches of past days with the exact rows of the rest; a sketch never
answers for a day whose people changed after it was built; the estimate of a large group is within
the sketch's error of the true count."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.content import stats as content_stats
from analytics.db import tenant_transaction
from analytics.periods import Granularity, RangeSpec, bucket_starts, resolve
from analytics.rollups import sketches
from analytics.rollups.recompute import verify_rollups
from analytics.sessions import days, stats
from analytics.tours import stats as tour_stats
from tests.api.test_content import tracked as content_tracked
from tests.api.test_sessions import RANGE, shop
from tests.api.test_tours import RANGE as TOUR_RANGE
from tests.api.test_tours import TOUR, loaded
from tests.conftest import GraphQLClient, TenantKeys
from tests.workers.test_session_days import CUT, select

__all__ = ["loaded", "shop"]  # six human sessions, four bot sessions on 2025-05-10/11 (Europe/Berlin)

TZ = ZoneInfo("Europe/Berlin")
WIDE = {"from": "2025-05-05", "to": "2025-05-18"}


async def checked(engine: AsyncEngine, tenant_id: int) -> list[Any]:
    async with engine.connect() as conn:
        return [d for d in await verify_rollups(conn, tenant_id)
                if d.table.startswith("session_") or d.table == "visitor_sketches"]


async def breakdowns(engine: AsyncEngine, tenant_id: int, where: dict[str, str], dimension: str,
                     bots: bool) -> tuple[list[stats.BreakdownRow], list[stats.BreakdownRow]]:
    """The rollup's breakdown (sketches where current) and the statement over the session rows."""
    period = resolve(RangeSpec(start=where["from"], end=where["to"]), TZ)
    spec = stats.DIMENSIONS[dimension]
    async with tenant_transaction(engine, tenant_id) as conn:
        rolled = await stats.breakdown(conn, dimension=dimension, period=period, include_bots=bots, limit=50)
        direct = [stats._breakdown_row(spec, r) for r in await conn.execute(text(
            stats._breakdown_sql(spec, bots, "ORDER BY sessions DESC, k0 NULLS LAST")), stats._range(period))]
    return rolled, [replace(r, counts=replace(r.counts, users=0)) for r in direct]  # users: not kept per key


async def sketch_rows(engine: AsyncEngine, tenant_id: int, dimension: str, bots: bool) -> list[Any]:
    """The rows of the breakdown's counting statement for every key of ``dimension`` over RANGE."""
    period = resolve(RangeSpec(start=RANGE["from"], end=RANGE["to"]), TZ)
    async with tenant_transaction(engine, tenant_id) as conn:
        return list(await conn.execute(text(days.key_visitors_sql(dimension, wanted=False)),
                                       days.params(period, bots)))


async def copy_sessions(conn: Any, changes: str, rest: str, values: dict[str, Any]) -> None:
    """Insert copies of session rows ``s`` (``FROM sessions s{rest}``) with the jsonb object ``changes``
    merged into each (generated columns are left to the database)."""
    columns = [c for (c,) in await conn.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'sessions' "
        "AND is_generated = 'NEVER' ORDER BY ordinal_position"))]
    listed = ", ".join(columns)
    await conn.execute(text(
        f"INSERT INTO sessions ({listed}) SELECT {', '.join(f'(r).{c}' for c in columns)} FROM ("
        f"SELECT jsonb_populate_record(NULL::sessions, to_jsonb(s) || {changes}) AS r FROM sessions s{rest}) AS c"),
        values)


async def people_figures(engine: AsyncEngine, tenant_id: int) -> list[Any]:
    """Visitors and users: the period's totals and its DAY series, bots out and in, over RANGE, CUT and
    WIDE, and WIDE's WEEK series (May 5-11 and 12-18: both days in one week)."""
    found: list[Any] = []
    async with tenant_transaction(engine, tenant_id) as conn:
        for where in (RANGE, CUT, WIDE):
            period = resolve(RangeSpec(start=where["from"], end=where["to"]), TZ)
            for bots in (False, True):
                totals = await stats.session_totals(conn, period=period, include_bots=bots, returning=False,
                                                    median=False)
                found.append((totals.visitors, totals.users))
                for granularity in (Granularity.DAY, Granularity.WEEK) if where is WIDE else (Granularity.DAY,):
                    series = await stats.session_series(conn, period=period, granularity=granularity,
                                                        bucket_starts=bucket_starts(period, granularity),
                                                        include_bots=bots)
                    found.append([(p.start, p.counts.visitors, p.counts.users) for p in series])
    return found


async def test_sketched_past_days_answer_as_the_session_rows(app_engine: AsyncEngine, owner_engine: AsyncEngine,
                                                             shop: TenantKeys) -> None:
    exact = await people_figures(app_engine, shop.id)
    assert exact[0] == (4, 1) and exact[2] == (7, 1)  # RANGE: tests.api.test_sessions' figures
    run = await sketches.build_sketches(app_engine, shop.id, min_people=1)
    # Both days (the rollup ran after both): every group of at least one person is sketched.
    assert run.days == 2
    assert run.sketches == (await select(owner_engine, "SELECT count(*) FROM visitor_sketches WHERE tenant_id = :t",
                                         t=shop.id))[0][0] > 0
    kinds = {row.kind for row in await sketch_rows(app_engine, shop.id, "sources", True)}
    assert kinds == {0}  # whole days only, all sketched: no row is read
    for where in (RANGE, CUT):  # CUT reads May 11 from 03:00 from the session rows (its edge hours)
        for dimension in stats.DIMENSIONS:
            for bots in (False, True):
                rolled, direct = await breakdowns(app_engine, shop.id, where, dimension, bots)
                assert rolled == direct, (where, dimension, bots)
    assert await people_figures(app_engine, shop.id) == exact
    period = resolve(RangeSpec(start=RANGE["from"], end=RANGE["to"]), TZ)
    async with tenant_transaction(app_engine, shop.id) as conn:
        read = await conn.execute(text(days.people_sql("visitors", by_bucket=False)),
                                  {**days.params(period, False), "unit": "day"})
        assert {row.kind for row in read} == {0}
    assert await checked(owner_engine, shop.id) == []
    # Nothing is due until a day's people change.
    assert (await sketches.build_sketches(app_engine, shop.id, min_people=1)).days == 0


async def test_a_sketch_stops_answering_when_its_day_changes_and_is_built_again(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, shop: TenantKeys) -> None:
    await sketches.build_sketches(app_engine, shop.id, min_people=1)
    version = "SELECT version FROM session_day_versions WHERE tenant_id = :t AND day = '2025-05-10'"
    (first,) = (await select(owner_engine, version, t=shop.id))[0]
    before = sum(r.counts.visitors for r in (await breakdowns(app_engine, shop.id, RANGE, "devices", False))[0])
    # A new visitor on May 10: a copy of a human session of that day under another visitor id.
    async with owner_engine.begin() as conn:
        await copy_sessions(conn, "jsonb_build_object('id', gen_random_uuid(), 'visitor_id', 'late-visitor')",
                            " WHERE tenant_id = :t AND NOT excluded "
                            "AND (started_at AT TIME ZONE 'Europe/Berlin')::date = '2025-05-10' LIMIT 1",
                            {"t": shop.id})
    assert await sketches.pending_sketch_work(owner_engine) == [shop.id]
    (second,) = (await select(owner_engine, version, t=shop.id))[0]
    assert second > first
    rolled, direct = await breakdowns(app_engine, shop.id, RANGE, "devices", False)
    assert rolled == direct and sum(r.counts.visitors for r in rolled) == before + 1  # the late one
    kinds = {row.kind for row in await sketch_rows(app_engine, shop.id, "devices", False)}
    assert kinds == {0, 2}  # May 11 from its sketch, May 10 from its rows
    assert await checked(owner_engine, shop.id) == []  # the stale sketches are not current: not checked
    run = await sketches.build_sketches(app_engine, shop.id, min_people=1)
    assert run.days == 1
    assert {row.kind for row in await sketch_rows(app_engine, shop.id, "devices", False)} == {0}
    assert await breakdowns(app_engine, shop.id, RANGE, "devices", False) == (rolled, direct)
    assert await sketches.pending_sketch_work(owner_engine) == []
    # A day's version row deleted (as retention does) and made again by a change never gets back a
    # version a sketch of that day carries: versions come from one sequence.
    async with owner_engine.begin() as conn:
        await conn.execute(text("DELETE FROM session_day_versions WHERE tenant_id = :t AND day = '2025-05-10'"),
                           {"t": shop.id})
        await conn.execute(text("DELETE FROM sessions WHERE tenant_id = :t AND visitor_id = 'late-visitor'"),
                           {"t": shop.id})
    (third,) = (await select(owner_engine, version, t=shop.id))[0]
    assert third > second
    assert {row.kind for row in await sketch_rows(app_engine, shop.id, "devices", False)} == {0, 2}


async def test_the_worker_sketches_a_day_whose_people_changed(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, shop: TenantKeys, run_worker: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Both days are due after the shop's rollup (a burst worker sweeps once, at its start); the next
    # run's sweep queues the sketch job, which builds nothing at 1,000 people (no group is that large)
    # and leaves both days done. A late visitor on May 10 makes it due again; the run after that
    # (at a threshold of one person) sketches May 10 only.
    assert shop.id in await sketches.pending_sketch_work(owner_engine)
    await run_worker()
    assert await select(owner_engine, "SELECT count(*) FROM visitor_sketches WHERE tenant_id = :t",
                        t=shop.id) == [(0,)]
    assert shop.id not in await sketches.pending_sketch_work(owner_engine)
    async with owner_engine.begin() as conn:
        await copy_sessions(conn, "jsonb_build_object('id', gen_random_uuid(), 'visitor_id', 'late-visitor')",
                            " WHERE tenant_id = :t AND NOT excluded "
                            "AND (started_at AT TIME ZONE 'Europe/Berlin')::date = '2025-05-10' LIMIT 1",
                            {"t": shop.id})
    assert shop.id in await sketches.pending_sketch_work(owner_engine)
    monkeypatch.setenv("ANALYTICS_SKETCH_MIN_PEOPLE", "1")
    await run_worker()
    assert await select(owner_engine, "SELECT DISTINCT CAST(day AS text) FROM visitor_sketches "
                                      "WHERE tenant_id = :t", t=shop.id) == [("2025-05-10",)]
    assert shop.id not in await sketches.pending_sketch_work(owner_engine)
    assert await checked(owner_engine, shop.id) == []


async def test_the_sweeper_queues_the_sketch_job_for_later_and_a_burst_worker_at_once(
        app_engine: AsyncEngine, shop: TenantKeys, settings: Any) -> None:
    from arq.constants import default_queue_name, job_key_prefix
    from arq.jobs import Job, JobStatus

    from workers import jobs
    from workers.queue import connect

    redis = await connect(settings.redis_url)
    job_id = f"sketches:{shop.id}"
    try:
        assert shop.id in await sketches.pending_sketch_work(app_engine)  # after the shop's rollup
        for burst, status in ((False, JobStatus.deferred), (True, JobStatus.deferred)):
            await jobs.sweep_outbox({"engine": app_engine, "redis": redis, "settings": settings, "burst": burst})
            # The deferred job holds the id: a burst sweep meanwhile adds nothing.
            assert await Job(job_id, redis).status() == status
        await redis.delete(job_key_prefix + job_id)
        await redis.zrem(default_queue_name, job_id)
        await jobs.sweep_outbox({"engine": app_engine, "redis": redis, "settings": settings, "burst": True})
        assert await Job(job_id, redis).status() == JobStatus.queued
    finally:
        await redis.delete(job_key_prefix + job_id)
        await redis.zrem(default_queue_name, job_id)
        await redis.aclose()


async def test_a_groups_visitors_are_read_only_in_its_own_tenant(
        app_engine: AsyncEngine, shop: TenantKeys, make_tenant: Any) -> None:
    look_up = text("SELECT count(*) FROM analytics_key_day_visitors('sources', '2025-05-11', '{direct}', false)")
    async with tenant_transaction(app_engine, shop.id) as conn:
        assert (await conn.execute(look_up)).scalar_one() == 2  # u1 and a6
    other = await make_tenant()
    async with tenant_transaction(app_engine, other.id) as conn:
        assert (await conn.execute(look_up)).scalar_one() == 0
    async with app_engine.begin() as conn:  # no tenant in the transaction: nothing
        assert (await conn.execute(look_up)).scalar_one() == 0


async def test_a_tampered_sketch_is_reported_by_the_check(app_engine: AsyncEngine, owner_engine: AsyncEngine,
                                                          shop: TenantKeys) -> None:
    await sketches.build_sketches(app_engine, shop.id, min_people=1)
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE visitor_sketches SET registers = :r WHERE tenant_id = :t "
                                "AND dimension = 'sources' AND day = '2025-05-11' AND NOT bot AND key = '{direct}'"),
                           {"t": shop.id, "r": bytes(sketches.REGISTERS)})
    differences = await checked(owner_engine, shop.id)
    assert [(d.table, d.missing, d.extra) for d in differences] == [("visitor_sketches", 1, 0)]


async def test_a_large_group_is_estimated_within_the_sketch_error_and_small_ones_stay_exact(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, shop: TenantKeys) -> None:
    # 6,000 more visitors from "email" on May 10 (copies of H1's session), 300 of them again on May 11
    # with 200 new ones: the union over both days is 6,200 (and H1's own visitor).
    async with owner_engine.begin() as conn:
        (h1,) = (await conn.execute(text("SELECT id FROM sessions WHERE tenant_id = :t AND referrer_source = 'email'"),
                                    {"t": shop.id})).one()
        for day, first, last in (("2025-05-10", 1, 6000), ("2025-05-11", 5701, 6200)):
            await copy_sessions(
                conn, "jsonb_build_object('id', gen_random_uuid(), 'visitor_id', 'v' || n, 'started_at', at, "
                      "'last_seen_at', at + interval '1 minute')",
                ", generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS n, "
                "LATERAL (SELECT (CAST(CAST(:day AS text) AS date) + time '10:00') AT TIME ZONE 'Europe/Berlin' "
                "+ n % 3600 * interval '1 second' AS at) AS t "
                "WHERE s.tenant_id = :t AND s.id = :h1",
                {"t": shop.id, "h1": h1, "day": day, "first": first, "last": last})
    exact = {r.keys: r.counts.visitors for r in (await breakdowns(app_engine, shop.id, RANGE, "sources", False))[1]}
    assert exact[("email",)] == 6201
    exact_people = await people_figures(app_engine, shop.id)
    assert exact_people[0] == (6204, 1)  # RANGE, bots out: the 6,200 and the 4 visitors before
    await sketches.build_sketches(app_engine, shop.id, min_people=1000)
    # May 10's email group is sketched (with the other groups H1's copies made large); May 11's 500 are not.
    assert await select(owner_engine, "SELECT CAST(day AS text), people FROM visitor_sketches WHERE tenant_id = :t "
                                      "AND dimension = 'sources'", t=shop.id) == [("2025-05-10", 6001)]
    rolled = {r.keys: r.counts.visitors for r in (await breakdowns(app_engine, shop.id, RANGE, "sources", False))[0]}
    assert abs(rolled[("email",)] - 6201) / 6201 < 0.05
    assert {k: v for k, v in rolled.items() if k != ("email",)} == {k: v for k, v in exact.items() if k != ("email",)}
    people = await people_figures(app_engine, shop.id)
    assert abs(people[0][0] - 6204) / 6204 < 0.05 and people[0][1] == 1
    # With returning visitors the figures come from the session rows: exact, so the rate is too.
    async with tenant_transaction(app_engine, shop.id) as conn:
        totals = await stats.session_totals(conn, period=resolve(RangeSpec(start=RANGE["from"], end=RANGE["to"]), TZ),
                                            include_bots=False)
    assert totals.visitors == 6204 and totals.return_visit_rate is not None and totals.return_visit_rate <= 100
    # The DAY series of RANGE, bots out: May 10 is one sketch alone (its exact count), May 11 its rows.
    assert people[1] == exact_people[1]
    assert await checked(owner_engine, shop.id) == []


async def test_tour_step_viewers_merge_sketched_days_with_the_rows_of_the_rest(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, gql: GraphQLClient,
        loaded: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = loaded
    query = f"""query($r: RangeInput!) {{ tenant {{ tour(id: "{TOUR}") {{
        funnel(range: $r) {{ steps {{ index users }} }} }} }} }}"""
    exact = await gql.data(a.secret, query, {"r": TOUR_RANGE})
    # tests.api.test_tours: 6, 4, 1, 1 and 1 distinct viewers of steps 0-4 over Oct 25-27.
    assert [s["users"] for s in exact["tenant"]["tour"]["funnel"]["steps"]] == [6, 4, 1, 1, 1]
    run = await sketches.build_sketches(app_engine, a.id, min_people=1)
    assert run.days >= 2 and (await select(
        owner_engine, "SELECT count(*) FROM visitor_sketches WHERE tenant_id = :t AND dimension = 'tour_steps'",
        t=a.id))[0][0] > 0
    assert await gql.data(a.secret, query, {"r": TOUR_RANGE}) == exact
    async with tenant_transaction(app_engine, a.id) as conn:
        read = await conn.execute(tour_stats._STEP_USERS, {"whole_first": date(2025, 10, 25), "ids": None,
                                                          "whole_last": date(2025, 10, 27), "include_bots": False})
        assert 0 in {row.kind for row in read}  # sketches were read
    assert await checked(owner_engine, a.id) == []


async def test_content_viewers_merge_sketched_days_with_the_rows_of_the_rest(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, gql: GraphQLClient, make_tenant: Any,
        run_worker: Any) -> None:
    tenant = await content_tracked(gql, make_tenant, run_worker)
    query = """{ tenant { content(range: {from: "2025-05-09", to: "2025-05-10"}) {
        stats { uniqueViews } top(limit: 5) { contentId uniqueViews } } } }"""
    exact = await gql.data(tenant.secret, query)
    # tests.api.test_content: a, b and c viewed cap1 (a on both days), d cap2; the crawler is left out.
    assert exact["tenant"]["content"] == {"stats": {"uniqueViews": 4}, "top": [
        {"contentId": "cap1", "uniqueViews": 3}, {"contentId": "cap2", "uniqueViews": 1}]}
    run = await sketches.build_sketches(app_engine, tenant.id, min_people=1)
    assert run.days == 2
    assert await select(owner_engine, "SELECT dimension, count(*) FROM visitor_sketches WHERE tenant_id = :t "
                                      "AND dimension LIKE 'content%' GROUP BY 1 ORDER BY 1", t=tenant.id) == [
        ("content_viewers", 3), ("content_views", 4)]  # per day and side: the crawler's own sketches too
    assert await gql.data(tenant.secret, query) == exact
    async with tenant_transaction(app_engine, tenant.id) as conn:
        read = await conn.execute(content_stats._ALL_VIEWERS, {"whole_first": date(2025, 5, 9),
                                                              "whole_last": date(2025, 5, 10), "include_bots": False})
        assert {row.kind for row in read} == {0}  # every day's viewers from its sketch
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


def test_the_estimator_is_close_from_one_person_to_millions() -> None:
    rng = np.random.default_rng(7)
    assert sketches.estimate(np.zeros(sketches.REGISTERS, dtype=np.uint8)) == 0
    for n in (1, 10, 1_000, 100_000, 1_000_000):
        hashes = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
        rest = hashes >> np.uint64(sketches.PRECISION)
        lengths = np.array([int(x).bit_length() for x in rest])
        values = sketches._Q + 1 - lengths  # the position of the first 1 bit among the 52 (53 when none)
        registers = sketches.registers_of(zip((hashes & np.uint64(sketches.REGISTERS - 1)).astype(int).tolist(),
                                              values.tolist(), strict=True))
        assert abs(sketches.estimate(registers) - n) <= max(0.05 * n, 0.5), n

