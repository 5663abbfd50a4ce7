"""Erasure (eraseUser) through the real pipeline: nothing of the person is left in any table, every
counter equals the recomputation, the other people's figures are exactly those of a tenant that never
saw the person, erasing twice is harmless, and keys and tenants are kept apart."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rollups.recompute import verify_rollups
from analytics.settings import Settings
from tests.conftest import GraphQLClient, TenantKeys, event

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
PERSON, DEVICE = "erase-me-7f3a", "anon-erase-9c2e"  # distinctive: found by a scan of every table


def fresh(prefix: str) -> str:
    """An id no other test (or tenant) uses, for scans of the whole database."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
OTHER = "keep-me-41d0"

ERASE = """mutation($user: String, $anon: String) { eraseUser(userId: $user, anonymousId: $anon) {
    id status idKind } }"""
ERASURE = """query($id: ID!) { tenant { erasure(id: $id) { id status idKind error requestedByKeyId
    counts { kind rows } } } }"""
EXPORT = "mutation($user: String) { exportUser(userId: $user) { id status downloadUrl } }"
USER_EXPORT = "query($id: ID!) { tenant { userExport(id: $id) { status rows downloadUrl } } }"


def person_events(person: str = PERSON, device: str = DEVICE) -> list[dict[str, Any]]:
    """The person on two days: before signing in (anonymous id only), signed in, content with a
    conversation, a custom event, and a tour the next day. (A cookieless page view of the same browser
    names nobody: its visitor is the address and agent's daily hash, not the person, so it is not
    theirs to erase: ``cookieless()`` goes to both tenants.)"""
    ctx = {"userAgent": CHROME}
    return [
        event("PageViewed", "2025-05-01T10:00:00Z", None, anonymousId=device, url="https://shop.example/a",
              context=ctx),
        event("TourStarted", "2025-05-01T10:02:00Z", person, anonymousId=device, tourId="t1", context=ctx),
        event("StepViewed", "2025-05-01T10:03:00Z", person, tourId="t1", stepIndex=0, context=ctx),
        event("target_not_found", "2025-05-01T10:03:30Z", person, tourId="t1", stepIndex=1, selector="#x",
              context=ctx),
        event("ContentViewed", "2025-05-01T10:04:00Z", person, contentId="c1", context=ctx),
        event("ConversationMessage", "2025-05-01T10:05:00Z", person, contentId="c1", context=ctx,
              capsule={"conversationId": "k1", "role": "user"}),
        event("Custom", "2025-05-01T10:06:00Z", person, name="signed_up", properties={"plan": "pro"},
              context=ctx),
        event("TourCompleted", "2025-05-02T09:00:00Z", person, tourId="t1", context=ctx),
    ]


def cookieless() -> list[dict[str, Any]]:
    return [event("PageViewed", "2025-05-01T10:01:00Z", None, url="https://shop.example/b",
                  context={"userAgent": CHROME})]


def other_events() -> list[dict[str, Any]]:
    ctx = {"userAgent": IPHONE}
    return [
        event("PageViewed", "2025-05-01T10:00:30Z", OTHER, url="https://shop.example/a", context=ctx),
        event("TourStarted", "2025-05-01T10:02:30Z", OTHER, tourId="t1", context=ctx),
        event("StepViewed", "2025-05-01T10:03:30Z", OTHER, tourId="t1", stepIndex=0, context=ctx),
        event("ContentViewed", "2025-05-01T10:04:30Z", OTHER, contentId="c1", context=ctx),
        event("TourStarted", "2025-05-02T09:30:00Z", OTHER, tourId="t1", context=ctx),
    ]


async def tables(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' AND table_name NOT IN "
            "(SELECT inhrelid::regclass::text FROM pg_inherits) ORDER BY 1"))).scalars())


