"""bench/experiments.py's loading, aggregation and answer check at a small scale, against the suite's
servers: the figures it prints come from answers it has checked."""

from __future__ import annotations

from typing import Any

from analytics.settings import Settings
from bench.experiments import DEFINE, RESULTS, build_aggregates, check, load_events
from tests.conftest import GraphQLClient, TenantKeys


async def test_the_bench_answer_is_checked(gql: GraphQLClient, make_tenant: Any, settings: Settings) -> None:
    tenant: TenantKeys = await make_tenant()
    await gql.data(tenant.secret, DEFINE)
    dsn = (settings.database_url or "").replace("postgresql+asyncpg://", "postgresql://", 1)
    await load_events(dsn, tenant.id, 2000)
    _, rows = await build_aggregates(settings.database_url or "", tenant.id)
    assert rows > 0
    results = (await gql.data(tenant.secret, RESULTS))["tenant"]["experiment"]["results"]
    check(results, 2000)
    assert results["metrics"][0]["variants"][1]["conversions"] > results["metrics"][0]["variants"][0][
        "conversions"]
