"""Experiments end to end: define, expose, convert, roll up, read the results; exactly once, verified
against a recomputation from raw events; key scopes and tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.experiments.assignment import assign
from analytics.experiments.definitions import Experiment, ExperimentStatus, Variant
from analytics.experiments.prometheus import experiment_families
from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient, TenantKeys, event

DEFINE_METRIC = """mutation($input: DefineMetricInput!) { defineMetric(input: $input) { key kind } }"""
DEFINE = """mutation($input: DefineExperimentInput!) { defineExperiment(input: $input) {
  key status startedAt variants { key weight control } } }"""
ASSIGN = """query($e: String!, $u: String, $t: Boolean!) { assignment(experiment: $e, userId: $u, track: $t) {
  experiment variant tracked } }"""
RESULTS = """query($k: String!) { tenant { experiment(key: $k) { key results(range: {from: "2025-05-01",
  to: "2025-05-31"}) { exposures multipleExposures sampleRatioMismatch recommendation winner method
  metrics { metric { key } role variants { variant exposures conversions conversionRate mean lift pValue
    significant probabilityToBeatControl } }
  series { day variant exposures conversions } } } } }"""


def exposure(at: str, user: str, variant: str, experiment: str = "checkout") -> dict[str, Any]:
    return event("ExperimentExposure", at, user, properties={"experiment": experiment, "variant": variant})


def purchase(at: str, user: str, amount: float) -> dict[str, Any]:
    return event("Custom", at, user, name="purchase", properties={"amount": amount})


async def define(gql: GraphQLClient, tenant: TenantKeys, **extra: Any) -> dict[str, Any]:
    for metric in ({"key": "purchased", "kind": "CONVERSION", "matcher": {"event": "purchase"}},
                   {"key": "revenue", "kind": "SUM", "matcher": {"event": "purchase"}, "property": "amount"}):
        await gql.data(tenant.secret, DEFINE_METRIC, {"input": metric})
    body = {"key": "checkout", "variants": [{"key": "control", "control": True}, {"key": "one-page"}],
            "primaryMetric": "purchased", "secondaryMetrics": ["revenue"], "status": "RUNNING",
            "plannedStart": "2025-05-01T00:00:00Z", "minActors": 2, "minConversions": 1, **extra}
    return (await gql.data(tenant.secret, DEFINE, {"input": body}))["defineExperiment"]


async def test_exposures_and_conversions_are_counted_once_and_verified(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    assert (await define(gql, tenant))["status"] == "RUNNING"
    first = [
        exposure("2025-05-02T10:00:00Z", "u1", "control"),
        exposure("2025-05-02T10:00:00Z", "u2", "control"),
        exposure("2025-05-02T11:00:00Z", "u3", "one-page"),
        exposure("2025-05-03T11:00:00Z", "u4", "one-page"),
        purchase("2025-05-02T09:00:00Z", "u1", 50),  # before u1's exposure: ignored
        purchase("2025-05-02T12:00:00Z", "u2", 20),
        purchase("2025-05-02T12:00:00Z", "u3", 30),
        purchase("2025-05-04T12:00:00Z", "u3", 10),
        purchase("2025-05-03T12:00:00Z", "u4", 40),
        purchase("2025-05-03T12:00:00Z", "nobody", 40),  # never exposed
        exposure("2025-04-30T10:00:00Z", "u5", "control"),  # before the start: not counted
        exposure("2025-05-02T10:00:00Z", "u6", "nope"),  # unknown variant: not counted
    ]
    assert (await gql.track(tenant.publishable, first))["accepted"] == 12
    await run_worker()
    # A retried batch is all duplicates; a second variant for u3 makes a multiple exposure.
    assert (await gql.track(tenant.publishable, first))["duplicates"] == 12
    assert (await gql.track(tenant.publishable, [exposure("2025-05-05T10:00:00Z", "u3", "control"),
                                                  purchase("2025-05-05T12:00:00Z", "u1", 5)]))["accepted"] == 2
    await run_worker()
    result = (await gql.data(tenant.secret, RESULTS, {"k": "checkout"}))["tenant"]["experiment"]["results"]
    assert (result["exposures"], result["multipleExposures"], result["sampleRatioMismatch"]) == (4, 1, False)
    purchased, revenue = result["metrics"]
    assert purchased["metric"]["key"] == "purchased" and purchased["role"] == "PRIMARY"
    assert [(v["variant"], v["exposures"], v["conversions"], v["conversionRate"]) for v in purchased["variants"]
            ] == [("control", 2, 2, 100.0), ("one-page", 2, 2, 100.0)]
    assert [(v["variant"], v["mean"]) for v in revenue["variants"]] == [("control", 12.5), ("one-page", 40.0)]
    assert revenue["variants"][1]["lift"] == 27.5
    assert result["series"] == [
        {"day": "2025-05-02", "variant": "control", "exposures": 2, "conversions": 2},
        {"day": "2025-05-02", "variant": "one-page", "exposures": 1, "conversions": 1},
        {"day": "2025-05-03", "variant": "control", "exposures": 2, "conversions": 2},
        {"day": "2025-05-03", "variant": "one-page", "exposures": 2, "conversions": 2}]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
        # A corrupted aggregate is found.
        await conn.execute(text("UPDATE experiment_variant_days SET actors = actors + 1 "
                                "WHERE tenant_id = :t AND metric = ''"), {"t": tenant.id})
        assert [d.table for d in await verify_rollups(conn, tenant.id)] == ["experiment_variant_days"]
        await conn.rollback()
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        families = await experiment_families(conn, now=datetime.now(UTC))
    assert [(s.family, s.labels.get("variant"), s.value) for s in families] == [
        ("analytics_active_experiments", None, 1.0),
        ("analytics_experiment_conversions", "control", 2.0),
        ("analytics_experiment_conversion_rate", "control", 100.0),
        ("analytics_experiment_conversions", "one-page", 2.0),
        ("analytics_experiment_conversion_rate", "one-page", 100.0),
        ("analytics_significant_results_total", None, 0.0)]


async def test_an_actor_exposed_again_to_its_variant_is_counted_once_from_its_first_exposure(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    # Each page view sends its own ExperimentExposure (a fresh event id): u1 sees control three times,
    # the later ones in another claim; its purchase between the second and third counts once.
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant)
    assert (await gql.track(tenant.publishable, [
        exposure("2025-05-03T10:00:00Z", "u1", "control"), exposure("2025-05-02T10:00:00Z", "u1", "control"),
        exposure("2025-05-02T11:00:00Z", "u2", "one-page")]))["accepted"] == 3
    await run_worker()
    assert (await gql.track(tenant.publishable, [
        purchase("2025-05-03T12:00:00Z", "u1", 30), exposure("2025-05-04T10:00:00Z", "u1", "control")]))[
        "accepted"] == 2
    await run_worker()
    result = (await gql.data(tenant.secret, RESULTS, {"k": "checkout"}))["tenant"]["experiment"]["results"]
    assert (result["exposures"], result["multipleExposures"]) == (2, 0)
    purchased, revenue = result["metrics"]
    assert [(v["variant"], v["exposures"], v["conversions"]) for v in purchased["variants"]] == [
        ("control", 1, 1), ("one-page", 1, 0)]
    assert [(v["variant"], v["mean"]) for v in revenue["variants"]] == [("control", 30.0), ("one-page", 0.0)]
    assert result["series"] == [  # u1 by its first exposure's day only
        {"day": "2025-05-02", "variant": "control", "exposures": 1, "conversions": 1},
        {"day": "2025-05-02", "variant": "one-page", "exposures": 1, "conversions": 0}]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_a_metric_added_later_is_backfilled(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                                  owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant, secondaryMetrics=[])
    await gql.track(tenant.publishable, [exposure("2025-05-02T10:00:00Z", "u1", "control"),
                                         purchase("2025-05-02T12:00:00Z", "u1", 20),
                                         purchase("2025-05-02T13:00:00Z", "u1", 22)])
    await run_worker()
    await define(gql, tenant)  # adds revenue: a worker job rebuilds from the raw events
    await run_worker()
    result = (await gql.data(tenant.secret, RESULTS, {"k": "checkout"}))["tenant"]["experiment"]["results"]
    assert [(v["variant"], v["mean"]) for v in result["metrics"][1]["variants"]] == [("control", 42.0),
                                                                                     ("one-page", 0.0)]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_running_variants_cannot_change(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant)
    body = {"key": "checkout", "variants": [{"key": "control", "control": True, "weight": 2}, {"key": "one-page"}],
            "primaryMetric": "purchased", "status": "RUNNING"}
    answer = await gql(tenant.secret, DEFINE, {"input": body})
    assert answer["errors"][0]["extensions"]["field"] == "input.variants"
    assert "cannot change" in answer["errors"][0]["message"]


async def test_assignment_is_deterministic_and_the_only_read_of_a_publishable_key(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    defined = await define(gql, tenant, plannedStart=None)
    answers = [(await gql.data(tenant.publishable, ASSIGN, {"e": "checkout", "u": "u1", "t": True}))["assignment"]
               for _ in range(2)]
    assert answers[0] == answers[1] and answers[0]["tracked"]
    async with owner_engine.connect() as conn:
        salt = (await conn.execute(text("SELECT salt FROM experiments WHERE tenant_id = :t"),
                                   {"t": tenant.id})).scalar_one()
    model = Experiment("checkout", None, salt, (Variant("control", 1, True), Variant("one-page", 1)), "purchased",
                       (), (), ExperimentStatus.RUNNING, False, 2, 1, None, None, None, None)
    assert answers[0]["variant"] == assign(model, "u:u1").key
    assert defined["variants"][0]["control"]
    await run_worker()
    async with owner_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT actor, variant FROM experiment_actors WHERE tenant_id = :t"),
                                   {"t": tenant.id})).all()
        assert [tuple(r) for r in rows] == [("u:u1", answers[0]["variant"])]  # twice asked, once exposed
    # A publishable key never reads results, nor defines anything.
    assert (await gql(tenant.publishable, RESULTS, {"k": "checkout"}))["errors"][0]["extensions"]["code"] == \
        "FORBIDDEN"
    assert (await gql(tenant.publishable, DEFINE_METRIC, {"input": {
        "key": "x", "kind": "COUNT", "matcher": {"event": "purchase"}}}))["errors"][0]["extensions"]["code"] == \
        "FORBIDDEN"
    # Another tenant sees neither the experiment nor an assignment for it.
    assert (await gql.data(other.secret, RESULTS, {"k": "checkout"}))["tenant"]["experiment"] is None
    assert (await gql(other.publishable, ASSIGN, {"e": "checkout", "u": "u1", "t": False}))["errors"][0][
        "extensions"]["field"] == "experiment"
