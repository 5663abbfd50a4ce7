"""``analytics funnels list|show``: the graph's funnels and results, as JSON, tables with bars and CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import GraphQLClient, Servers, TenantKeys, report
from tests.product.funnel_helpers import custom, define

RANGE = ("--since", "2025-05-01", "--until", "2025-05-31")


async def test_funnels_list_and_show(servers: Servers, gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                     tmp_path: Path) -> None:
    tenant: TenantKeys = await make_tenant()
    journeys = [custom("a", 0, "u1"), custom("b", 60, "u1"), custom("c", 120, "u1"),
                custom("a", 0, "u2"), custom("b", 60, "u2"), custom("a", 0, "u3"), custom("a", 0, "u4")]
    await gql.track(tenant.publishable, journeys)
    funnel = await define(gql, tenant.secret, "signup", windowSeconds=3600)
    await run_worker()

    listed = await report(servers, gql.url, tenant.secret, "funnels", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(f["id"], f["name"], f["backfill"]["status"]) for f in json.loads(listed.stdout)["funnels"]] == [
        (funnel["id"], "signup", "done")]

    shown = await report(servers, gql.url, tenant.secret, "funnels", "show", funnel["id"], *RANGE, "--json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert [s["actors"] for s in body["steps"]] == [4, 2, 1]
    assert body["biggestDropOff"] == {"index": 1} and body["previous"]["entered"] == 0

    csv_file = tmp_path / "funnel.csv"
    table = await report(servers, gql.url, tenant.secret, "funnels", "show", funnel["id"], *RANGE,
                         "--export", str(csv_file))
    assert table.returncode == 0, table.stderr
    assert "████████████████████" in table.stdout and "<-- drop-off" in table.stdout
    lines = [line for line in table.stdout.splitlines() if "<-- drop-off" in line]
    assert len(lines) == 1 and "b" in lines[0]
    assert csv_file.read_text().count("<-- drop-off") == 1

    missing = await report(servers, gql.url, tenant.secret, "funnels", "show", "999999", *RANGE)
    assert missing.returncode != 0 and "no funnel with id" in missing.stderr
