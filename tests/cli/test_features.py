"""``analytics features`` and ``analytics usage`` as a user runs them against a real server."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from tests.conftest import GraphQLClient, Servers, TenantKeys, report
from tests.product.test_features import _weeks
from tests.product.test_usage import USAGE

WEEK = ("--since", "2026-06-08", "--until", "2026-06-14")


async def run(servers: Servers, url: str, key: str, *args: str) -> Any:
    result = await report(servers, url, key, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_features_and_usage_commands(servers: Servers, gql: GraphQLClient, make_tenant: Any,
                                           run_worker: Any, tmp_path: Path) -> None:
    tenant: TenantKeys = await make_tenant()
    defined = await run(servers, gql.url, tenant.secret, "features", "define", "View Documentation",
                        "--event", "docs_viewed", "--where", "page=/a")
    assert defined["matcher"] == {"event": "docs_viewed", "where": [{"property": "page", "op": "EQ", "value": "/a"}]}
    await run(servers, gql.url, tenant.secret, "features", "define", "Configure Monitoring",
              "--event", "monitoring_configured")
    await run(servers, gql.url, tenant.secret, "features", "define", "Deploy Application", "--event", "deploy")
    events = _weeks()
    assert (await gql.track(tenant.publishable, events))["accepted"] == len(events)
    await run_worker()
    adoption = await run(servers, gql.url, tenant.secret, "features", *WEEK)
    assert [(r["feature"]["name"], r["adoptionRate"], r["trend"]) for r in adoption["features"]] == [
        ("Configure Monitoring", 45.0, "DOWN"), ("Deploy Application", 52.5, "STABLE"),
        ("View Documentation", 55.0, "UP")]
    table = await report(servers, gql.url, tenant.secret, "features", *WEEK, "--export", str(tmp_path / "f.csv"))
    assert table.returncode == 0, table.stderr
    assert "↓ down" in table.stdout and "→ stable" in table.stdout and "↑ up" in table.stdout
    with (tmp_path / "f.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["feature"], r["adoption %"], r["trend"]) for r in rows][2] == ("View Documentation", "55.0", "↑ up")
    listed = await run(servers, gql.url, tenant.secret, "features", "list")
    assert [(f["name"], f["backfill"]["status"]) for f in listed["features"]] == [
        ("Configure Monitoring", "done"), ("Deploy Application", "done"), ("View Documentation", "done")]
    removed = await report(servers, gql.url, tenant.secret, "features", "remove", "Deploy Application")
    assert removed.returncode == 0 and "removed" in removed.stdout
    missing = await report(servers, gql.url, tenant.secret, "features", "remove", "Deploy Application")
    assert missing.returncode == 2 and "no feature named" in missing.stderr
    bad = await report(servers, gql.url, tenant.secret, "features", "define", "X", "--event", "e", "--where", "=1")
    assert bad.returncode == 2 and "--where" in bad.stderr

    usage = await run(servers, gql.url, tenant.secret, "usage", *WEEK, "--group-by", "day")
    graph = (await gql.data(tenant.secret, USAGE, {"range": {"from": "2026-06-08", "to": "2026-06-14"},
                                                   "granularity": "DAY", "compare": "PREVIOUS_PERIOD"}))
    assert (usage["activeUsers"], usage["totalUsers"], usage["dau"], usage["wau"], usage["mau"]) == (40, 40, 5.71, 40, 40)
    assert usage["activeUsers"] == graph["tenant"]["usage"]["activeUsers"]
    assert [p["activeUsers"] for p in usage["series"]] == [
        p["activeUsers"] for p in graph["tenant"]["usage"]["series"]] == [0, 40, 0, 0, 0, 0, 0]
    hourly = await report(servers, gql.url, tenant.secret, "usage", *WEEK, "--group-by", "hour")
    assert hourly.returncode == 2 and "--group-by" in hourly.stderr
