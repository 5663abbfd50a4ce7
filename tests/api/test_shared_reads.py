"""Identical reads in flight share one execution; another key, other variables or a newer data version
run on their own; a client that goes away does not cancel the answer the others wait for."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.settings import Settings
from analytics.tenants.service import KeyKind, Principal
from api.shared_reads import SharedReads, read_key
from tests.conftest import GraphQLClient, TenantKeys, event
from workers.queue import data_version_key

PRINCIPAL = Principal(7, KeyKind.SECRET, ZoneInfo("UTC"), 90, key_id=3)
DOCUMENT = "query Q($tour: String!) { tenant { tour(id: $tour) { title } } }"


def _key(version: str = "1.0", **variables: Any) -> Any:
    return read_key(PRINCIPAL, DOCUMENT, "Q", variables or {"tour": "a"}, version)


class Gate:
    """An execution that waits until opened, counting how often it ran."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.runs = 0

    async def __call__(self) -> dict[str, int]:
        self.runs += 1
        run = self.runs
        await self.opened.wait()
        return {"run": run}


async def test_identical_reads_in_flight_share_one_execution() -> None:
    shared, gate = SharedReads(), Gate()
    waiting = [asyncio.create_task(shared.run(_key(), gate)) for _ in range(3)]
    # The same inputs with the keys of variables in another order are the same read.
    waiting.append(asyncio.create_task(shared.run(read_key(PRINCIPAL, DOCUMENT, "Q", {"b": 1, "a": 2}, "1.0"),
                                                  gate)))
    waiting.append(asyncio.create_task(shared.run(read_key(PRINCIPAL, DOCUMENT, "Q", {"a": 2, "b": 1}, "1.0"),
                                                  gate)))
    await asyncio.sleep(0.01)
    assert (gate.runs, shared.running) == (2, 2)
    gate.opened.set()
    results = await asyncio.gather(*waiting)
    assert results[:3] == [{"run": 1}] * 3 and results[3] == {"run": 2} and results[3] is results[4]
    assert (shared.shared, shared.running) == (3, 0)
    # Finished: the next identical read runs again.
    assert await shared.run(_key(), gate) == {"run": 3}


@pytest.mark.parametrize("other", [
    _key(version="2.0"),  # the tenant's data changed since the first read started
    _key(tour="b"),  # other variables
    read_key(Principal(8, KeyKind.SECRET, ZoneInfo("UTC"), 90, key_id=4), DOCUMENT, "Q", {"tour": "a"}, "1.0"),
    read_key(PRINCIPAL, DOCUMENT + " ", "Q", {"tour": "a"}, "1.0"),  # another document text
    None,  # not shareable (sharing off, Redis unavailable, a mutation)
])
async def test_other_inputs_run_on_their_own(other: Any) -> None:
    shared, gate = SharedReads(), Gate()
    first = asyncio.create_task(shared.run(_key(), gate))
    second = asyncio.create_task(shared.run(other, gate))
    await asyncio.sleep(0.01)
    gate.opened.set()
    results = await asyncio.gather(first, second)
    assert sorted(r["run"] for r in results) == [1, 2]
    assert gate.runs == 2 and shared.shared == 0


async def test_a_cancelled_reader_leaves_the_execution_to_the_others_and_failures_reach_everyone() -> None:
    shared, gate = SharedReads(), Gate()
    leader = asyncio.create_task(shared.run(_key(), gate))
    follower = asyncio.create_task(shared.run(_key(), gate))
    await asyncio.sleep(0.01)
    leader.cancel()  # its client went away
    await asyncio.sleep(0.01)
    gate.opened.set()
    assert await follower == {"run": 1}
    assert leader.cancelled() and gate.runs == 1

    async def failing() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("the database went away")

    readers = [asyncio.create_task(shared.run(_key(), failing)) for _ in range(2)]
    outcomes = await asyncio.gather(*readers, return_exceptions=True)
    assert [str(o) for o in outcomes] == ["the database went away"] * 2 and shared.running == 0


# --- through the API -----------------------------------------------------------------------------

TOUR = "tour-shared"
REPORT = ("query Report($from: String!) { tenant { tour(id: \"" + TOUR + "\") { "
          "stats(range: {from: $from, to: \"2025-05-02\"}) { starts } } } }")
WAITING = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND wait_event_type = 'Lock' AND query LIKE '%counters_daily%'")


async def _waiting_reads(engine: AsyncEngine, expected: int) -> int:
    deadline = time.monotonic() + 3
    while True:
        async with engine.connect() as conn:
            count = int((await conn.execute(WAITING)).scalar_one())
        if count >= expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.02)


async def test_identical_requests_share_a_statement_and_a_bumped_version_runs_again(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine,
        settings: Settings) -> None:
    tenant: TenantKeys = await make_tenant()
    events = [event("TourStarted", "2025-05-01T10:00:00Z", user, tourId=TOUR) for user in ("u1", "u2")]
    assert (await gql.track(tenant.publishable, events))["accepted"] == 2
    await run_worker()
    monitor = owner_engine
    redis = Redis.from_url(settings.redis_url or "")

    async def read(start: str = "2025-05-01") -> int:
        body = await gql.data(tenant.secret, REPORT, {"from": start})
        return int(body["tenant"]["tour"]["stats"]["starts"])

    try:
        # Reads block behind a lock on the counters while they are sent, so they are all in flight.
        async with owner_engine.connect() as locker:
            await locker.execute(text("BEGIN"))
            await locker.execute(text("LOCK TABLE counters_daily IN ACCESS EXCLUSIVE MODE"))
            first = asyncio.create_task(read())
            assert await _waiting_reads(monitor, 1) == 1
            same = [asyncio.create_task(read()) for _ in range(3)]
            other = asyncio.create_task(read("2025-04-30"))  # other variables: a statement of its own
            assert await _waiting_reads(monitor, 2) == 2
            await asyncio.sleep(0.2)  # the identical ones would have shown up by now
            assert await _waiting_reads(monitor, 3) == 2
            # A write acknowledged now bumps the tenant's data version: the same read sent after it
            # runs on its own instead of joining the execution that started before it.
            await redis.incr(data_version_key(tenant.id))
            after = asyncio.create_task(read())
            assert await _waiting_reads(monitor, 3) == 3
            await locker.execute(text("COMMIT"))
        assert await asyncio.gather(first, *same, other, after) == [2] * 6
    finally:
        await redis.aclose()


@pytest.mark.parametrize(("document", "meta"), [
    ("{ __typename }", True),
    ("{ __schema { queryType { name } } __typename }", True),
    ("{ tenant { __typename } }", False),
    ("{ __typename ... on Query { tenant { id } } }", False),  # a fragment may read anything
])
def test_only_documents_that_read_no_tenant_data_skip_sharing(document: str, meta: bool) -> None:
    from graphql import OperationDefinitionNode, parse

    from api.view import _meta_only

    operation = parse(document).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    assert _meta_only(operation) is meta
