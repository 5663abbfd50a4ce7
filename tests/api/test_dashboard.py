"""The dashboard at /dashboard: the page and its vendored assets over HTTP, its trusted documents run
by id over GET (under allowlist mode too, revalidated by ETag), then a real headless Chromium on a
small deterministic slice of the demo data, checking every page's figures against the graph."""

from __future__ import annotations

import hashlib
import json
import os
import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from graphql import OperationDefinitionNode, OperationType, parse, validate
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import persisted
from analytics.ai.demo import demo_ai_events
from analytics.db import tenant_transaction
from analytics.demo import demo_events, demo_traffic
from analytics.demo_definitions import define_demo
from analytics.demo_product import demo_product_events
from analytics.experiments.demo import define_demo_experiments
from analytics.ingest.events import EventIn
from analytics.ingest.origin import Origin, load_salts
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.settings import ApiLimits
from api.cost import operation_cost
from api.dashboard import document_id, documents, vendor
from api.schema import schema
from tests.browser import require_browser, run_browser_script
from tests.conftest import GraphQLClient, TenantKeys

HTML = {"Accept": "text/html"}
JSON_ACCEPT = {"Accept": "application/json"}
ASSET_REFERENCE = re.compile(r"""(?:src|href)="([^"]*)\"""")
DOCS = Path(__file__).resolve().parents[2] / "docs"
DAYS = 8  # the last 7 days and a little before them: enough for every page and for compare


