"""Sessions stored under the old visitor rule (a relay's users were one visitor, its library agent a bot)
are re-derived by the worker's identity job (migration 0020), with counters equal to a recomputation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rollups.recompute import verify_rollups
from tests.conftest import TRACK, GraphQLClient, TenantKeys, event

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
RELAY = {"User-Agent": "python-requests/2.32.3"}
FIGURES = """{ tenant {
    sessionStats(range: {from: "2025-05-10", to: "2025-05-10"}) { sessions visitors users botSessions }
    tour(id: "t1") { stats(range: {from: "2025-05-10", to: "2025-05-10"}) { starts } } } }"""
# What ingest stored before the identity rule: a visitor per request address + effective agent (here
# one relay address), the relay's own agent where the event sent none, nothing server-sourced.
OLD_RULE = """UPDATE events SET visitor_id = md5(coalesce(user_agent, 'python-requests/2.32.3')),
    visitor_prev = NULL, server_source = false, user_agent = coalesce(user_agent, 'python-requests/2.32.3')
    WHERE tenant_id = :t"""


def at(seconds: float) -> str:
    return (datetime(2025, 5, 10, 8, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def figures(gql: GraphQLClient, tenant: TenantKeys) -> tuple[dict[str, int], int]:
    data = (await gql.data(tenant.secret, FIGURES))["tenant"]
    return data["sessionStats"], data["tour"]["stats"]["starts"]


async def test_the_identity_job_rederives_a_relays_sessions_and_corrects_the_counters(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    people = [event("PageViewed", at(i * 2 + page), f"user-{i}", anonymousId=f"device-{i}",
                    url=f"https://shop.example/{page}", context={"userAgent": (CHROME, IPHONE)[i % 2]})
              for i in range(300) for page in (0, 1)]
    tours = [event("TourStarted", at(i), f"member-{i}", tourId="t1") for i in range(20)]
    response = await gql.post(tenant.publishable, TRACK, {"events": people + tours}, **RELAY)
    assert response.json()["data"]["track"]["accepted"] == 620
    async with owner_engine.begin() as conn:
        await conn.execute(text(OLD_RULE), {"t": tenant.id})
    await run_worker()
    # The old answer: three visitors (Chrome, iPhone, the relay's agent), each one session naming one
    # of its users; the tour starts a bot's.
    assert await figures(gql, tenant) == ({"sessions": 2, "visitors": 2, "users": 2, "botSessions": 1}, 0)

    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE tenants SET identity_version = 0 WHERE id = :t"), {"t": tenant.id})
    await run_worker()
    assert await figures(gql, tenant) == ({"sessions": 320, "visitors": 320, "users": 320, "botSessions": 0}, 20)
    async with owner_engine.connect() as conn:
        version = (await conn.execute(text("SELECT identity_version FROM tenants WHERE id = :t"),
                                      {"t": tenant.id})).scalar_one()
        agents = (await conn.execute(text(
            "SELECT count(*) FILTER (WHERE e.server_source AND e.user_agent IS NULL), "
            "count(*) FILTER (WHERE s.device_type = 'unknown') FROM events e JOIN sessions s "
            "ON s.tenant_id = e.tenant_id AND s.id = e.session_key WHERE e.tenant_id = :t"), {"t": tenant.id})).one()
        assert await verify_rollups(conn, tenant.id) == []
    assert version == 1
    assert tuple(agents) == (20, 20)
    # A second run finds nothing left to move.
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE tenants SET identity_version = 0 WHERE id = :t"), {"t": tenant.id})
    await run_worker()
    assert await figures(gql, tenant) == ({"sessions": 320, "visitors": 320, "users": 320, "botSessions": 0}, 20)


async def test_the_sql_identity_hash_is_the_ingest_one(owner_engine: AsyncEngine) -> None:
    from analytics.ingest.origin import IDENTITY_SQL, identity_visitor_id

    pairs = [("u1", None), (None, "a1"), ("u1", "a1"), ("a", "bc"), ("ab", "c"), ("Zoë 🦊", "Gerät-7"),
             ("x:y", "1:2")]
    async with owner_engine.connect() as conn:
        hashed = [(await conn.execute(text(
            f"SELECT {IDENTITY_SQL} FROM (SELECT CAST(42 AS bigint) AS tenant_id, CAST(:u AS text) AS user_id, "
            "CAST(:a AS text) AS anonymous_id) e"), {"u": user, "a": anonymous})).scalar_one()
            for user, anonymous in pairs]
    assert hashed == [identity_visitor_id(42, user, anonymous) for user, anonymous in pairs]
    assert len(set(hashed)) == len(pairs)
