"""Reference 001's business gauges on /metrics: off by default, turned on per tenant (CLI or mutation),
refreshed by the worker job into Redis, labelled by tenant and feature name."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.settings import Settings
from tests.conftest import GraphQLClient, Servers, TenantKeys, cli, event
from workers import jobs
from workers.business_metrics import refresh_business_metrics

USAGE_GAUGES = ("analytics_total_users", "analytics_active_users", "analytics_page_views_total",
                "analytics_unique_visitors", "analytics_avg_session_duration_seconds",
                "analytics_bounce_rate_percentage")
FEATURE_GAUGES = ("analytics_feature_adoption_rate", "analytics_feature_usage_total",
                  "analytics_feature_unique_users")


def ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


async def scrape(http: httpx.AsyncClient, base_url: str, tenant: str) -> dict[tuple[str, tuple[str, ...]], float]:
    response = await http.get(f"{base_url}/metrics")
    assert response.status_code == 200
    return {(s.name, tuple(v for k, v in sorted(s.labels.items()) if k != "tenant")): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples
            if s.labels.get("tenant") == tenant}


async def test_business_gauges_after_the_refresh(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                                 servers: Servers, settings: Settings, http: httpx.AsyncClient,
                                                 base_url: str, app_engine: AsyncEngine) -> None:
    shown: TenantKeys = await make_tenant()
    switched_off: TenantKeys = await make_tenant()
    for tenant in (shown, switched_off):
        await gql.data(tenant.secret, 'mutation { defineFeature(name: "Deploy Application", '
                                      'matcher: {event: "deploy"}) { id } }')
        await gql.data(tenant.secret, 'mutation { defineFunnel(input: {name: "Deploy twice", steps: '
                                      '[{matcher: {event: "deploy"}}, {matcher: {event: "deploy"}}]}) { id } }')
        page = "https://shop.example.com"
        events = [event("Custom", ago(50), "u1", name="deploy", sessionId="s1"),
                  event("Custom", ago(49), "u1", name="deploy", sessionId="s1"),
                  event("Custom", ago(40), "u2", name="deploy", sessionId="s2"),
                  event("Custom", ago(30), "u3", name="open", sessionId="s3"),
                  event("PageViewed", ago(20), None, url=f"{page}/", sessionId="pv1"),
                  event("PageViewed", ago(19), None, url=f"{page}/docs", sessionId="pv1"),
                  event("PageViewed", ago(10), None, url=f"{page}/", sessionId="pv2")]
        assert (await gql.track(tenant.publishable, events))["accepted"] == 7
    await run_worker()
    assert (await gql.data(shown.secret, "{ tenant { businessMetrics } }")) == {"tenant": {"businessMetrics": False}}
    done = await asyncio.to_thread(cli, servers, "tenants", "update", shown.name, "--business-metrics")
    assert done.returncode == 0, done.stderr
    assert "business gauges shown" in done.stdout
    assert (await gql.data(shown.secret, "{ tenant { businessMetrics } }")) == {"tenant": {"businessMetrics": True}}
    assert (await gql.data(switched_off.secret, "mutation { setBusinessMetrics(enabled: true) }")
            ) == {"setBusinessMetrics": True}
    assert (await gql.data(switched_off.secret, "mutation { setBusinessMetrics(enabled: false) }")
            ) == {"setBusinessMetrics": False}
    redis = Redis.from_url(settings.redis_url or "")
    try:
        assert await refresh_business_metrics({"engine": app_engine, "redis": redis}, min_interval=0) >= 1
        # The cron's own entry point refreshes at most every 30 s: a second call right after is skipped.
        await jobs.refresh_business_gauges({"engine": app_engine, "redis": redis})
        assert await jobs.refresh_business_gauges({"engine": app_engine, "redis": redis}) == -1
    finally:
        await redis.aclose()
    gauges = await scrape(http, base_url, shown.name)
    # Segments: the three people are new; their engagement is the segments' own figure.
    engagement = {key: gauges.pop(key) for key in list(gauges) if key[0] == "analytics_segment_engagement"}
    assert set(engagement) == {("analytics_segment_engagement", (name,))
                               for name in ("Power users", "Regular users", "New users", "At risk")}
    assert {key: gauges.pop(key) for key in list(gauges) if key[0] == "analytics_segment_size"} == {
        ("analytics_segment_size", ("Power users",)): 0.0, ("analytics_segment_size", ("Regular users",)): 0.0,
        ("analytics_segment_size", ("New users",)): 3.0, ("analytics_segment_size", ("At risk",)): 0.0}
    # The funnel: u1 deployed twice (converted), u2 once (still inside the 14-day window: no drop-off).
    assert {key: gauges.pop(key) for key in list(gauges) if "funnel" in key[0]} == {
        ("analytics_funnel_conversion_rate", ("Deploy twice",)): 50.0,
        ("analytics_funnel_step_completion_rate", ("Deploy twice", "deploy")): 50.0,
        ("analytics_funnel_drop_off_rate", ("Deploy twice", "deploy")): 0.0}
    assert {key: gauges.pop(key) for key in list(gauges) if key[0] in (
        "analytics_active_experiments", "analytics_significant_results_total")} == {
        ("analytics_active_experiments", ()): 0.0, ("analytics_significant_results_total", ()): 0.0}
    # Sessions: s1 (60 s), s2, s3 (0 s), pv1 (2 pages, 60 s), pv2 (a bounce): 120 s / 5, 1 bounce in 5.
    # Visitors: u1, u2, u3 (their ids name them) and the cookieless page views' one.
    assert gauges == {
        ("analytics_total_users", ()): 3.0, ("analytics_active_users", ()): 3.0,
        ("analytics_page_views_total", ()): 3.0, ("analytics_unique_visitors", ()): 4.0,
        ("analytics_avg_session_duration_seconds", ()): 24.0, ("analytics_bounce_rate_percentage", ()): 20.0,
        ("analytics_feature_adoption_rate", ("Deploy Application",)): 66.67,
        ("analytics_feature_usage_total", ("Deploy Application",)): 3.0,
        ("analytics_feature_unique_users", ("Deploy Application",)): 2.0,
    }
    assert await scrape(http, base_url, switched_off.name) == {}
