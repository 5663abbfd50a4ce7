"""The experiments' rollup under the spine's corrections: events arriving out of order across claims
give the aggregates of the in-order arrival (and the recomputation's), a session changing side moves
its actor's rows, retention expires old exposures, erasure takes a person out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import lock_tenant, tenant_transaction
from analytics.rollups.recompute import verify_rollups
from analytics.sessions.correction import correct_days
from analytics.users.erasure import erase_person
from analytics.users.subjects import Identity
from tests.conftest import GraphQLClient, TenantKeys, event
from tests.experiments.test_experiments import define, exposure, purchase

DAYS = ("SELECT experiment, metric, variant, day, bot, actors, multiple, conversions, total, total_sq "
        "FROM experiment_variant_days WHERE tenant_id = :t AND (actors <> 0 OR multiple <> 0 "
        "OR conversions <> 0 OR total <> 0) ORDER BY 1, 2, 3, 4, 5")
ACTORS = ("SELECT experiment, actor, variant, exposed_at, day, bot, multiple FROM experiment_actors "
          "WHERE tenant_id = :t ORDER BY 1, 2")


async def rows(engine: AsyncEngine, tenant_id: int, sql: str = DAYS) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql), {"t": tenant_id})).all()]


# u3 is exposed twice: the earlier exposure (control) is the first even when it arrives last; u1's
# purchases come before and after its exposure; u2 converts within a claim before its exposure's.
EXPOSURES = [exposure("2025-05-02T10:00:00Z", "u1", "control"),
             exposure("2025-05-02T11:00:00Z", "u2", "one-page"),
             exposure("2025-05-03T09:00:00Z", "u3", "one-page"),
             exposure("2025-05-02T09:00:00Z", "u3", "control")]
PURCHASES = [purchase("2025-05-02T09:30:00Z", "u1", 50),  # before u1's exposure: ignored
             purchase("2025-05-02T12:00:00Z", "u1", 20),
             purchase("2025-05-02T12:00:00Z", "u2", 30),
             purchase("2025-05-02T12:00:00Z", "u3", 7),  # after u3's first (control) exposure
             purchase("2025-05-04T12:00:00Z", "u2", 10)]


async def test_out_of_order_claims_give_the_in_order_aggregates(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    ordered, shuffled = await make_tenant(), await make_tenant()
    for tenant in (ordered, shuffled):
        await define(gql, tenant)
    await gql.track(ordered.publishable, sorted(EXPOSURES + PURCHASES, key=lambda e: e["timestamp"]))
    await run_worker()
    # Conversions first, then the later exposure of u3, then the rest: three claims.
    for batch in (PURCHASES, [EXPOSURES[2]], [EXPOSURES[0], EXPOSURES[1], EXPOSURES[3]]):
        await gql.track(shuffled.publishable, batch)
        await run_worker()
    want = await rows(owner_engine, ordered.id)
    assert [r[:8] for r in want] == [
        ("checkout", "", "control", date(2025, 5, 2), False, 2, 1, 0),
        ("checkout", "", "one-page", date(2025, 5, 2), False, 1, 0, 0),
        ("checkout", "purchased", "control", date(2025, 5, 2), False, 0, 0, 2),
        ("checkout", "purchased", "one-page", date(2025, 5, 2), False, 0, 0, 1),
        ("checkout", "revenue", "control", date(2025, 5, 2), False, 0, 0, 2),
        ("checkout", "revenue", "one-page", date(2025, 5, 2), False, 0, 0, 1)]
    assert [(r[2], r[8], r[9]) for r in want if r[1] == "revenue"] == [("control", 27.0, 449.0),
                                                                       ("one-page", 40.0, 1600.0)]
    assert await rows(owner_engine, shuffled.id) == want
    assert [r[1:] for r in await rows(owner_engine, shuffled.id, ACTORS)] == [
        r[1:] for r in await rows(owner_engine, ordered.id, ACTORS)]
    # Duplicates of everything (a retried batch) change nothing.
    await gql.track(shuffled.publishable, EXPOSURES + PURCHASES)
    await run_worker()
    assert await rows(owner_engine, shuffled.id) == want
    async with owner_engine.connect() as conn:
        for tenant in (ordered, shuffled):
            assert await verify_rollups(conn, tenant.id) == []


async def test_a_session_changing_side_moves_its_actors_rows(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant)
    await gql.track(tenant.publishable, EXPOSURES[:2] + PURCHASES[1:3])
    await run_worker()
    assert {r[4] for r in await rows(owner_engine, tenant.id)} == {False}
    # u2's sessions turn out to be a bot's (as the scorer or a retroactive rule would decide).
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE sessions SET is_behavioural_bot = true WHERE tenant_id = :t AND id IN "
                                "(SELECT session_key FROM events WHERE tenant_id = :t AND user_id = 'u2')"),
                           {"t": tenant.id})
        assert {"experiment_actors", "experiment_variant_days"} <= {
            d.table for d in await verify_rollups(conn, tenant.id)}
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        await lock_tenant(conn, tenant.id)
        await correct_days(conn, tenant.id, [date(2025, 5, 2)], ZoneInfo("UTC"))
    assert [r[1:6] + r[7:] for r in await rows(owner_engine, tenant.id)] == [
        ("", "control", date(2025, 5, 2), False, 1, 0, 0.0, 0.0),
        ("", "one-page", date(2025, 5, 2), True, 1, 0, 0.0, 0.0),
        ("purchased", "control", date(2025, 5, 2), False, 0, 1, 1.0, 1.0),
        ("purchased", "one-page", date(2025, 5, 2), True, 0, 1, 1.0, 1.0),
        ("revenue", "control", date(2025, 5, 2), False, 0, 1, 20.0, 400.0),
        ("revenue", "one-page", date(2025, 5, 2), True, 0, 1, 30.0, 900.0)]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
    empty = ("SELECT count(*) FROM experiment_variant_days WHERE tenant_id = :t AND actors = 0 "
             "AND conversions = 0 AND total = 0")
    assert (await rows(owner_engine, tenant.id, empty))[0][0] == 3  # the human rows the move emptied
    async with tenant_transaction(owner_engine, tenant.id) as conn:  # the next correction drops them
        await lock_tenant(conn, tenant.id)
        await correct_days(conn, tenant.id, [date(2025, 5, 2)], ZoneInfo("UTC"))
    assert (await rows(owner_engine, tenant.id, empty))[0][0] == 0


async def test_erasure_takes_a_person_out_of_the_aggregates(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant)
    await gql.track(tenant.publishable, EXPOSURES + PURCHASES)
    await run_worker()
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        await lock_tenant(conn, tenant.id)
        counts = await erase_person(conn, tenant.id, Identity("u2", ()))
    assert (counts["experiment_actors"], counts["experiment_actor_values"]) == (1, 2)
    assert [r[1:3] + r[5:] for r in await rows(owner_engine, tenant.id)] == [
        ("", "control", 2, 1, 0, 0.0, 0.0),
        ("purchased", "control", 0, 0, 2, 2.0, 2.0),
        ("revenue", "control", 0, 0, 2, 27.0, 449.0)]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_experiment_rows_expire_with_the_rollup_retention(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine,
        app_engine: AsyncEngine) -> None:
    from analytics.retention import enforce_retention

    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant)
    await gql.track(tenant.publishable, [exposure("2025-05-02T10:00:00Z", "u1", "control"),
                                         purchase("2025-05-02T12:00:00Z", "u1", 20),
                                         exposure("2025-05-20T10:00:00Z", "u2", "one-page"),
                                         purchase("2025-05-20T12:00:00Z", "u2", 30)])
    await run_worker()
    run = await enforce_retention(app_engine, now=datetime(2025, 6, 1, 12, tzinfo=UTC), rollup_days=20)
    removed = next(t for t in run.tenants if t.tenant_id == tenant.id).rollup_rows
    assert {k: v for k, v in removed.items() if k.startswith("experiment")} == {
        "experiment_actor_values": 2, "experiment_actors": 1, "experiment_variant_days": 3,
        "experiment_breakdown_days": 6}  # exposure, purchased, revenue by source and by device
    assert [r[1] for r in await rows(owner_engine, tenant.id, ACTORS)] == ["u:u2"]
    assert {(r[2], r[3]) for r in await rows(owner_engine, tenant.id)} == {("one-page", date(2025, 5, 20))}


SEGMENT = """mutation($input: DefineSegmentInput!) { defineSegment(input: $input) { id } }"""
ASSIGN = """query($u: String!) { assignment(experiment: "checkout", userId: $u, track: true) { variant tracked } }"""
EXPOSURES_READ = """{ tenant { experiment(key: "checkout") { segment results(range: {since: "7d"}) {
  exposures } } } }"""


async def test_a_targeting_segment_counts_and_assigns_its_members_only(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    await gql.data(tenant.secret, SEGMENT, {"input": {"id": "deployers", "name": "Deployers", "rule": {
        "conditions": [{"event": {"event": "deploy", "withinDays": 7, "atLeast": 1}}]}}})
    now = datetime.now(UTC).replace(microsecond=0)
    await gql.track(tenant.publishable, [event("Custom", (now - timedelta(hours=1)).isoformat(), "u1",
                                               name="deploy"),
                                         event("PageView", (now - timedelta(hours=1)).isoformat(), "u2",
                                               url="https://example.com/")])
    await run_worker()  # the rollup, then the segments job: u1 is a deployer, u2 is not
    await define(gql, tenant, plannedStart=None, segment="deployers")
    answer = await gql(tenant.secret, DEFINE_TARGETED, {"input": {**TARGETED, "segment": "nope"}})
    assert answer["errors"][0]["message"] == "input.segment: unknown segment 'nope'"
    member = (await gql.data(tenant.publishable, ASSIGN, {"u": "u1"}))["assignment"]
    outsider = (await gql.data(tenant.publishable, ASSIGN, {"u": "u2"}))["assignment"]
    assert member["variant"] in ("control", "one-page") and member["tracked"]
    assert outsider == {"variant": None, "tracked": False}
    # An exposure sent through track for the outsider is not counted either.
    await gql.track(tenant.publishable, [exposure(datetime.now(UTC).isoformat(), "u2", "control")])
    await run_worker()
    found = (await gql.data(tenant.secret, EXPOSURES_READ))["tenant"]["experiment"]
    assert found == {"segment": "deployers", "results": {"exposures": 1}}
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
    changed = await gql(tenant.secret, DEFINE_TARGETED, {"input": {**TARGETED, "segment": None}})
    assert "targeting segment cannot change" in changed["errors"][0]["message"]


DEFINE_TARGETED = """mutation($input: DefineExperimentInput!) { defineExperiment(input: $input) { key } }"""
TARGETED = {"key": "checkout", "variants": [{"key": "control", "control": True}, {"key": "one-page"}],
            "primaryMetric": "purchased", "secondaryMetrics": ["revenue"], "status": "RUNNING"}


CUPED_READ = """{ tenant { experiment(key: "checkout") { cuped results(range: {from: "2025-05-01", to: "2025-05-31"}) {
  method metrics { metric { key } varianceReduction variants { variant mean lift } } } } } }"""


async def test_cuped_uses_the_pre_period_and_reports_the_variance_reduction(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    import numpy as np

    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant, cuped=True)
    # (user, variant, spent in the 14 days before the exposure, spent after); u7's older purchase
    # (20 days before) is outside the pre-period.
    people = [("u1", "control", 10, 12), ("u2", "control", 20, 25), ("u3", "control", 30, 29),
              ("u4", "one-page", 10, 15), ("u5", "one-page", 20, 26), ("u6", "one-page", 30, 36)]
    events = [exposure("2025-05-20T10:00:00Z", "u7", "control"), purchase("2025-04-30T10:00:00Z", "u7", 99)]
    for user, variant, before, after in people:
        events += [exposure("2025-05-20T10:00:00Z", user, variant), purchase("2025-05-10T10:00:00Z", user, before),
                   purchase("2025-05-21T10:00:00Z", user, after)]
    await gql.track(tenant.publishable, events[::-1])  # out of order, too
    await run_worker()
    found = (await gql.data(tenant.secret, CUPED_READ))["tenant"]["experiment"]
    assert found["cuped"] and found["results"]["method"] == "fixed horizon, CUPED-adjusted"
    revenue = found["results"]["metrics"][1]
    pre = [np.array([p[2] for p in people if p[1] == v] + ([0] if v == "control" else [])) for v in ("control", "one-page")]
    post = [np.array([p[3] for p in people if p[1] == v] + ([0] if v == "control" else [])) for v in ("control", "one-page")]
    within_x = np.concatenate([x - x.mean() for x in pre])
    within_y = np.concatenate([y - y.mean() for y in post])
    theta = (within_x @ within_y) / (within_x @ within_x)
    assert revenue["varianceReduction"] == pytest.approx(100 * np.corrcoef(within_x, within_y)[0, 1] ** 2)
    everyone = np.concatenate(pre).mean()
    adjusted = [y.mean() - theta * (x.mean() - everyone) for x, y in zip(pre, post, strict=True)]
    # Means stay the metric's; the lift (and its test) is the CUPED-adjusted difference.
    assert [v["mean"] for v in revenue["variants"]] == pytest.approx([y.mean() for y in post])
    assert revenue["variants"][1]["lift"] == pytest.approx(adjusted[1] - adjusted[0])
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
