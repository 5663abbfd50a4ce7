"""Funnels from journeys written as data: order modes, windows, exclusions, per-session counting, in
progress versus dropped, late events, breakdowns, compare and backfill; progress equals the
recomputation from raw events."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient, TenantKeys, event
from tests.product.funnel_helpers import (
    CHROME,
    DEFINE,
    GOOGLEBOT,
    IPHONE,
    MAY,
    SPLIT,
    actors,
    at,
    custom,
    define,
    result,
)

DAY = 86400

# Journeys after T (2025-05-10 10:00 UTC); the funnel is a -> b -> c.
JOURNEYS = [
    custom("a", 0, "u1"), custom("b", 3600, "u1"), custom("c", 7200, "u1"),            # converts
    custom("a", 0, "u2"), custom("b", 3600, "u2"), custom("c", DAY + 1, "u2"),         # c 1 s late
    custom("a", 0, "u3"), custom("c", 3600, "u3"), custom("b", 7200, "u3"),            # c before b
    custom("a", 0, "u4"),                                                              # stops
    custom("a", 0, "u5"), custom("x", 60, "u5"), custom("b", 120, "u5"), custom("c", 180, "u5"),  # x between
    custom("a", 21 * DAY + 13 * 3600, "u6"),                                           # May 31 23:00
    custom("a", 0, "u7"), custom("b", 3600, "u7"), custom("c", 7201, "u7"),            # c 3601 s after b
]


async def _tenant_with_journeys(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                journeys: list[dict[str, Any]] = JOURNEYS) -> TenantKeys:
    tenant: TenantKeys = await make_tenant()
    assert (await gql.track(tenant.publishable, journeys))["accepted"] == len(journeys)
    await run_worker()
    return tenant


async def _verified(owner_engine: AsyncEngine, tenant: TenantKeys) -> None:
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_ordered_strict_unordered_and_windows(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                                    owner_engine: AsyncEngine) -> None:
    tenant = await _tenant_with_journeys(gql, make_tenant, run_worker)
    ordered = await define(gql, tenant.secret, "ordered", windowSeconds=DAY)
    strict = await define(gql, tenant.secret, "strict", windowSeconds=DAY, order="STRICT")
    unordered = await define(gql, tenant.secret, "unordered", windowSeconds=DAY, order="UNORDERED")
    per_step = await define(gql, tenant.secret, "per step", windowSeconds=DAY, within={2: 3600})
    assert ordered["backfill"]["status"] == "pending"
    await run_worker()  # the backfill jobs

    found = await result(gql, tenant.secret, ordered["id"])
    # u1, u5, u7 convert; u2's c comes one second after the window; u3 did c before b; u4 stops; u6
    # started at 23:00 on the range's last day and is still inside its window.
    assert actors(found) == [7, 5, 3]
    assert [(s["dropped"], s["inProgress"]) for s in found["steps"]] == [(0, 0), (1, 1), (2, 0)]
    assert (found["entered"], found["converted"], found["overallConversion"]) == (7, 3, 42.86)
    assert (found["inProgress"], found["dropped"]) == (1, 3)
    assert [s["conversionFromPrevious"] for s in found["steps"]] == [100.0, 71.43, 60.0]
    assert [s["dropOffRate"] for s in found["steps"]] == [None, 14.29, 40.0]
    assert found["biggestDropOff"] == {"index": 2}
    # a -> b: 3600 (u1, u2, u7), 7200 (u3), 120 (u5); b -> c: 3600 (u1), 60 (u5), 3601 (u7)
    assert [s["medianSecondsFromPrevious"] for s in found["steps"]] == [None, 3600.0, 3600.0]
    assert [s["p90SecondsFromPrevious"] for s in found["steps"]] == [None, 5760.0, 3600.8]

    found = await result(gql, tenant.secret, strict["id"])
    # x breaks u5, c breaks u3 (after a): both stay at the first step; u7 and u1 go a, b, c in a row
    assert actors(found) == [7, 3, 2]
    assert [(s["dropped"], s["inProgress"]) for s in found["steps"]] == [(0, 0), (3, 1), (1, 0)]

    found = await result(gql, tenant.secret, unordered["id"])
    assert actors(found) == [7, 5, 4]  # u3's a, c, b converts in any order

    found = await result(gql, tenant.secret, per_step["id"])
    assert actors(found) == [7, 5, 2]  # u7's c comes 3601 s after b: one second past that step's window
    await _verified(owner_engine, tenant)


async def test_exclusions_void_attempts(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                        owner_engine: AsyncEngine) -> None:
    journeys = [
        custom("a", 0, "u1"), custom("cancel", 600, "u1"), custom("b", 1200, "u1"), custom("c", 1800, "u1"),
        custom("a", 0, "u2"), custom("b", 600, "u2"), custom("c", 1200, "u2"), custom("cancel", 1800, "u2"),
        custom("a", 0, "u3"), custom("cancel", 600, "u3"), custom("a", 1200, "u3"), custom("b", 1800, "u3"),
    ]
    tenant = await _tenant_with_journeys(gql, make_tenant, run_worker, journeys)
    funnel = await define(gql, tenant.secret, "excluded", exclusions=[{"event": "cancel"}])
    await run_worker()
    found = await result(gql, tenant.secret, funnel["id"])
    # u1 voided; u2 cancelled after converting; u3's second attempt (after the cancel) reaches b
    assert actors(found) == [2, 2, 1]
    await _verified(owner_engine, tenant)


async def test_per_session_counting(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                    owner_engine: AsyncEngine) -> None:
    journeys = [  # one person, two sessions (more than 30 minutes apart)
        custom("a", 0, "u1"), custom("b", 600, "u1"),
        custom("c", 7200, "u1"), custom("a", 7260, "u1"), custom("b", 7320, "u1"),
    ]
    tenant = await _tenant_with_journeys(gql, make_tenant, run_worker, journeys)
    by_user = await define(gql, tenant.secret, "per user")
    by_session = await define(gql, tenant.secret, "per session", counting="SESSION")
    await run_worker()
    assert actors(await result(gql, tenant.secret, by_user["id"])) == [1, 1, 1]
    assert actors(await result(gql, tenant.secret, by_session["id"])) == [2, 2, 0]
    await _verified(owner_engine, tenant)
    # Late page views join the two visits into one session: a, b, c now happen in the same session.
    late = [event("PageViewed", at(seconds), "u1", url="https://a.example/docs",
                  context={"userAgent": f"{CHROME} u/u1"}) for seconds in (2200, 3800, 5400, 7000)]
    assert (await gql.track(tenant.publishable, late))["accepted"] == 4
    await run_worker()
    assert actors(await result(gql, tenant.secret, by_session["id"])) == [1, 1, 1]
    await _verified(owner_engine, tenant)


async def test_late_events_land_in_their_attempt(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                                 owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    funnel = await define(gql, tenant.secret, "late")
    await run_worker()
    await gql.track(tenant.publishable, [custom("a", 0, "u1"), custom("c", 7200, "u1")])
    await run_worker()
    assert actors(await result(gql, tenant.secret, funnel["id"])) == [1, 0, 0]
    await gql.track(tenant.publishable, [custom("b", 3600, "u1")])  # arrives after the later step
    await run_worker()
    assert actors(await result(gql, tenant.secret, funnel["id"])) == [1, 1, 1]
    await run_worker()  # nothing new: the same rows
    async with owner_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT count(*) FROM funnel_attempts WHERE tenant_id = :t"),
                                   {"t": tenant.id})).scalar_one()
    assert rows == 1
    await _verified(owner_engine, tenant)


async def test_events_one_claim_at_a_time_in_any_order_equal_one_claim(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    """The consumer re-derives a person only from the last attempt that began before their earliest new
    event: events folded one claim at a time, late ones included, give the rows of one claim."""
    journeys = [*JOURNEYS,
                # u8: three attempts, the first expires at b, the second converts, the third is open
                custom("a", 0, "u8"), custom("b", 60, "u8"), custom("a", 2 * DAY, "u8"),
                custom("b", 2 * DAY + 60, "u8"), custom("c", 2 * DAY + 120, "u8"), custom("a", 3 * DAY, "u8"),
                # u9: an x between steps (breaks STRICT), a cancel voiding one attempt, then another
                custom("a", 0, "u9"), custom("x", 30, "u9"), custom("b", 60, "u9"), custom("cancel", 90, "u9"),
                custom("a", 120, "u9"), custom("b", 180, "u9"), custom("c", 240, "u9")]
    random.Random(3).shuffle(journeys)
    options: list[dict[str, Any]] = [{"windowSeconds": DAY}, {"windowSeconds": DAY, "order": "STRICT"},
                                     {"windowSeconds": DAY, "order": "UNORDERED"},
                                     {"exclusions": [{"event": "cancel"}]}]
    found: list[list[Any]] = []
    for one_at_a_time in (True, False):
        tenant: TenantKeys = await make_tenant()
        funnels = [await define(gql, tenant.secret, f"f{i}", **o) for i, o in enumerate(options)]
        batches = [[e] for e in journeys] if one_at_a_time else [journeys]
        for batch in batches:
            assert (await gql.track(tenant.publishable, batch))["accepted"] == len(batch)
            await run_worker()
        await _verified(owner_engine, tenant)
        found.append([await result(gql, tenant.secret, f["id"]) for f in funnels])
    assert found[0] == found[1]
    assert [actors(r) for r in found[0]] == [[9, 7, 5], [9, 5, 4], [9, 7, 6], [9, 7, 6]]


async def test_breakdown_compare_and_bots(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                          owner_engine: AsyncEngine) -> None:
    journeys = [
        custom("a", 0, "u1", properties={"plan": "pro"}, context={"country": "DE"}),
        custom("b", 60, "u1"), custom("c", 120, "u1"),
        custom("a", 0, "u2", properties={"plan": "free"}, context={"country": "DE"}),
        custom("a", 0, "u3", agent=IPHONE, properties={"plan": "pro"}, context={"country": "FR"}),
        custom("b", 60, "u3", agent=IPHONE),
        custom("a", 0, "bot", agent=GOOGLEBOT), custom("b", 60, "bot", agent=GOOGLEBOT),
        custom("c", 120, "bot", agent=GOOGLEBOT),
        custom("a", -30 * 86400, "u9"), custom("b", -30 * 86400 + 60, "u9"),  # April: the period before
        custom("c", -30 * 86400 + 120, "u9"), custom("a", -30 * 86400, "u8"),
    ]
    tenant = await _tenant_with_journeys(gql, make_tenant, run_worker, journeys)
    funnel = await define(gql, tenant.secret, "split")
    await run_worker()
    found = await result(gql, tenant.secret, funnel["id"], breakdown={"by": "PROPERTY", "property": "plan"},
                         compare="PREVIOUS_PERIOD")
    assert actors(found) == [3, 2, 1]
    assert [(r["value"], r["entered"], r["converted"]) for r in found["breakdown"]] == [
        ("pro", 2, 1), ("free", 1, 0)]
    assert found["previous"] == {"entered": 2, "converted": 1, "overallConversion": 50.0}
    assert found["overallConversionChange"] == -33.34
    found = await result(gql, tenant.secret, funnel["id"], breakdown={"by": "COUNTRY"})
    assert [(r["value"], r["entered"]) for r in found["breakdown"]] == [("DE", 2), ("FR", 1)]
    found = await result(gql, tenant.secret, funnel["id"], breakdown={"by": "DEVICE"})
    assert [(r["value"], r["entered"]) for r in found["breakdown"]] == [("desktop", 2), ("mobile", 1)]
    assert actors(await result(gql, tenant.secret, funnel["id"], bots=True)) == [4, 3, 2]
    await _verified(owner_engine, tenant)


async def test_changing_a_funnel_rebuilds_it(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    tenant = await _tenant_with_journeys(gql, make_tenant, run_worker)
    funnel = await define(gql, tenant.secret, "changing", windowSeconds=DAY)
    await run_worker()
    assert actors(await result(gql, tenant.secret, funnel["id"])) == [7, 5, 3]
    data = await gql.data(tenant.secret, DEFINE, {"input": {
        "id": funnel["id"], "name": "changing", "steps": [{"matcher": {"event": "a"}}, {"matcher": {"event": "x"}}]}})
    assert data["defineFunnel"]["backfill"] == {"status": "pending", "processed": 0, "total": None}
    await run_worker()
    assert actors(await result(gql, tenant.secret, funnel["id"])) == [7, 1]
    listed = await gql.data(tenant.secret, "{ tenant { funnels { id name backfill { status processed total } } } }")
    assert listed["tenant"]["funnels"] == [{"id": funnel["id"], "name": "changing",
                                            "backfill": {"status": "done", "processed": 7, "total": 7}}]
    removed = await gql.data(tenant.secret, "mutation($id: ID!) { removeFunnel(id: $id) }", {"id": funnel["id"]})
    assert removed == {"removeFunnel": True}
    assert (await gql.data(tenant.secret, "query($id: ID!) { tenant { funnel(id: $id) { id } } }",
                           {"id": funnel["id"]}))["tenant"]["funnel"] is None


async def test_bad_definitions_name_the_field(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    cases = [
        ({"name": "one", "steps": [{"matcher": {"event": "a"}}]}, "input.steps"),
        ({"name": "w", "steps": [{"matcher": {"event": "a"}}, {"matcher": {"event": "b"}}], "windowSeconds": 0},
         "input.windowSeconds"),
        ({"name": "m", "steps": [{"matcher": {"event": "a!"}}, {"matcher": {"event": "b"}}]},
         "input.steps[0].matcher.event"),
        ({"name": "e", "steps": [{"matcher": {"event": "a"}}, {"matcher": {"event": "b"}}],
          "exclusions": [{"event": "b"}]}, "input.exclusions[0]"),
    ]
    for body, field in cases:
        answer = await gql(tenant.secret, DEFINE, {"input": body})
        assert answer["errors"][0]["extensions"]["field"] == field, answer


async def test_breakdown_by_declared_dimension_and_segment(gql: GraphQLClient, make_tenant: Any,
                                                           run_worker: Any, owner_engine: AsyncEngine) -> None:
    journeys = [
        custom("a", 0, "u1", properties={"plan": "pro"}), custom("b", 60, "u1"), custom("c", 120, "u1"),
        custom("a", 0, "u2", properties={"plan": "free"}),
        custom("a", 0, "u3", properties={"plan": "pro"}), custom("b", 60, "u3"),
    ]
    tenant = await _tenant_with_journeys(gql, make_tenant, run_worker, journeys)
    funnel = await define(gql, tenant.secret, "split")
    await run_worker()
    by_plan = {"by": "DIMENSION", "property": "plan"}
    undeclared = await gql(tenant.secret, SPLIT, {"id": funnel["id"], "range": MAY, "breakdown": by_plan})
    assert undeclared["errors"][0]["extensions"]["field"] == "breakdown.property"
    await gql.data(tenant.secret, 'mutation { defineEvent(input: {name: "a", dimensions: ["plan"]}) { name } }')
    found = await result(gql, tenant.secret, funnel["id"], breakdown=by_plan)
    assert [(r["value"], r["entered"], r["converted"]) for r in found["breakdown"]] == [
        ("pro", 2, 1), ("free", 1, 0)]
    # memberships as the segments job keeps them: u1 power and u3 regular through May, u2 in none
    async with owner_engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO segment_members (tenant_id, segment_id, user_key, valid_from, valid_to) VALUES "
            "(:t, 'power', 'u:u1', '2025-01-01Z', '2025-07-01Z'), (:t, 'regular', 'u:u3', '2025-01-01Z', "
            "'2025-07-01Z'), (:t, 'power', 'u:u2', '2025-06-01Z', '2025-07-01Z')"), {"t": tenant.id})
    found = await result(gql, tenant.secret, funnel["id"], breakdown={"by": "SEGMENT"})
    assert [(r["value"], r["entered"], r["converted"]) for r in found["breakdown"]] == [
        ("(none)", 1, 0), ("power", 1, 1), ("regular", 1, 0)]
