"""Experiment results by traffic source, device and segment, and results filtered by a segment: exact
figures from events written as data, the breakdown aggregates equal to their recomputation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import lock_tenant, tenant_transaction
from analytics.experiments.definitions import load_experiment
from analytics.experiments.results import experiment_results
from analytics.rollups.recompute import verify_rollups
from analytics.users.erasure import erase_person
from analytics.users.subjects import Identity
from tests.conftest import GraphQLClient, Servers, TenantKeys, event, report
from tests.experiments.test_experiments import define, purchase

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "Version/17.4 Safari/605.1.15")
GOOGLE = "https://www.google.com/"
BREAKDOWN = """query($by: ExperimentBreakdownDimension!, $limit: Int, $metric: String, $segment: String) {
  tenant { experiment(key: "checkout") { results(range: {from: "2025-05-01", to: "2025-05-31"}) {
    breakdown(by: $by, limit: $limit, metric: $metric) { value variants { variant exposures conversions mean
      pValue adjustedPValue } } }
  filtered: results(range: {from: "2025-05-01", to: "2025-05-31"}, segment: $segment) {
    exposures metrics { metric { key } variants { variant exposures conversions mean } }
    series { day variant exposures conversions } } } } }"""


def seen(at: str, user: str, variant: str, agent: str, referrer: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"userAgent": agent}
    if referrer:
        context["referrer"] = referrer
    return event("ExperimentExposure", at, user, properties={"experiment": "checkout", "variant": variant},
                 url="https://shop.example/checkout", context=context)


# Control: u1 (Mac, direct), u2 (iPhone, Google); one-page: u3 (iPhone, Google), u4 (Mac, direct),
# u5 (iPhone, direct). Purchases: u2 30, u3 20 and 5, u4 10.
EVENTS = [seen("2025-05-02T10:00:00Z", "u1", "control", MAC),
          seen("2025-05-02T10:05:00Z", "u2", "control", IPHONE, GOOGLE),
          seen("2025-05-02T11:00:00Z", "u3", "one-page", IPHONE, GOOGLE),
          seen("2025-05-03T11:00:00Z", "u4", "one-page", MAC),
          seen("2025-05-03T12:00:00Z", "u5", "one-page", IPHONE),
          purchase("2025-05-02T12:00:00Z", "u2", 30), purchase("2025-05-02T12:00:00Z", "u3", 20),
          purchase("2025-05-04T12:00:00Z", "u3", 5), purchase("2025-05-03T13:00:00Z", "u4", 10)]


def figures(groups: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(g["value"], *((v["variant"], v["exposures"], v["conversions"], v["mean"]) for v in g["variants"]))
            for g in groups]


async def test_breakdown_by_source_and_device_from_the_aggregates(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine, servers: Servers) -> None:
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant)
    await gql.track(tenant.publishable, EVENTS)
    await run_worker()

    async def breakdown(**variables: Any) -> list[tuple[Any, ...]]:
        data = await gql.data(tenant.secret, BREAKDOWN, variables)
        return figures(data["tenant"]["experiment"]["results"]["breakdown"])

    assert await breakdown(by="DEVICE") == [
        ("mobile", ("control", 1, 1, 1.0), ("one-page", 2, 1, 0.5)),
        ("desktop", ("control", 1, 0, 0.0), ("one-page", 1, 1, 1.0))]
    assert await breakdown(by="SOURCE", metric="revenue") == [
        ("direct", ("control", 1, 0, 0.0), ("one-page", 2, 1, 5.0)),
        ("organic_search", ("control", 1, 1, 30.0), ("one-page", 1, 1, 25.0))]
    # One group: the rest together as (other).
    assert await breakdown(by="SOURCE", limit=1) == [("(other)", ("control", 2, 1, 0.5), ("one-page", 3, 2, 2 / 3))]
    # The command line prints the same breakdown (and refuses --by with --segment).
    shown = await report(servers, gql.url, tenant.secret, "experiments", "show", "checkout", "--since",
                         "2025-05-01", "--until", "2025-05-31", "--by", "device", "--metric", "revenue", "--json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)["breakdown"]
    assert (body["by"], body["metric"]) == ("device", "revenue")
    assert figures(body["groups"]) == [("mobile", ("control", 1, 1, 30.0), ("one-page", 2, 1, 12.5)),
                                       ("desktop", ("control", 1, 0, 0.0), ("one-page", 1, 1, 10.0))]
    table = await report(servers, gql.url, tenant.secret, "experiments", "show", "checkout", "--since",
                         "2025-05-01", "--until", "2025-05-31", "--by", "source")
    assert table.returncode == 0 and "purchased by source" in table.stdout and "organic_search" in table.stdout
    refused = await report(servers, gql.url, tenant.secret, "experiments", "show", "checkout", "--by", "device",
                           "--segment", "new")
    assert refused.returncode == 2 and "--by: not with --segment" in refused.stderr
    # The aggregates equal their recomputation from the raw events; erasing u3 takes it out of them.
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
    # Another tenant's experiment of the same key sees none of it; a publishable key gets no breakdown.
    other: TenantKeys = await make_tenant()
    await define(gql, other)
    data = await gql.data(other.secret, BREAKDOWN, {"by": "DEVICE"})
    assert data["tenant"]["experiment"]["results"]["breakdown"] == []
    refused = await gql(tenant.publishable, BREAKDOWN, {"by": "DEVICE"})
    assert refused["errors"] and not (refused.get("data") or {}).get("tenant")
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        await lock_tenant(conn, tenant.id)
        await erase_person(conn, tenant.id, Identity("u3", ()))
    assert await breakdown(by="DEVICE") == [
        ("desktop", ("control", 1, 0, 0.0), ("one-page", 1, 1, 1.0)),
        ("mobile", ("control", 1, 1, 1.0), ("one-page", 1, 0, 0.0))]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_results_of_a_segment_count_its_members_at_their_exposure(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant)
    await gql.track(tenant.publishable, EVENTS)
    await run_worker()
    # "new": u1 and u3 before their exposures, u4 only after its exposure (not counted), u5 left before it.
    may, june = datetime(2025, 5, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC)
    members = [("u:u1", may, None), ("u:u3", may, None), ("u:u4", datetime(2025, 5, 3, 11, 30, tzinfo=UTC), None),
               ("u:u5", may, datetime(2025, 5, 2, tzinfo=UTC)), ("u:u2", june, None)]
    async with owner_engine.begin() as conn:
        for user, start, end in members:
            await conn.execute(text("INSERT INTO segment_members (tenant_id, segment_id, user_key, valid_from, "
                                    "valid_to) VALUES (:t, 'new', :u, :f, :e)"),
                               {"t": tenant.id, "u": user, "f": start, "e": end})
    data = await gql.data(tenant.secret, BREAKDOWN, {"by": "SEGMENT", "segment": "new"})
    filtered = data["tenant"]["experiment"]["filtered"]
    assert filtered["exposures"] == 2
    assert [(m["metric"]["key"], [(v["variant"], v["exposures"], v["conversions"], v["mean"]) for v in m["variants"]])
            for m in filtered["metrics"]] == [
        ("purchased", [("control", 1, 0, 0.0), ("one-page", 1, 1, 1.0)]),
        ("revenue", [("control", 1, 0, 0.0), ("one-page", 1, 1, 25.0)])]
    assert [(p["day"], p["variant"], p["exposures"], p["conversions"]) for p in filtered["series"]] == [
        ("2025-05-02", "control", 1, 0), ("2025-05-02", "one-page", 1, 1)]
    assert figures(data["tenant"]["experiment"]["results"]["breakdown"]) == [
        ("new", ("control", 1, 0, 0.0), ("one-page", 1, 1, 1.0))]
    # Its reads are planned for the segment and the days, not by a prepared statement's generic plan.
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        experiment = await load_experiment(conn, "checkout")
        assert experiment is not None
        again = await experiment_results(conn, experiment, first=date(2025, 5, 1), last=date(2025, 5, 31),
                                         include_bots=False, now=datetime.now(UTC), segment="new")
        assert (await conn.execute(text("SHOW plan_cache_mode"))).scalar_one() == "force_custom_plan"
    assert sum(again.exposures.values()) == 2
    # An unknown segment is an error that names the argument; a breakdown of filtered results is refused.
    body = await gql(tenant.secret, BREAKDOWN, {"by": "DEVICE", "segment": "nope"})
    assert "unknown segment 'nope'" in body["errors"][0]["message"]
