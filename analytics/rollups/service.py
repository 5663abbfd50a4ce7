"""The rollup transaction: claim outbox rows, keep the sessions, hand the events to every consumer
(analytics.rollups.registry), delete the rows, commit."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import lock_tenant, tenant_transaction
from analytics.rollups.aggregate import RAW_EVENT_COLUMNS, RawEvent
from analytics.rollups.consumers import Claim
from analytics.rollups.pacing import ClaimPacer
from analytics.rollups.registry import CONSUMERS
from analytics.sessions.exemptions import usable_exemptions
from analytics.sessions.rules import usable_patterns
from analytics.sessions.upkeep import keep_sessions
from analytics.settings import ROLLUP_CLAIM_EVENTS


@dataclass(frozen=True)
class RollupResult:
    batches: int
    events: int
    more: bool = False  # roll_up stopped at a bound with rows possibly left (see roll_up)


# The oldest outbox rows, at most :limit of them and :max_events events (the first row whatever its
# size): the events of one claim are in the worker's memory together.
_CLAIM = text(
    """
    SELECT id, event_ids, occurred_ats FROM outbox WHERE tenant_id = :tenant AND id IN (
        SELECT id FROM (
            SELECT id, n, sum(n) OVER (ORDER BY id) - n AS before FROM (
                SELECT id, cardinality(event_ids) AS n FROM outbox WHERE tenant_id = :tenant
                ORDER BY id LIMIT :limit) oldest) running
        WHERE before = 0 OR before + n <= :max_events)
    ORDER BY id FOR UPDATE SKIP LOCKED
    """
)
_LOAD = text(
    f"""
    SELECT {RAW_EVENT_COLUMNS}
    FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[])) AS k(key_id, key_at)
    JOIN events e ON e.tenant_id = :tenant AND e.occurred_at = k.key_at AND e.id = k.key_id
    """
)
_TENANT = text("SELECT timezone, scanner_exempt_rules, exclude_unknown_agents, "
               "ARRAY(SELECT pattern FROM bot_rules WHERE tenant_id = :tenant ORDER BY id) AS patterns "
               "FROM tenants WHERE id = :tenant")


async def roll_up_once(engine: AsyncEngine, tenant_id: int, *, claim_batches: int,
                       claim_events: int = ROLLUP_CLAIM_EVENTS) -> RollupResult:
    """Fold up to ``claim_batches`` outbox rows (``claim_events`` events at most, one row at least)
    into the counters, all or nothing."""
    async with tenant_transaction(engine, tenant_id) as conn:
        claimed = (await conn.execute(_CLAIM, {"tenant": tenant_id, "limit": claim_batches,
                                               "max_events": claim_events})).all()
        if not claimed:
            return RollupResult(0, 0)
        await lock_tenant(conn, tenant_id)
        tenant = (await conn.execute(_TENANT, {"tenant": tenant_id})).one()
        tz = ZoneInfo(tenant.timezone)
        ids = [event_id for row in claimed for event_id in row.event_ids]
        ats = [at for row in claimed for at in row.occurred_ats]
        result = await conn.execute(_LOAD, {"tenant": tenant_id, "ids": ids, "ats": ats})
        events = [RawEvent(*row) for row in result]
        upkeep = await keep_sessions(conn, tenant_id, events, tz, usable_patterns(tenant.patterns),
                                     usable_exemptions(tenant.scanner_exempt_rules),
                                     exclude_unknown=tenant.exclude_unknown_agents, appended=True)
        claim = Claim(tenant_id, tz, events, upkeep.bot_events)
        for consumer in CONSUMERS:
            await consumer.consume(conn, claim)
        await conn.execute(text("DELETE FROM outbox WHERE tenant_id = :tenant AND id = ANY(:ids)"),
                           {"tenant": tenant_id, "ids": [row.id for row in claimed]})
    return RollupResult(len(claimed), len(events))


async def roll_up(engine: AsyncEngine, tenant_id: int, *, claim_batches: int,
                  claim_events: int = ROLLUP_CLAIM_EVENTS, max_rounds: int = 50,
                  pacer: ClaimPacer | None = None,
                  after_claim: Callable[[], Awaitable[None]] | None = None) -> RollupResult:
    """Drain the tenant's outbox (bounded), so batches that arrive during a run are not left behind.

    With a ``pacer`` (the worker's), small claims are spaced by its interval and the run stops after
    its budget; ``after_claim`` runs after each committed claim (the worker bumps the data version, so
    answers follow each claim, not the end of the run). ``RollupResult.more``: the run stopped at a
    bound (rounds or budget) after a non-empty claim, so outbox rows may wait for another run."""
    batches = events = 0
    clock = pacer.clock if pacer is not None else time.monotonic
    began = clock()
    for _ in range(max_rounds):
        if pacer is not None:
            await pacer.wait(tenant_id)
        started = clock()
        step = await roll_up_once(engine, tenant_id, claim_batches=claim_batches, claim_events=claim_events)
        if step.batches == 0:
            return RollupResult(batches, events)
        batches, events = batches + step.batches, events + step.events
        full = step.batches >= claim_batches or step.events >= claim_events
        if pacer is not None:
            pacer.claimed(tenant_id, started, step.events, full=full)
        if after_claim is not None:
            await after_claim()
        if pacer is not None and not full and clock() - began >= pacer.budget:
            break
    return RollupResult(batches, events, more=True)


async def pending_tenants(engine: AsyncEngine) -> list[tuple[int, int]]:
    """(tenant id, outbox rows) for every tenant with rollup work waiting."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT tenant_id, batches FROM analytics_pending_tenants()"))).all()
    return [(int(r[0]), int(r[1])) for r in rows]


async def outbox_waiting(engine: AsyncEngine, tenant_id: int) -> bool:
    """Whether the tenant has outbox rows not folded yet."""
    async with tenant_transaction(engine, tenant_id) as conn:
        return bool((await conn.execute(text("SELECT EXISTS (SELECT 1 FROM outbox WHERE tenant_id = :t)"),
                                        {"t": tenant_id})).scalar_one())
