"""bench/funnels.py briefly against the suite's database: the real backfill builds the progress and
every query answer equals what the generator knows (the script asserts it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bench.funnels import run
from tests.conftest import TenantKeys


async def test_the_funnel_bench_builds_and_checks_its_answers(make_tenant: Any, app_engine: AsyncEngine,
                                                              owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    figures = await run(app_engine, owner_engine, tenant.id, actors=300, per_actor=6, runs=2, batch=50, quiet=True)
    assert figures["actors"] == 300 and figures["events"] >= 1800
    assert set(figures["queries"]) == {"plain", "plain, scan", "breakdown by property",
                                     "compare (previous period)", "compare, scan"}
