"""The funnel attempts' stored flags and day sums under the writers that are not the rollup: a bot
rule on sessions older than the raw retention, rollup retention taking an actor's other attempt, and
retention's cleanup of emptied day rows racing a rollup (found in review; each failed before its fix)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.retention import enforce_retention
from analytics.rollups.recompute import verify_rollups
from analytics.sessions import rules
from analytics.sessions.service import run_bot_rule
from tests.conftest import GraphQLClient
from tests.product.funnel_helpers import CHROME, actors, custom, define, result

DAY = 86400


async def _funnel_differences(owner_engine: AsyncEngine, tenant_id: int, tables: str = "funnel") -> list[Any]:
    async with owner_engine.connect() as conn:
        return [d for d in await verify_rollups(conn, tenant_id) if d.table.startswith(tables)]


async def test_a_bot_rule_on_sessions_older_than_the_raw_events_reaches_the_funnel(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, app_engine: AsyncEngine,
        owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    funnel = await define(gql, tenant.secret, "f")
    events = []
    for user, agent in (("p1", CHROME + " AcmeInternal/7"), ("p2", CHROME)):
        events += [custom("a", 0, user, agent), custom("b", 60, user, agent), custom("c", 120, user, agent)]
    assert (await gql.track(tenant.publishable, events))["accepted"] == 6
    await run_worker()
    assert actors(await result(gql, tenant.secret, funnel["id"])) == [2, 2, 2]
    # Retention has since removed May's raw events; sessions and attempts stay (rollup retention).
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE tenants SET raw_events_from = '2025-07-01' WHERE id = :t"),
                           {"t": tenant.id})
    async with tenant_transaction(app_engine, tenant.id) as conn:
        rule = await rules.add_rule(conn, "AcmeInternal", None)
    await run_bot_rule(app_engine, tenant.id, rule.id)
    assert actors(await result(gql, tenant.secret, funnel["id"])) == [1, 1, 1]
    assert await _funnel_differences(owner_engine, tenant.id) == []


async def test_an_attempt_left_alone_by_retention_still_verifies(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, app_engine: AsyncEngine,
        owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    funnel = await define(gql, tenant.secret, "f")
    events = [custom("a", 0, "p1"), custom("b", 60, "p1"), custom("c", 120, "p1"),  # May 10
              custom("a", 10 * DAY, "p1"), custom("b", 10 * DAY + 60, "p1")]  # May 20
    assert (await gql.track(tenant.publishable, events))["accepted"] == 5
    await run_worker()
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE tenants SET raw_retention_days = 10 WHERE id = :t"), {"t": tenant.id})
    await enforce_retention(app_engine, now=datetime(2025, 6, 1, tzinfo=UTC), rollup_days=17)  # from May 15
    async with owner_engine.connect() as conn:
        left = (await conn.execute(text("SELECT started_at FROM funnel_attempts WHERE tenant_id = :t"),
                                   {"t": tenant.id})).scalars().all()
    assert left == [datetime(2025, 5, 20, 10, 0, tzinfo=UTC)]
    assert await _funnel_differences(owner_engine, tenant.id) == []
    reached = await result(gql, tenant.secret, funnel["id"], {"from": "2025-05-15", "to": "2025-05-31"})
    assert actors(reached) == [1, 1, 0]


_ATTEMPT = ("INSERT INTO funnel_attempts (tenant_id, funnel_id, person, first_event, actor, started_at, "
            "step_ats, ended_at, voided, session_key, properties, bot, sole) VALUES (:t, :f, :p, :e, :p, "
            "'2025-05-10 10:00Z', '{2025-05-10 10:00Z, 2025-05-10 10:01Z}', '2025-05-10 10:05Z', false, "
            "NULL, NULL, false, true)")
_GAPS = "tenant_id = :t AND funnel_id = :f AND step = 2"


async def test_retention_emptying_day_rows_never_loses_a_rollups_step_times(
        gql: GraphQLClient, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    funnel_id = int((await define(gql, tenant.secret, "f", ("a", "b")))["id"])
    ids = {"t": tenant.id, "f": funnel_id}
    async with owner_engine.begin() as conn:  # a sole attempt comes and goes: its gaps row is left empty
        await conn.execute(text(_ATTEMPT), {**ids, "p": "u:x", "e": uuid.uuid4()})
        await conn.execute(text("DELETE FROM funnel_attempts WHERE tenant_id = :t"), ids)
    holder, retention, rollup = [await owner_engine.connect() for _ in range(3)]
    try:
        await holder.begin()  # holds the empty row so that retention and the rollup meet on it
        await holder.execute(text(f"SELECT 1 FROM funnel_day_gaps WHERE {_GAPS} FOR UPDATE"), ids)

        async def expire() -> None:
            async with retention.begin():
                await retention.execute(text(
                    "DELETE FROM funnel_day_gaps WHERE tenant_id = :t AND cardinality(gaps) = 0"), ids)

        async def write() -> None:
            async with rollup.begin():
                await rollup.execute(text(_ATTEMPT), {**ids, "p": "u:y", "e": uuid.uuid4()})

        first = asyncio.create_task(expire())
        await asyncio.sleep(0.5)
        second = asyncio.create_task(write())
        await asyncio.sleep(0.5)
        await holder.commit()
        await asyncio.gather(first, second)
    finally:
        for conn in (holder, retention, rollup):
            await conn.close()
    async with owner_engine.connect() as conn:
        gaps = (await conn.execute(text(f"SELECT gaps FROM funnel_day_gaps WHERE {_GAPS}"), ids)).scalars().all()
    assert gaps == [[60.0]]
    # The day sums equal the attempts (written by hand here, so the attempts have no raw events).
    assert await _funnel_differences(owner_engine, tenant.id, "funnel_day") == []
