"""SESSION metrics: a figure of the actor's sessions (count, duration, page views) after its exposure,
kept incrementally as the sessions grow, with the 14 days before as CUPED's covariate; exact figures from
events written as data, and the aggregates equal to their recomputation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient, TenantKeys, event
from tests.experiments.test_experiments import DEFINE, DEFINE_METRIC

MAC = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
       "Version/17.4 Safari/605.1.15")
SITE = "https://shop.example.com"
RESULTS = """{ tenant { experiment(key: "visits-test") { results(range: {from: "2025-05-01", to: "2025-05-31"}) {
  exposures metrics { metric { key kind sessionFigure } variants { variant exposures conversions mean } } } } } }"""


def at_site(kind: str, at: str, user: str, **fields: Any) -> dict[str, Any]:
    return event(kind, at, user, url=f"{SITE}/pricing", context={"userAgent": MAC}, **fields)


def exposed(at: str, user: str, variant: str) -> dict[str, Any]:
    return at_site("ExperimentExposure", at, user, properties={"experiment": "visits-test", "variant": variant})


# u1 (control): exposed at 10:00, pages 10:05 and 10:20 (one session, 1,200 s, 2 page views), a page the
# next day at 12:00 (a second session). u2 (one-page): pages at 09:00 and 09:10 before its exposure (a
# 600 s session, 2 page views: the pre-period), exposed at 10:00, pages 10:10 and 10:30 (1,800 s, 2 page
# views). u3 (one-page): exposed, no pages.
FIRST = [exposed("2025-05-02T10:00:00Z", "u1", "control"),
         at_site("PageViewed", "2025-05-02T10:05:00Z", "u1"), at_site("PageViewed", "2025-05-02T10:20:00Z", "u1"),
         at_site("PageViewed", "2025-05-03T12:00:00Z", "u1"),
         at_site("PageViewed", "2025-05-02T09:00:00Z", "u2"), at_site("PageViewed", "2025-05-02T09:10:00Z", "u2"),
         exposed("2025-05-02T10:00:00Z", "u2", "one-page"),
         at_site("PageViewed", "2025-05-02T10:10:00Z", "u2"), at_site("PageViewed", "2025-05-02T10:30:00Z", "u2"),
         exposed("2025-05-02T11:00:00Z", "u3", "one-page")]


async def test_session_metrics_follow_the_sessions(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    for key, figure in (("visits", "SESSIONS"), ("time", "DURATION"), ("views", "PAGE_VIEWS")):
        await gql.data(tenant.secret, DEFINE_METRIC, {"input": {
            "key": key, "kind": "SESSION", "sessionFigure": figure, "matcher": {"event": "PageViewed"}}})
    await gql.data(tenant.secret, DEFINE, {"input": {
        "key": "visits-test", "variants": [{"key": "control", "control": True}, {"key": "one-page"}],
        "primaryMetric": "visits", "secondaryMetrics": ["time", "views"], "status": "RUNNING",
        "plannedStart": "2025-05-01T00:00:00Z"}})
    await gql.track(tenant.publishable, FIRST)
    await run_worker()

    async def figures() -> list[tuple[Any, ...]]:
        data = await gql.data(tenant.secret, RESULTS)
        return [(m["metric"]["key"], m["metric"]["sessionFigure"],
                 [(v["variant"], v["exposures"], v["conversions"], v["mean"]) for v in m["variants"]])
                for m in data["tenant"]["experiment"]["results"]["metrics"]]

    assert await figures() == [
        ("visits", "SESSIONS", [("control", 1, 1, 2.0), ("one-page", 2, 1, 0.5)]),
        ("time", "DURATION", [("control", 1, 1, 1200.0), ("one-page", 2, 1, 900.0)]),
        ("views", "PAGE_VIEWS", [("control", 1, 1, 3.0), ("one-page", 2, 1, 1.0)])]
    async with owner_engine.connect() as conn:
        pre = (await conn.execute(text(
            "SELECT metric, value, pre FROM experiment_actor_values WHERE tenant_id = :t AND actor = 'u:u2' "
            "ORDER BY metric"), {"t": tenant.id})).all()
        assert [tuple(r) for r in pre] == [("time", 1800.0, 600.0), ("views", 2.0, 2.0), ("visits", 1.0, 1.0)]
        assert await verify_rollups(conn, tenant.id) == []
    # u1's second session grows by an event no metric matches (12:00 -> 12:15): its duration follows.
    await gql.track(tenant.publishable, [at_site("Custom", "2025-05-03T12:15:00Z", "u1", name="ping",
                                                 properties={})])
    await run_worker()
    assert (await figures())[1] == ("time", "DURATION", [("control", 1, 1, 2100.0), ("one-page", 2, 1, 900.0)])
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_a_session_metric_names_its_figure(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    body = await gql(tenant.secret, DEFINE_METRIC, {"input": {"key": "visits", "kind": "SESSION",
                                                                "matcher": {"event": "PageViewed"}}})
    assert body["errors"][0]["extensions"]["field"] == "input.sessionFigure"
    body = await gql(tenant.secret, DEFINE_METRIC, {"input": {"key": "n", "kind": "COUNT", "sessionFigure": "DURATION",
                                                                "matcher": {"event": "PageViewed"}}})
    assert body["errors"][0]["extensions"]["field"] == "input.sessionFigure"