async def tables_holding(engine: AsyncEngine, needle: str) -> set[str]:
    """Every table of the database (partitions included) with a row whose text holds ``needle``."""
    found = set()
    async with engine.connect() as conn:
        for table in await tables(engine):
            hits = (await conn.execute(text(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE :like'),
                                       {"like": f"%{needle}%"})).scalar_one()
            if hits:
                found.add(table)
    return found


# What the other person's figures are, without tenant ids and generated keys.
SNAPSHOT = {
    "counters_daily": "SELECT entity_type, entity_id, metric, step_index, day, bot, value FROM counters_daily",
    "counters_hourly": "SELECT entity_type, entity_id, metric, step_index, bucket, bot, value FROM counters_hourly",
    "daily_users": "SELECT entity_type, entity_id, metric, step_index, day, bot, user_key FROM daily_users",
    "selector_failures_daily": "SELECT entity_type, entity_id, selector, day, bot, failures "
                               "FROM selector_failures_daily",
    "user_days": "SELECT day, bot, user_key, events, first_at, last_at FROM user_days",
    "sessions": "SELECT user_id, anonymous_id, started_at, last_seen_at, request_count, page_views, excluded "
                "FROM sessions",
    "content_sessions": "SELECT content_id, started_at, first_view_at, engaged_ms FROM content_sessions",
    "events": "SELECT occurred_at, type, user_id, anonymous_id FROM events",
}


async def snapshot(engine: AsyncEngine, tenant_id: int) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        return {name: sorted((tuple(row) for row in await conn.execute(text(f"{sql} WHERE tenant_id = :t"),
                                                                         {"t": tenant_id})), key=repr)
                for name, sql in SNAPSHOT.items()}


async def erase(gql: GraphQLClient, key: str, *, user: str | None = None, anon: str | None = None) -> str:
    data = await gql.data(key, ERASE, {"user": user, "anon": anon})
    assert data["eraseUser"]["status"] == "QUEUED"
    return str(data["eraseUser"]["id"])


async def erasure_of(gql: GraphQLClient, key: str, erasure_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql.data(key, ERASURE, {"id": erasure_id}))["tenant"]["erasure"]
    return found


def counts(job: dict[str, Any]) -> dict[str, int]:
    return {c["kind"]: c["rows"] for c in job["counts"]}


async def test_erasure_leaves_nothing_of_the_person_and_counters_equal_a_tenant_that_never_saw_them(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine,
        http: httpx.AsyncClient, base_url: str) -> None:
    person, device = fresh("erase-me"), fresh("anon-erase")
    tenant: TenantKeys = await make_tenant()
    without: TenantKeys = await make_tenant()  # the same other person, and never the person
    assert (await gql.track(tenant.publishable, person_events(person, device) + other_events()
                            + cookieless()))["accepted"] == 14
    assert (await gql.track(without.publishable, other_events() + cookieless()))["accepted"] == 6
    await run_worker()
    export_id = (await gql.data(tenant.secret, EXPORT, {"user": person}))["exportUser"]["id"]
    await run_worker()
    # The test could fail: before, the person is in the raw events, sessions and per-person rows.
    assert {"events", "sessions", "daily_users", "user_days", "user_exports"} <= await tables_holding(
        owner_engine, person)
    assert {"events", "sessions", "user_days"} <= await tables_holding(owner_engine, device)

    erasure_id = await erase(gql, tenant.secret, user=person)
    assert "erasures" in await tables_holding(owner_engine, person)  # held while the job waits
    await run_worker()

    job = await erasure_of(gql, tenant.secret, erasure_id)
    assert (job["status"], job["idKind"], job["error"]) == ("DONE", "USER", None)
    # Sessions: four visitors (the device alone, the device signed in, the person on each day).
    assert {kind: rows for kind, rows in counts(job).items() if rows} == {
        "events": 8, "sessions": 4, "content_facts": 2, "daily_users": 5, "user_days": 3, "custom_event_users": 1, "segment_users": 2,
        "user_event_days": 8, "user_properties": 1,
                           "user_exports": 1, "days_corrected": 2}
    async with owner_engine.connect() as conn:
        key_id = (await conn.execute(text("SELECT id FROM api_keys WHERE tenant_id = :t AND kind = 'secret'"),
                                     {"t": tenant.id})).scalar_one()
        assert job["requestedByKeyId"] == str(key_id)
        assert await verify_rollups(conn, tenant.id) == []
    for needle in (person, device):
        assert await tables_holding(owner_engine, needle) == set(), needle
    assert await snapshot(owner_engine, tenant.id) == await snapshot(owner_engine, without.id)
    response = await http.get(f"{base_url}/export/users/{export_id}",
                              headers={"Authorization": f"Bearer {tenant.secret}"})
    assert response.status_code == 404  # the person's access export went with them

    # Erasing twice is harmless: nothing found, nothing changed.
    again = await erase(gql, tenant.secret, user=person)
    await run_worker()
    job = await erasure_of(gql, tenant.secret, again)
    assert job["status"] == "DONE"
    assert set(counts(job).values()) == {0}
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
    assert await snapshot(owner_engine, tenant.id) == await snapshot(owner_engine, without.id)
    listed = await gql.data(tenant.secret, "{ tenant { erasures(first: 5) { id status } } }")
    assert [e["id"] for e in listed["tenant"]["erasures"]] == [again, erasure_id]


async def test_erasing_an_anonymous_id_keeps_the_signed_in_user(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    device_only = [event("PageViewed", "2025-05-03T08:00:00Z", None, anonymousId="anon-only-5b1e",
                         url="https://shop.example/a", context={"userAgent": CHROME}),
                   event("TourStarted", "2025-05-03T08:01:00Z", None, anonymousId="anon-only-5b1e",
                         tourId="t1", context={"userAgent": CHROME})]
    assert (await gql.track(tenant.publishable, device_only + other_events()))["accepted"] == 7
    await run_worker()
    erasure_id = await erase(gql, tenant.secret, anon="anon-only-5b1e")
    await run_worker()
    job = await erasure_of(gql, tenant.secret, erasure_id)
    assert (job["status"], job["idKind"]) == ("DONE", "ANONYMOUS")
    assert counts(job)["events"] == 2
    assert await tables_holding(owner_engine, "anon-only-5b1e") == set()
    assert "events" in await tables_holding(owner_engine, OTHER)
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_days_past_raw_retention_keep_anonymous_counts_and_lose_the_per_person_rows(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    assert (await gql.track(tenant.publishable, person_events() + other_events()))["accepted"] == 13
    await run_worker()
    # Retention removed 1 May's raw events (as analytics.retention does): its counters cannot be
    # recomputed any more.
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE tenants SET raw_events_from = '2025-05-02T00:00:00Z' WHERE id = :t"),
                           {"t": tenant.id})
        await conn.execute(text("DELETE FROM events WHERE tenant_id = :t AND occurred_at < '2025-05-02'"),
                           {"t": tenant.id})
    before = await snapshot(owner_engine, tenant.id)
    erasure_id = await erase(gql, tenant.secret, user=PERSON)
    await run_worker()
    job = await erasure_of(gql, tenant.secret, erasure_id)
    assert job["status"] == "DONE"
    assert counts(job)["events"] == 1  # 2 May's TourCompleted; 1 May's were gone already
    after = await snapshot(owner_engine, tenant.id)
    may_1 = [row for row in before["counters_daily"] if str(row[4]) == "2025-05-01"]
    assert may_1 and may_1 == [row for row in after["counters_daily"] if str(row[4]) == "2025-05-01"]
    assert not [row for row in after["daily_users"] if PERSON in row[-1]]
    assert not [row for row in after["user_days"] if PERSON in row[2] or DEVICE in row[2]]
    assert [row for row in after["user_days"] if OTHER in row[2]] == [
        row for row in before["user_days"] if OTHER in row[2]]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_key_scopes_and_tenants(gql: GraphQLClient, make_tenant: Any, run_worker: Any,
                                      owner_engine: AsyncEngine, http: httpx.AsyncClient,
                                      base_url: str) -> None:
    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    assert (await gql.track(a.publishable, person_events()))["accepted"] == 8
    await run_worker()
    for document, variables in ((ERASE, {"user": PERSON}), (EXPORT, {"user": PERSON}),
                                ("{ tenant { erasures { id } } }", {})):
        body = await gql(a.publishable, document, variables)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    for variables in ({}, {"user": PERSON, "anon": DEVICE}, {"user": "x\u0000"}, {"user": " "}):
        body = await gql(a.secret, ERASE, variables)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    # Tenant B erasing the same id erases nothing of A's.
    erasure_id = await erase(gql, b.secret, user=PERSON)
    export_id = (await gql.data(a.secret, EXPORT, {"user": PERSON}))["exportUser"]["id"]
    await run_worker()
    assert set(counts(await erasure_of(gql, b.secret, erasure_id)).values()) == {0}
    assert "events" in await tables_holding(owner_engine, PERSON)
    assert (await gql.data(a.secret, ERASURE, {"id": erasure_id}))["tenant"]["erasure"] is None
    assert (await gql.data(b.secret, USER_EXPORT, {"id": export_id}))["tenant"]["userExport"] is None
    url = f"{base_url}/export/users/{export_id}"
    answers = [(await http.get(url, headers={"Authorization": f"Bearer {key}"})).status_code
               for key in (b.secret, a.publishable, a.secret)]
    assert answers == [404, 403, 200]


async def test_export_user_writes_the_persons_rows_as_json(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, http: httpx.AsyncClient, base_url: str) -> None:
    tenant: TenantKeys = await make_tenant()
    assert (await gql.track(tenant.publishable, person_events() + other_events()))["accepted"] == 13
    await run_worker()
    export = (await gql.data(tenant.secret, EXPORT, {"user": PERSON}))["exportUser"]
    assert (export["status"], export["downloadUrl"]) == ("QUEUED", None)
    await run_worker()
    job = (await gql.data(tenant.secret, USER_EXPORT, {"id": export["id"]}))["tenant"]["userExport"]
    assert job["status"] == "DONE" and job["downloadUrl"] == f"/export/users/{export['id']}"
    response = await http.get(f"{base_url}{job['downloadUrl']}",
                              headers={"Authorization": f"Bearer {tenant.secret}"})
    assert response.status_code == 200
    data = response.json()
    assert data["subject"] == {"kind": "user", "id": PERSON}
    assert data["anonymousIds"] == [DEVICE]
    assert len(data["events"]) == 8 and all("tenant_id" not in e for e in data["events"])
    assert {e["user_id"] for e in data["events"]} == {PERSON, None}
    assert len(data["sessions"]) == 4
    assert sorted((r["day"], r["user_key"], r["events"]) for r in data["user_days"]) == [
        ("2025-05-01", f"a:{DEVICE}", 1), ("2025-05-01", f"u:{PERSON}", 6), ("2025-05-02", f"u:{PERSON}", 1)]
    assert len(data["daily_users"]) == 5
    rows = sum(len(v) for v in data.values() if isinstance(v, list)) - len(data["anonymousIds"])
    assert job["rows"] == rows


async def test_every_consumer_with_per_person_rows_declares_an_erase_statement(owner_engine: AsyncEngine) -> None:
    from analytics.rollups.registry import CONSUMERS

    async with owner_engine.connect() as conn:
        personal = set((await conn.execute(text(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name IN ('user_key', 'user_id', 'anonymous_id')"))).scalars())
    assert {"daily_users", "user_days"} <= personal
    for consumer in CONSUMERS:
        for table in {*consumer.tables, *consumer.expiry}:
            if table in personal:
                assert any(f" {table} " in f" {s} " for s in consumer.erase), (consumer.name, table)


ROOT = Path(__file__).resolve().parents[2]
WAITING_ON_USER_DAYS = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'DELETE FROM user_days%'")


async def until(engine: AsyncEngine, sql: str, want: bool) -> bool:
    for _ in range(600):
        async with engine.connect() as conn:
            if bool((await conn.execute(text(sql))).scalar_one()) == want:
                return True
        await asyncio.sleep(0.1)
    return False


async def test_a_worker_killed_mid_erasure_leaves_nothing_half_done_and_the_next_one_finishes(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine,
        settings: Settings) -> None:
    person = fresh("erase-me")
    tenant: TenantKeys = await make_tenant()
    assert (await gql.track(tenant.publishable, person_events(person) + other_events()))["accepted"] == 13
    await run_worker()
    before = await snapshot(owner_engine, tenant.id)
    # Hold the person's user_days rows: the erasure deletes their raw events and sessions, then waits
    # on the lock in the middle of its transaction, where its worker (a process) is SIGKILLed.
    async with owner_engine.connect() as holder:
        await holder.execute(text("SELECT * FROM user_days WHERE tenant_id = :t FOR UPDATE"), {"t": tenant.id})
        erasure_id = await erase(gql, tenant.secret, user=person)
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "worker", "--burst", cwd=ROOT, env=os.environ.copy(),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            assert await until(owner_engine, WAITING_ON_USER_DAYS, True), "the erasure never got there"
        finally:
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
        await holder.rollback()
    # PostgreSQL rolls the killed worker's transaction back once it finds the socket closed.
    assert await until(owner_engine, WAITING_ON_USER_DAYS, False)
    assert (await erasure_of(gql, tenant.secret, erasure_id))["status"] == "RUNNING"
    assert await snapshot(owner_engine, tenant.id) == before  # nothing half-erased
    # arq keeps a killed job's in-progress key for the job's timeout; the sweeper's copy (queued by the
    # next worker's startup sweep) runs meanwhile. The stale key goes so that this burst worker ends.
    redis = Redis.from_url(settings.redis_url or "")
    try:
        await redis.delete(f"arq:in-progress:erasure:{erasure_id}")
    finally:
        await redis.aclose()
    await run_worker()
    job = await erasure_of(gql, tenant.secret, erasure_id)
    assert job["status"] == "DONE" and counts(job)["events"] == 8
    assert await tables_holding(owner_engine, person) == set()
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
