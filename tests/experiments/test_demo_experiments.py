"""The demo experiments give the verdicts they are built for: a clear winner, and a sample ratio mismatch."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.experiments.demo import define_demo_experiments
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient, Servers, TenantKeys, report

VERDICT = """query($k: String!) { tenant { experiment(key: $k) { results(range: {since: "30d"}) {
  exposures sampleRatioMismatch recommendation winner
  metrics { variants { variant exposures conversions pValue significant } } } } } }"""


async def test_demo_experiments(gql: GraphQLClient, make_tenant: Any, run_worker: Any, app_engine: AsyncEngine,
                                owner_engine: AsyncEngine, servers: Servers, tmp_path: Path) -> None:
    tenant: TenantKeys = await make_tenant()
    events = await define_demo_experiments(app_engine, tenant.id, tz=ZoneInfo("UTC"), now=datetime.now(UTC))
    assert len(events) > 500
    partitions = PartitionCache()
    for start in range(0, len(events), 1000):
        outcome = await ingest_batch(app_engine, partitions, tenant_id=tenant.id, events=events[start:start + 1000],
                                     retention_days=3650, max_future_seconds=300)
        assert outcome.errors == []
    await run_worker()
    winner = (await gql.data(tenant.secret, VERDICT, {"k": "onboarding-checklist"}))["tenant"]["experiment"]
    assert (winner["results"]["recommendation"], winner["results"]["winner"]) == ("SHIP_VARIANT", "checklist")
    assert not winner["results"]["sampleRatioMismatch"]
    srm = (await gql.data(tenant.secret, VERDICT, {"k": "pricing-page"}))["tenant"]["experiment"]["results"]
    assert (srm["recommendation"], srm["sampleRatioMismatch"], srm["winner"]) == ("INVESTIGATE_SRM", True, None)
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
    # The command line shows the same verdicts: list, show --json, show --export.
    listed = await report(servers, gql.url, tenant.secret, "experiments", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert sorted(e["key"] for e in json.loads(listed.stdout)["experiments"]) == ["onboarding-checklist",
                                                                                  "pricing-page"]
    shown = await report(servers, gql.url, tenant.secret, "experiments", "show", "onboarding-checklist",
                         "--since", "30d", "--json")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert (body["results"]["recommendation"], body["results"]["winner"]) == ("SHIP_VARIANT", "checklist")
    assert body["results"]["exposures"] == winner["results"]["exposures"]
    table = await report(servers, gql.url, tenant.secret, "experiments", "show", "pricing-page",
                         "--export", str(tmp_path / "pricing.csv"))
    assert table.returncode == 0, table.stderr
    assert "INVESTIGATE_SRM" in (tmp_path / "pricing.csv").read_text()
    rows = list(csv.reader((tmp_path / "pricing.csv").open()))
    assert rows[0][0] == "table"
    missing = await report(servers, gql.url, tenant.secret, "experiments", "show", "nope")
    assert missing.returncode == 1 and "no experiment 'nope'" in missing.stderr
