"""After a bulk load is folded (the outbox empty again), the worker refreshes the planner statistics
of the rollup tables itself (reads planned on stale statistics timed out for a minute after
``analytics dev --demo``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import workers.jobs
from tests.conftest import GraphQLClient, TenantKeys, event

_COUNT = text("SELECT pg_stat_get_analyze_count('segment_members'::regclass)")


async def _analyses(owner_engine: AsyncEngine) -> int:
    async with owner_engine.connect() as conn:
        await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return int((await conn.execute(_COUNT)).scalar_one())


async def test_the_worker_analyses_after_a_bulk_load(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                                     owner_engine: AsyncEngine,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers.jobs, "ANALYZE_AFTER_EVENTS", 3)  # a "bulk load" of three events
    tenant: TenantKeys = await make_tenant()
    before = await _analyses(owner_engine)
    events = [event("Custom", f"2025-05-10T10:0{i}:00Z", "u1", name="deploy") for i in range(3)]
    assert (await gql.track(tenant.publishable, events))["accepted"] == 3
    await run_worker()
    for _ in range(50):  # the statistics reach the views within a second or so
        if await _analyses(owner_engine) > before:
            break
        await asyncio.sleep(0.1)
    assert await _analyses(owner_engine) > before
