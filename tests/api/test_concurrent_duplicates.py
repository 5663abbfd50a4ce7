"""Two clients sending the same events at the same moment in different orders: each event is stored once,
one client hears ACCEPTED and the other DUPLICATE, and neither gets an internal error (no deadlock)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import GraphQLClient, TenantKeys, event


async def test_the_same_events_from_two_clients_at_once_are_stored_once(
        gql: GraphQLClient, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    rounds, size = 12, 300
    statuses: dict[str, list[str]] = {}
    for _ in range(rounds):
        events = [event("TourStarted", f"2026-12-01T10:{i // 60:02d}:{i % 60:02d}Z", f"u{i}",
                        tourId="t") | {"id": str(uuid.uuid4())} for i in range(size)]
        answers = await asyncio.gather(gql.track(tenant.publishable, events),
                                       gql.track(tenant.publishable, events[::-1]))
        for answer, sent in zip(answers, (events, events[::-1]), strict=True):
            for result, original in zip(answer["results"], sent, strict=True):
                statuses.setdefault(original["id"], []).append(result["status"])
    assert len(statuses) == rounds * size
    assert {tuple(sorted(s)) for s in statuses.values()} == {("ACCEPTED", "DUPLICATE")}
    async with owner_engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*), count(DISTINCT id) FROM events WHERE tenant_id = :t"),
                                     {"t": tenant.id})).one()
    assert tuple(stored) == (rounds * size, rounds * size)
