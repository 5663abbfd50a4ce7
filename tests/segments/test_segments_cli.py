"""``analytics segments`` and ``analytics segments show <id>`` against a real server: the graph's figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.segments.assign import assign_marked, start_daily
from tests.conftest import GraphQLClient, Servers, TenantKeys, report
from tests.segments.test_segments import JOURNEYS, JUNE_30, MAY_28, load


async def test_segments_list_and_show(servers: Servers, base_url: str, gql: GraphQLClient,
                                      make_tenant: Any, app_engine: AsyncEngine, tmp_path: Path) -> None:
    tenant: TenantKeys = await make_tenant()
    await load(gql, tenant, JOURNEYS, app_engine)
    await assign_marked(app_engine, tenant.id, now=MAY_28)
    await start_daily(app_engine, tenant.id, now=JUNE_30)
    await assign_marked(app_engine, tenant.id, now=JUNE_30)

    listed = await report(servers, base_url, tenant.secret, "segments", "--since", "2025-05-01", "--until",
                          "2025-05-28", "--json")
    assert listed.returncode == 0, listed.stderr
    body = json.loads(listed.stdout)
    assert [(s["id"], s["size"], s["share"], s["meanEngagement"]) for s in body["segments"]] == [
        ("power", 1, 25.0, 9.0), ("regular", 1, 25.0, 5.1), ("new", 1, 25.0, 4.9), ("at_risk", 1, 25.0, 2.0)]

    shown = await report(servers, base_url, tenant.secret, "segments", "show", "at_risk", "--since",
                         "2025-06-24", "--until", "2025-06-30", "--members", "2", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert (data["size"], data["share"]) == (4, 100.0)
    assert data["movements"] == [{"from": "new", "to": "at_risk", "users": 1},
                                 {"from": "power", "to": "at_risk", "users": 1},
                                 {"from": "regular", "to": "at_risk", "users": 1}]
    assert data["members"]["totalCount"] == 4
    assert [m["userId"] for m in data["members"]["nodes"]] == ["daily", "fading"]

    export = tmp_path / "moves.csv"
    table = await report(servers, base_url, tenant.secret, "segments", "show", "regular", "--since",
                         "2025-06-24", "--until", "2025-06-30", "--export", str(export))
    assert table.returncode == 0, table.stderr
    assert "segment Regular users (regular)" in table.stdout and "movements" in table.stdout
    rows = list(csv.reader(export.open()))
    moves = [[c for c in row[1:] if c] for row in rows if row[0] == "movements"]  # one CSV, a column per table
    assert moves == [["regular", "at_risk", "1"]]

    missing = await report(servers, base_url, tenant.secret, "segments", "show", "nope")
    assert missing.returncode == 1 and "no segment 'nope'" in missing.stderr