async def test_the_page_is_same_origin_under_a_strict_csp(http: httpx.AsyncClient, base_url: str) -> None:
    response = await http.get(f"{base_url}/dashboard", headers=HTML)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "unsafe-inline" not in csp
    html = response.text
    assert "http://" not in html and "https://" not in html
    paths = [ref for ref in ASSET_REFERENCE.findall(html) if not ref.startswith(("data:", "#"))]
    assert len(paths) == 3 and all(re.fullmatch(r"/dashboard/static/[\w.-]+\?v=[0-9a-f]{16}", p) for p in paths)
    manifest = json.loads(re.search(r'id="dashboard-manifest">(.*?)</script>', html).group(1))  # type: ignore[union-attr]
    assert manifest["documents"] == {name: document_id(text) for name, text in documents().items()}
    for path in [*paths, "/dashboard/static/lib.js", "/dashboard/static/pages.js", "/dashboard/static/uPlot.esm.js"]:
        asset = await http.get(f"{base_url}{path}", headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200, path
        if "?v=" in path:
            assert path.endswith("?v=" + hashlib.sha256(asset.content).hexdigest()[:16])
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        if "uPlot" not in path:  # our own code names no other host (the browser test cuts the network)
            assert "http://" not in asset.text and "https://" not in asset.text, path
    assert (await http.get(f"{base_url}/dashboard/", follow_redirects=False)).status_code == 308


def test_vendored_files_match_their_recorded_sha256() -> None:
    assert vendor.check() == []


def test_every_document_is_valid_and_within_the_cost_limit_over_90_days() -> None:
    variables = {"range": {"preset": "LAST_90_DAYS"}, "compare": "PREVIOUS_PERIOD", "includeBots": True,
                 "id": "x", "key": "x"}
    # Hourly buckets are offered for periods up to 7 days (api/dashboard/static/app.js HOUR_LIMIT_DAYS).
    hourly = {**variables, "range": {"preset": "LAST_7_DAYS"}, "granularity": "HOUR"}
    for name, text in documents().items():
        document = parse(text)
        assert validate(schema._schema, document) == [], name
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        assert operation.operation is OperationType.QUERY and operation.name and operation.name.value == name
        for values in (variables, hourly):
            cost = operation_cost(schema._schema, document, operation, values, ZoneInfo("UTC"))
            assert cost <= ApiLimits().max_cost // 2, (name, values, cost)


async def test_documents_run_by_id_over_get_in_allowlist_mode_and_revalidate(
        http: httpx.AsyncClient, base_url: str, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    async with owner_engine.begin() as conn:
        await persisted.set_persisted_only(conn, tenant.id, True)
    auth = {**JSON_ACCEPT, "Authorization": f"Bearer {tenant.secret}"}
    text = documents()["DashboardTraffic"]
    variables = json.dumps({"range": {"preset": "LAST_7_DAYS"}, "compare": None, "includeBots": False})
    params = {"documentId": document_id(text), "operationName": "DashboardTraffic", "variables": variables}
    answer = await http.get(f"{base_url}/graphql", params=params, headers=auth)
    assert answer.status_code == 200 and "errors" not in answer.json(), answer.text
    assert answer.json()["data"]["tenant"]["traffic"]["sources"] == []
    again = await http.get(f"{base_url}/graphql", params=params, headers={**auth, "If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    # The same text sent as a query is not on this tenant's allowlist, and nothing runs without a key.
    refused = await http.get(f"{base_url}/graphql", params={"query": text, "variables": variables}, headers=auth)
    assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_NOT_IN_SAFELIST"
    anonymous = await http.get(f"{base_url}/graphql", params=params, headers=JSON_ACCEPT)
    assert anonymous.json()["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
    publishable = await http.get(f"{base_url}/graphql", params=params,
                                 headers={**JSON_ACCEPT, "Authorization": f"Bearer {tenant.publishable}"})
    assert publishable.json()["errors"][0]["extensions"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN")
    assert "data" not in publishable.json() or publishable.json()["data"] is None


def one_in_four(events: Iterator[EventIn]) -> list[EventIn]:
    """A quarter of the people (by user id), with all their events: the demo's shape, fewer events."""
    return [e for e in events if zlib.crc32((e.user_id or "").encode()) % 4 == 0]


async def load_small_demo(app_engine: AsyncEngine, tenant: TenantKeys, now: datetime) -> int:
    """The demo's tours and AI requests of a quarter of its people and its site traffic (crawlers,
    scanner and script included), over the last DAYS days instead of six weeks: about 10k events."""
    tz = ZoneInfo("UTC")
    async with tenant_transaction(app_engine, tenant.id) as conn:
        await define_demo(conn, tenant.id)
    batches: list[tuple[Origin | None, list[EventIn]]] = [
        (None, one_in_four(demo_events(days=DAYS, tz=tz, now=now))),
        (None, one_in_four(demo_ai_events(days=DAYS, tz=tz, now=now))),
        (None, list(demo_product_events(days=DAYS, tz=tz, now=now))),
        (None, one_in_four(iter(await define_demo_experiments(app_engine, tenant.id, tz=tz, now=now))))]
    batches += [(Origin(tenant_id=tenant.id, ip="198.51.100.20", user_agent=None, store_ip=False,
                        salts=await load_salts(app_engine, at.date())), events)
                for at, events in demo_traffic(days=DAYS, tz=tz, now=now)]
    partitions, accepted = PartitionCache(), 0
    for origin, events in batches:
        for start in range(0, len(events), 1000):
            outcome = await ingest_batch(app_engine, partitions, tenant_id=tenant.id, events=events[start:start + 1000],
                                         retention_days=3650, max_future_seconds=86400, origin=origin)
            assert outcome.errors == []
            accepted += outcome.accepted
    return accepted


def figures(node: Any, fields: dict[str, str]) -> dict[str, Any]:
    """{figure id: value} from a graph answer, by dotted paths."""
    found = {}
    for figure, path in fields.items():
        value = node
        for part in path.split("."):
            value = None if value is None else value[part]
        found[figure] = value
    return found


OVERVIEW = {"sessions": "overview.sessions.sessions", "visitors": "overview.sessions.visitors",
            "pageViews": "overview.sessions.pageViews", "bounceRate": "overview.sessions.bounceRate",
            "avgSessionDuration": "overview.sessions.avgSessionDurationSeconds",
            "tourStarts": "overview.totals.starts", "tourCompletion": "overview.totals.completionRate",
            "contentViews": "overview.content.views", "conversions": "overview.content.conversions",
            "cost": "costs.summary.total"}
# Every figure of the overview carries its change (relative, percent) when compare is on.
OVERVIEW_CHANGE = {figure: "{}.change.{}".format(*path.rsplit(".", 1)) for figure, path in OVERVIEW.items()}


def shown(values: dict[str, str]) -> dict[str, float | None]:
    return {k: (float(v) if v != "" else None) for k, v in values.items()}


def expected(values: dict[str, Any]) -> dict[str, float | None]:
    return {k: (float(v) if v is not None else None) for k, v in values.items()}


async def test_every_page_renders_the_graphs_figures_in_headless_chromium(
        base_url: str, make_tenant: Any, app_engine: AsyncEngine, run_worker: Any, gql: GraphQLClient,
        tmp_path: Path) -> None:
    await require_browser()
    tenant: TenantKeys = await make_tenant()
    now = datetime.now(UTC)
    assert await load_small_demo(app_engine, tenant, now) > 1000
    await run_worker()
    shots = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path)
    custom = {"from": (now.date() - timedelta(days=3)).isoformat(),
              "to": (now.date() - timedelta(days=1)).isoformat()}
    report = await run_browser_script("dashboard.mjs", f"{base_url}/dashboard", env={
        "DASHBOARD_API_KEY": tenant.secret, "DASHBOARD_SCREENSHOTS": str(shots),
        "DASHBOARD_FROM": custom["from"], "DASHBOARD_TO": custom["to"]}, hint=f"screenshots: {shots}")
    assert report["blocked"] == [], report["blocked"]
    assert report["failed"] == [] and report["consoleErrors"] == [], report
    assert report["keyInUrl"] is False and report["keyStorage"] == "session"
    assert report["unlabelled"] == [] and report["overflowAtPhoneWidth"] is False

    async def graph(name: str, range_: dict[str, str], compare: bool = False, bots: bool = False,
                    **extra: Any) -> Any:
        variables = {"range": range_, "compare": "PREVIOUS_PERIOD" if compare else None, "includeBots": bots, **extra}
        return (await gql.data(tenant.secret, documents()[name], variables))["tenant"]

    week = {"preset": "LAST_7_DAYS"}
    # The overview: the default period, with compare, another preset, a custom range, bots included.
    states = {"week": (week, False, False), "compare": (week, True, False),
              "month": ({"preset": "LAST_30_DAYS"}, True, False), "custom": (custom, True, False),
              "bots": ({"preset": "LAST_30_DAYS"}, True, True)}
    answers = {}
    for state, (range_, compare, bots) in states.items():
        answer = await graph("DashboardOverview", range_, compare, bots)
        answers[state] = answer
        assert shown(report["overview"][state]["figures"]) == expected(figures(answer, OVERVIEW)), state
        if compare:
            assert shown(report["overview"][state]["changes"]) == expected(figures(answer, OVERVIEW_CHANGE)), state
        else:
            assert report["overview"][state]["changes"] == {}
        assert report["overview"][state]["topSources"] == [
            [r["key"], r["sessions"]] for r in answer["overview"]["topSources"]], state
    assert answers["week"]["overview"]["sessions"]["sessions"] > 0
    assert report["overview"]["month"]["figures"] != report["overview"]["compare"]["figures"]  # the picker
    assert report["overview"]["bots"]["figures"]["sessions"] != report["overview"]["month"]["figures"]["sessions"]
    assert report["overview"]["week"]["needsAttention"] == answers["week"]["overview"]["needsAttention"]["tour"]["id"]

    # Auto-refresh: an unchanged answer came back as a bodiless 304 and the page was kept.
    assert report["refresh"]["notModified"] >= 1 and report["refresh"]["rerendered"] is False

    tours = await graph("DashboardTours", week)
    assert report["tours"]["rows"] == [[t["title"], t["stats"]["starts"], t["stats"]["completions"]]
                                       for t in tours["tours"]["nodes"]]
    tour_id = report["tour"]["id"]
    tour = (await graph("DashboardTour", week, id=tour_id))["tour"]
    assert shown(report["tour"]["figures"]) == expected(figures(tour, {
        "starts": "stats.starts", "completions": "stats.completions", "completionRate": "stats.completionRate",
        "dismissalRate": "stats.dismissalRate", "targetFailures": "stats.targetFailures"}))
    assert report["tour"]["funnel"] == [s["users"] for s in tour["funnel"]["steps"]]
    assert report["tour"]["worstStep"] == tour["funnel"]["biggestDropOff"]["index"]

    # Buckets: Hour on the tour and the overview (last 7 days), Day on the overview; Hour is not offered
    # for 30 days.
    assert report["granularity"]["hourOfferedForMonth"] is False
    hourly_tour = (await graph("DashboardTour", week, id=tour_id, granularity="HOUR"))["tour"]["series"]
    assert hourly_tour["granularity"] == "HOUR" and len(hourly_tour["points"]) >= 7 * 24
    assert report["granularity"]["tourHour"] == {"granularity": "HOUR", "points": [
        [p["start"], p["starts"], p["completions"]] for p in hourly_tour["points"]]}
    for bucket in ("HOUR", "DAY"):
        series = (await graph("DashboardOverview", week, granularity=bucket))["sessionSeries"]
        assert series["granularity"] == bucket
        assert report["granularity"][f"sessions{bucket.title()}"] == {"granularity": bucket, "points": [
            [p["start"], p["sessions"], p["visitors"]] for p in series["points"]]}, bucket

    for bots in (False, True):
        traffic = (await graph("DashboardTraffic", week, bots=bots))["traffic"]
        seen = report["traffic"]["bots" if bots else "people"]
        assert seen["sources"] == [[r["key"], r["sessions"]] for r in traffic["sources"]]
        assert seen["devices"] == [[r["key"], r["sessions"]] for r in traffic["devices"]]
        assert seen["tiers"] == [[f"{r['tier']}. {r['name']}", r["sessions"]] for r in traffic["bots"]["byTier"]]
        assert seen["removed"] == traffic["bots"]["excludedSessions"] > 0
    assert report["traffic"]["people"]["sources"] != report["traffic"]["bots"]["sources"]  # the bot toggle

    content = (await graph("DashboardContent", week))["content"]
    assert shown(report["content"]["figures"]) == expected(figures(content, {
        "views": "stats.views", "uniqueViews": "stats.uniqueViews", "ctaClicks": "stats.ctaClicks",
        "conversions": "stats.conversions", "conversionRate": "stats.conversionRate",
        "avgTime": "stats.avgTimeOnContentSeconds"}))
    costs = (await graph("DashboardCosts", week))["costs"]
    assert shown(report["costs"]["figures"]) == expected(figures(costs, {
        "total": "summary.total", "requests": "summary.requests", "unpricedTokens": "summary.unpricedTokens",
        "projectedMonth": "summary.projectedMonth"}))
    assert report["costs"]["models"] == [[r["key"] or "(none)", r["requests"]] for r in costs["models"]]
    funnels = [(await graph("DashboardFunnel", week, id=f["id"]))["funnel"]
               for f in (await gql.data(tenant.secret, documents()["DashboardFunnels"]))["tenant"]["funnels"]]
    assert report["funnels"] == {f["id"]: [f["result"]["entered"], [s["actors"] for s in f["result"]["steps"]]]
                                 for f in funnels}
    assert any(entered > 0 for entered, _ in report["funnels"].values())
    segments = await gql.data(tenant.secret, documents()["DashboardSegments"], {"range": week})
    assert report["segments"] == [[s["name"], s["size"]] for s in segments["tenant"]["segments"]]
    movements = {}
    for s in segments["tenant"]["segments"]:
        outside = "(no built-in segment)" if s["builtIn"] else "(outside the segment)"
        moved = (await gql.data(tenant.secret, documents()["DashboardSegmentMovements"], {
            "id": s["id"], "range": week}))["tenant"]["segment"]["movements"]
        movements[s["id"]] = {"rows": [[f"{m['from'] or outside} → {m['to'] or outside}", m["users"]] for m in moved],
                              "empty": None if moved else "Nobody joined or left this segment in this period: " + (
                                  "everyone who was in it at the start stayed, and nobody new qualified." if s["builtIn"]
                                  else "its rule matched the same people at the start and the end.")}
    assert report["movements"] == movements
    print(f"\nsegment movements (last 7 days): {movements}")
    features = (await graph("DashboardFeatures", week))["featureAdoption"]["features"]
    assert report["features"] == [[f["feature"]["name"], f["usageCount"], f["trend"]] for f in features]
    assert any(uses > 0 for _, uses, _ in report["features"])
    experiments = [(await gql.data(tenant.secret, documents()["DashboardExperiment"], {
        "key": e["key"], "range": week, "includeBots": False}))["tenant"]["experiment"]
        for e in (await gql.data(tenant.secret, documents()["DashboardExperiments"]))["tenant"]["experiments"]]
    assert report["experiments"] == [e["results"]["recommendation"] for e in experiments]
    assert report["experiments"]
    # Live sessions move with the clock: the page shows a count (or says why there is none).
    assert report["live"]["count"] >= 0

    for name in ("overview", "overview-compare", "overview-phone", "overview-hourly", "tours", "tour", "traffic", "content",
                 "funnels", "segments", "features", "experiments", "costs", "live"):
        assert (shots / f"dashboard-{name}.png").stat().st_size > 5000, name
    # Reported, not asserted (CI machines differ): from navigation start to the overview's figures.
    print(f"\ndashboard overview first paint: {report['firstPaint']}")
