"""Group commit (analytics.ingest.service.GroupCommit): concurrent batches of a tenant share one
transaction and one outbox row, each is answered with its own events, and counters stay exact."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ingest.events import EventIn
from analytics.ingest.service import EventStatus, GroupCommit, PartitionCache, ingest_batch
from analytics.rollups.recompute import verify_rollups
from tests.conftest import TenantKeys, outbox_rows


def tour_event(user: str, kind: str = "TourStarted", event_id: str | None = None) -> EventIn:
    return EventIn(id=event_id or str(uuid.uuid4()), type=kind, timestamp="2025-05-01T10:00:00Z",
                   user_id=user, tour_id="t1")


async def test_concurrent_batches_share_one_commit_and_keep_their_own_answers(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, make_tenant: Any, run_worker: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    other: TenantKeys = await make_tenant()
    partitions, group = PartitionCache(), GroupCommit(app_engine, max_events=20)
    shared = str(uuid.uuid4())  # sent by two batches of the same group: the first to join gets it

    async def send(tenant_id: int, events: list[EventIn]) -> list[EventStatus]:
        outcome = await ingest_batch(app_engine, partitions, tenant_id=tenant_id, events=events,
                                     retention_days=3650, max_future_seconds=86_400, group=group)
        return [o.status for o in outcome.outcomes]

    await send(tenant.id, [tour_event("warm-up")])  # the month's partition, so the rest gathers at once
    batches = [[tour_event(f"u{i}")] for i in range(8)]
    batches[2] = [tour_event("u2", event_id=shared), tour_event("u2", "TourCompleted")]
    batches[5] = [tour_event("u2", event_id=shared)]
    batches.append([tour_event(f"big{i}") for i in range(20)])  # as large as a group: alone
    answers = await asyncio.gather(*(send(tenant.id, b) for b in batches), send(other.id, [tour_event("o")]))
    accepted, duplicate = EventStatus.ACCEPTED, EventStatus.DUPLICATE
    assert answers[2] == [accepted, accepted] and answers[5] == [duplicate]
    assert all(a == [accepted] for a in answers[:2] + answers[3:5] + answers[6:8])
    assert answers[8] == [accepted] * 20 and answers[9] == [accepted]
    # The warm-up, one group of the eight small batches, the large batch; the other tenant's own.
    assert await outbox_rows(owner_engine, tenant.id) == 3
    assert await outbox_rows(owner_engine, other.id) == 1
    async with owner_engine.connect() as conn:
        assert (await conn.execute(text("SELECT cardinality(event_ids) FROM outbox WHERE tenant_id = :t "
                                        "ORDER BY cardinality(event_ids)"), {"t": tenant.id})).scalars().all() \
            == [1, 8, 20]  # nine events in the group, one of them twice
    await run_worker()
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
        starts = (await conn.execute(text(
            "SELECT sum(value) FROM counters_daily WHERE tenant_id = :t AND step_index = -1 "
            "AND metric = 'starts'"), {"t": tenant.id})).scalar_one()
    assert starts == 1 + 7 + 20  # eight small batches, one of them only the shared start again


async def test_a_group_the_database_refuses_answers_each_batch_on_its_own(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, make_tenant: Any, monkeypatch: Any) -> None:
    import analytics.ingest.service as service

    tenant: TenantKeys = await make_tenant()
    partitions, group = PartitionCache(), GroupCommit(app_engine, max_events=20)
    poisoned = str(uuid.uuid4())
    write = service._write

    async def refusing(engine: AsyncEngine, tenant_id: int, batches: Any) -> Any:
        if any(str(row[0]) == poisoned for batch in batches for row in batch.rows):  # PostgreSQL would refuse
            raise ValueError("refused")
        return await write(engine, tenant_id, batches)

    monkeypatch.setattr(service, "_write", refusing)

    async def send(events: list[EventIn]) -> Any:
        return await ingest_batch(app_engine, partitions, tenant_id=tenant.id, events=events,
                                  retention_days=3650, max_future_seconds=86_400, group=group)

    await send([tour_event("warm-up")])
    answers = await asyncio.gather(send([tour_event("a")]), send([tour_event("b", event_id=poisoned)]),
                                   send([tour_event("c")]), return_exceptions=True)
    assert [a.accepted for a in (answers[0], answers[2])] == [1, 1]
    assert isinstance(answers[1], ValueError)
    assert await outbox_rows(owner_engine, tenant.id) == 3  # the warm-up, then a and c one by one
