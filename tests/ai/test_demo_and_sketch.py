"""The demo's AI traffic rolls up to real figures (two agents, tools, an unpriced model), and the
latency sketch's percentiles are within its stated error of numpy's on the same values."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from analytics.ai.demo import UNPRICED_MODEL, demo_ai_events
from analytics.ai.sketch import RELATIVE_ACCURACY, bin_of, quantile
from analytics.db import tenant_transaction
from analytics.rollups.recompute import verify_rollups
from tests.conftest import GraphQLClient

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
QUERY = """{ tenant { costs(range: {from: "2026-11-18", to: "2026-11-20"}) {
  summary { total unpriced { provider model } }
  breakdown(by: AGENT) { key } }
  tools(range: {from: "2026-11-18", to: "2026-11-20"}) { stats { name } } } }"""


async def test_demo_ai_traffic(
    gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: Any
) -> None:
    tenant = await make_tenant()
    events = [msgspec.to_builtins(e) for e in demo_ai_events(days=2, tz=ZoneInfo("UTC"), now=NOW)]
    for start in range(0, len(events), 1000):
        assert (await gql.track(tenant.publishable, events[start : start + 1000]))["rejected"] == 0
    await run_worker()
    data = (await gql.data(tenant.secret, QUERY))["tenant"]
    assert data["costs"]["summary"]["total"] > 0
    assert {(u["provider"], u["model"]) for u in data["costs"]["summary"]["unpriced"]} == {UNPRICED_MODEL}
    assert sorted(b["key"] for b in data["costs"]["breakdown"]) == ["code-reviewer", "support-assistant"]
    assert sorted(t["name"] for t in data["tools"]["stats"]) == [
        "create_ticket",
        "fetch_diff",
        "run_linter",
        "search_docs",
    ]
    async with tenant_transaction(owner_engine, tenant.id) as conn:
        assert await verify_rollups(conn, tenant.id) == []


def test_sketch_percentiles_are_within_the_stated_error_of_numpy() -> None:
    rng = random.Random(3)
    for values in (
        [int(rng.lognormvariate(7, 1)) + 1 for _ in range(20_000)],
        [rng.randint(1, 3_600_000) for _ in range(5_000)],
        [0, 0, 5, 10, 10, 3000],
    ):
        bins = Counter(bin_of(v) for v in values)
        for q in (0.5, 0.95, 0.99):
            exact = float(np.percentile(values, q * 100, method="lower"))
            found = quantile(bins.items(), q)
            assert found is not None
            assert abs(found - exact) <= RELATIVE_ACCURACY * exact + 1e-9, (q, exact, found)
