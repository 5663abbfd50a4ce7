"""Identity for events sent by servers and relays (issue 15): the event's userId/anonymousId name the
visitor, a server source's events are judged by their context.userAgent, and a server source without
any agent is the unknown-agent class (people unless the tenant excludes them). Exact figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ingest.origin import identity_visitor_id
from analytics.rollups.recompute import verify_rollups
from tests.conftest import TRACK, GraphQLClient, TenantKeys, event

SITE = "https://shop.example.com"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
# One relay: one address (uvicorn trusts the loopback proxy's X-Forwarded-For) and one library agent.
RELAY = {"User-Agent": "python-requests/2.32.3", "X-Forwarded-For": "203.0.113.50"}
DAY = {"from": "2025-05-10", "to": "2025-05-10"}
FIGURES = """query($r: RangeInput!) { tenant {
    sessionStats(range: $r) { sessions visitors users pageViews botSessions }
    everyone: sessionStats(range: $r, includeBots: true) { sessions visitors }
    traffic(range: $r) { devices { key sessions } bots { excludedSessions unknownAgentSessions
        byReason { tier code sessions } } } } }"""
TOUR = """query($r: RangeInput!) { tenant { tour(id: "onboarding") {
    stats(range: $r) { starts completions excludedAsBots }
    everyone: stats(range: $r, includeBots: true) { starts excludedAsBots } } } }"""
UNKNOWN_AGENTS = """mutation($exclude: Boolean!) { setUnknownAgents(exclude: $exclude) {
    exclude sessionsChanged daysMarked } }"""


async def relay(gql: GraphQLClient, key: str, events: list[dict[str, Any]],
                headers: dict[str, str] | None = None) -> None:
    """``track`` in batches of 1,000, as a server would send them."""
    for start in range(0, len(events), 1000):
        response = await gql.post(key, TRACK, {"events": events[start:start + 1000]}, **(headers or RELAY))
        result = response.json()["data"]["track"]
        assert (result["accepted"], result["rejected"]) == (len(events[start:start + 1000]), 0), result


def at(seconds: float) -> str:
    return (datetime(2025, 5, 10, 8, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


async def figures(gql: GraphQLClient, tenant: TenantKeys) -> dict[str, Any]:
    data: dict[str, Any] = (await gql.data(tenant.secret, FIGURES, {"r": DAY}))["tenant"]
    return data


async def assert_counters_exact(engine: AsyncEngine, tenant_id: int) -> None:
    async with engine.connect() as conn:
        assert await verify_rollups(conn, tenant_id) == []


async def test_a_relay_of_1000_users_tour_events_without_agents_gives_1000_visitors(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    events = []
    for i in range(1000):  # a start and a completion a minute later; all within the same hour
        events += [event("TourStarted", at(i), f"user-{i}", tourId="onboarding"),
                   event("TourCompleted", at(i + 60), f"user-{i}", tourId="onboarding")]
    # user-0 comes back two hours later: a second session of the same visitor.
    events.append(event("TourStarted", at(7200), "user-0", tourId="onboarding"))
    await relay(gql, tenant.publishable, events)
    await run_worker()

    data = await figures(gql, tenant)
    assert data["sessionStats"] == {"sessions": 1001, "visitors": 1000, "users": 1000, "pageViews": 0,
                                    "botSessions": 0}
    assert data["traffic"]["devices"] == [{"key": "unknown", "sessions": 1001}]
    assert data["traffic"]["bots"] == {"excludedSessions": 0, "unknownAgentSessions": 1001, "byReason": []}
    tour = (await gql.data(tenant.secret, TOUR, {"r": DAY}))["tenant"]["tour"]
    assert tour == {"stats": {"starts": 1001, "completions": 1000, "excludedAsBots": 0},
                    "everyone": {"starts": 1001, "excludedAsBots": 0}}
    async with owner_engine.connect() as conn:
        sizes = (await conn.execute(text(
            # Events grouped once, then joined: a per-session lookup has no index on session_key.
            "SELECT count(*) FILTER (WHERE request_count = 2), count(*) FILTER (WHERE request_count = 1), "
            "count(DISTINCT visitor_id), bool_and(NOT server_source) FROM sessions s JOIN "
            "(SELECT session_key, bool_and(server_source) AS server_source FROM events WHERE tenant_id = :t "
            "GROUP BY session_key) e ON e.session_key = s.id WHERE s.tenant_id = :t"), {"t": tenant.id})).one()
    assert tuple(sizes) == (1000, 1, 1000, False)
    await assert_counters_exact(owner_engine, tenant.id)

    # The tenant excludes the unknown-agent class: stored sessions turn and the counters follow.
    done = (await gql.data(tenant.secret, UNKNOWN_AGENTS, {"exclude": True}))["setUnknownAgents"]
    assert done == {"exclude": True, "sessionsChanged": 1001, "daysMarked": 1}
    await run_worker()
    data = await figures(gql, tenant)
    assert data["sessionStats"] == {"sessions": 0, "visitors": 0, "users": 0, "pageViews": 0,
                                    "botSessions": 1001}
    assert data["everyone"] == {"sessions": 1001, "visitors": 1000}
    assert data["traffic"]["bots"] == {"excludedSessions": 1001, "unknownAgentSessions": 1001,
                                       "byReason": [{"tier": 1, "code": "unknown_agent", "sessions": 1001}]}
    tour = (await gql.data(tenant.secret, TOUR, {"r": DAY}))["tenant"]["tour"]
    # Zeros that say why: 1,001 starts and 1,000 completions arrived and were filtered.
    assert tour == {"stats": {"starts": 0, "completions": 0, "excludedAsBots": 2001},
                    "everyone": {"starts": 1001, "excludedAsBots": 0}}
    # New sessions follow the setting; turning it off again brings every one back.
    await relay(gql, tenant.publishable, [event("TourStarted", at(9000), "user-1000", tourId="onboarding")])
    await run_worker()
    assert (await figures(gql, tenant))["sessionStats"]["botSessions"] == 1002
    done = (await gql.data(tenant.secret, UNKNOWN_AGENTS, {"exclude": False}))["setUnknownAgents"]
    assert done == {"exclude": False, "sessionsChanged": 1002, "daysMarked": 1}
    await run_worker()
    assert (await figures(gql, tenant))["sessionStats"] == {
        "sessions": 1002, "visitors": 1001, "users": 1001, "pageViews": 0, "botSessions": 0}
    await assert_counters_exact(owner_engine, tenant.id)


async def test_300_people_relayed_by_python_requests_are_300_sessions_visitors_and_users(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    agents = (CHROME, IPHONE)
    events = [event("PageViewed", at(i * 3 + page), f"user-{i}", anonymousId=f"device-{i}",
                    url=f"{SITE}/{'pricing' if page else ''}",
                    context={"userAgent": agents[i % 2], "ip": f"198.51.100.{i % 250}"})
              for i in range(300) for page in (0, 1)]
    await relay(gql, tenant.publishable, events)
    await run_worker()
    data = await figures(gql, tenant)
    assert data["sessionStats"] == {"sessions": 300, "visitors": 300, "users": 300, "pageViews": 600,
                                    "botSessions": 0}
    assert data["traffic"]["devices"] == [{"key": "desktop", "sessions": 150}, {"key": "mobile", "sessions": 150}]
    assert data["traffic"]["bots"]["unknownAgentSessions"] == 0
    async with owner_engine.connect() as conn:
        stored = (await conn.execute(text(
            "SELECT count(DISTINCT user_agent), count(*) FILTER (WHERE ip_address IS NOT NULL), "
            "bool_and(server_source), count(*) FILTER (WHERE context ? 'ip') FROM events WHERE tenant_id = :t"),
            {"t": tenant.id})).one()
    # The relay's own agent is nobody's; no address is stored (the tenant did not opt in), none in context.
    assert tuple(stored) == (2, 0, True, 0)
    await assert_counters_exact(owner_engine, tenant.id)


async def test_a_crawlers_agent_through_a_server_source_is_a_bot_and_a_librarys_own_request_stays_one(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    await relay(gql, tenant.publishable, [
        event("PageViewed", at(0), None, anonymousId="crawler", url=f"{SITE}/",
              context={"userAgent": GOOGLEBOT}),
        event("PageViewed", at(0), None, anonymousId="person", url=f"{SITE}/", context={"userAgent": CHROME})])
    # curl itself sending a cookieless page view (no ids, no context agent): its own agent, a bot.
    await relay(gql, tenant.publishable, [event("PageViewed", at(10), None, url=f"{SITE}/")],
                {"User-Agent": "curl/8.5.0"})
    await run_worker()
    data = await figures(gql, tenant)
    assert data["sessionStats"] == {"sessions": 1, "visitors": 1, "users": 0, "pageViews": 1, "botSessions": 2}
    assert sorted(data["traffic"]["bots"]["byReason"], key=lambda r: r["code"]) == [
        {"tier": 1, "code": "ua_crawler", "sessions": 1}, {"tier": 1, "code": "ua_http_library", "sessions": 1}]
    async with owner_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT anonymous_id, user_agent, server_source FROM events "
                                        "WHERE tenant_id = :t ORDER BY occurred_at, anonymous_id"),
                                   {"t": tenant.id})).all()
    assert [tuple(r) for r in rows] == [("crawler", GOOGLEBOT, True), ("person", CHROME, True),
                                        (None, "curl/8.5.0", False)]


async def test_two_anonymous_ids_from_one_browser_stay_two_visitors_and_cookieless_views_one(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    browser = {"User-Agent": CHROME, "X-Forwarded-For": "203.0.113.7"}
    await relay(gql, tenant.publishable, [
        event("PageViewed", at(0), None, anonymousId="tab-1", url=f"{SITE}/"),
        event("PageViewed", at(5), None, anonymousId="tab-2", url=f"{SITE}/"),
        event("PageViewed", at(10), None, anonymousId="tab-1", url=f"{SITE}/docs"),
        # Cookieless views of the same browser: one more visitor, by address and agent, as before.
        event("PageViewed", at(15), None, url=f"{SITE}/"),
        event("PageViewed", at(20), None, url=f"{SITE}/about")], browser)
    await run_worker()
    data = await figures(gql, tenant)
    assert data["sessionStats"] == {"sessions": 3, "visitors": 3, "users": 0, "pageViews": 5, "botSessions": 0}
    async with owner_engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT anonymous_id, visitor_id, visitor_prev IS NOT NULL, server_source FROM events "
            "WHERE tenant_id = :t ORDER BY occurred_at"), {"t": tenant.id})).all()
    assert rows[0].visitor_id == rows[2].visitor_id == identity_visitor_id(tenant.id, None, "tab-1")
    assert rows[1].visitor_id == identity_visitor_id(tenant.id, None, "tab-2")
    assert rows[3].visitor_id == rows[4].visitor_id not in {rows[0].visitor_id, rows[1].visitor_id}
    assert [(r[2], r[3]) for r in rows] == [(False, False)] * 3 + [(True, False)] * 2


async def test_a_declared_server_and_context_ip_name_cookieless_visitors(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    # A relay that forwards the browser's agent as its own still declares itself: the header's agent,
    # address and geo are not the end user's; each context.ip + context.userAgent is one visitor.
    declared = {"User-Agent": CHROME, "Analytics-Source": "server", "X-Forwarded-For": "203.0.113.50"}
    views = [event("PageViewed", at(i), None, url=f"{SITE}/",
                   context={"userAgent": IPHONE, "ip": f"198.51.100.{i % 3}"}) for i in range(6)]
    bad = event("PageViewed", at(7), None, url=f"{SITE}/", context={"ip": "not-an-address"})
    response = await gql.post(tenant.publishable, TRACK, {"events": [*views, bad]}, **declared)
    result = response.json()["data"]["track"]
    assert (result["accepted"], result["rejections"]) == (6, [
        {"index": 6, "field": "context.ip", "reason": "must be an IPv4 or IPv6 address such as 203.0.113.9"}])
    await run_worker()
    data = await figures(gql, tenant)
    assert data["sessionStats"] == {"sessions": 3, "visitors": 3, "users": 0, "pageViews": 6, "botSessions": 0}
    assert data["traffic"]["devices"] == [{"key": "mobile", "sessions": 3}]
    await assert_counters_exact(owner_engine, tenant.id)


async def test_the_unknown_agent_choice_is_a_secret_key_s_and_touches_only_its_tenant(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    for tenant in (mine, theirs):
        await relay(gql, tenant.publishable, [event("TourStarted", at(0), "u1", tourId="onboarding")])
    await run_worker()
    refused = await gql(mine.publishable, 'mutation { setUnknownAgents(exclude: true) { exclude } }')
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    done = (await gql.data(mine.secret, UNKNOWN_AGENTS, {"exclude": True}))["setUnknownAgents"]
    assert done == {"exclude": True, "sessionsChanged": 1, "daysMarked": 1}
    await run_worker()
    assert (await figures(gql, mine))["sessionStats"]["botSessions"] == 1
    assert (await figures(gql, theirs))["sessionStats"] == {"sessions": 1, "visitors": 1, "users": 1,
                                                            "pageViews": 0, "botSessions": 0}
