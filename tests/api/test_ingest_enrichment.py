"""What ingest adds to an event from its request: the effective user agent, the raw IP only for
tenants that opted in, a trusted proxy's geo headers; and the capsule events reaching the counters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ingest.geo import geo_from_headers
from analytics.settings import Settings, SettingsError, load_settings
from tests.conftest import TRACK, GraphQLClient, Servers, TenantKeys, _serve, cli, event


async def send(client: GraphQLClient, key: str, events: list[dict[str, Any]], **headers: str) -> dict[str, Any]:
    """``track`` with extra request headers (the suite's client speaks as a browser)."""
    response = await client.post(key, TRACK, {"events": events}, **headers)
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["track"]
    return result


async def stored(engine: AsyncEngine, tenant_id: int, columns: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(
            f"SELECT {columns} FROM events WHERE tenant_id = :t ORDER BY occurred_at, type"), {"t": tenant_id})]


def view(at: str, **fields: Any) -> dict[str, Any]:
    return event("PageViewed", f"2025-05-01T{at}Z", None, anonymousId="a1", url="/p", **fields)


async def test_the_effective_user_agent_is_stored(gql: GraphQLClient, make_tenant: Any,
                                                  owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    browser = "Mozilla/5.0 HeaderAgent/1"
    await send(gql, tenant.publishable, [
        view("10:00:00", context={"userAgent": "  SdkAgent/2  "}),  # the SDK's own, trimmed
        view("10:01:00", context={"userAgent": "   "}),             # blank: the header's
        view("10:02:00", context={"locale": "de-DE"}),
    ], **{"User-Agent": browser})
    await send(gql, tenant.publishable, [view("10:03:00")], **{"User-Agent": "Mozilla/5.0 " + "x" * 1100})
    # From a server (a library's agent or none): the header is never the end user's agent.
    await send(gql, tenant.publishable, [view("10:04:00")], **{"User-Agent": ""})
    await send(gql, tenant.publishable, [view("10:05:00"), view("10:06:00", context={"userAgent": "SdkAgent/3"})],
               **{"User-Agent": "python-requests/2.32.3"})
    assert await stored(owner_engine, tenant.id, "user_agent, server_source") == [
        ("SdkAgent/2", False), (browser, False), (browser, False), ("Mozilla/5.0 " + "x" * 1012, False),
        (None, True), (None, True), ("SdkAgent/3", True)]


async def test_raw_ip_is_kept_only_for_tenants_that_opt_in(gql: GraphQLClient, make_tenant: Any,
                                                          owner_engine: AsyncEngine, servers: Servers) -> None:
    tenant: TenantKeys = await make_tenant()
    proxied = {"X-Forwarded-For": "203.0.113.9"}  # uvicorn trusts the loopback proxy
    await send(gql, tenant.publishable, [view("10:00:00")], **proxied)
    on = cli(servers, "tenants", "update", tenant.name, "--store-ip")
    assert on.returncode == 0, on.stderr
    assert f"{tenant.name}: raw IP addresses stored" in on.stdout
    await send(gql, tenant.publishable, [view("10:01:00")], **proxied)
    await send(gql, tenant.publishable, [view("10:02:00")], **{"X-Forwarded-For": "2001:db8::7"})
    off = cli(servers, "tenants", "update", tenant.name, "--no-store-ip")
    assert off.returncode == 0, off.stderr
    await send(gql, tenant.publishable, [view("10:03:00")], **proxied)
    assert await stored(owner_engine, tenant.id, "host(ip_address)") == [
        (None,), ("203.0.113.9",), ("2001:db8::7",), (None,)]

    nothing = cli(servers, "tenants", "update", tenant.name)
    assert nothing.returncode == 2
    assert "give --store-ip, --no-store-ip, --scanner-exempt, --allowed-origins" in " ".join(nothing.stderr.split())
    exempt = cli(servers, "tenants", "update", tenant.name, "--scanner-exempt", "php, wordpress")
    assert exempt.returncode == 0 and "scanner rules exempt: wordpress, php" in exempt.stdout, exempt.stderr
    bad = cli(servers, "tenants", "update", tenant.name, "--scanner-exempt", "php,wp")
    assert bad.returncode == 2 and "--scanner-exempt: unknown scanner rule 'wp'" in bad.stderr
    cleared = cli(servers, "tenants", "update", tenant.name, "--scanner-exempt", "none")
    assert cleared.returncode == 0 and "scanner rules exempt: none" in cleared.stdout
    unknown = cli(servers, "tenants", "update", "nobody-" + uuid.uuid4().hex[:6], "--store-ip")
    assert unknown.returncode == 1 and "no tenant named" in unknown.stderr
    assert "--store-ip" in cli(servers, "tenants", "update", "--help").stdout


@pytest.mark.parametrize(("provider", "headers", "expected"), [
    ("cloudflare", {"cf-ipcountry": "de", "cf-region-code": "BY", "cf-ipcity": "München".encode().decode("latin-1")},
     {"country": "DE", "region": "BY", "city": "München"}),
    ("cloudflare", {"cf-ipcountry": "XX", "cf-ipcity": "Somewhere"}, {"city": "Somewhere"}),
    ("cloudflare", {"cf-ipcountry": "T1"}, {}),
    ("cloudflare", {"cf-ipcountry": "DEU", "cf-region-code": "r" * 101, "cf-ipcity": "a\x00b"}, {}),
    ("vercel", {"x-vercel-ip-country": "BR", "x-vercel-ip-country-region": "SP",
                "x-vercel-ip-city": "S%C3%A3o%20Paulo"}, {"country": "BR", "region": "SP", "city": "São Paulo"}),
    ("cloudfront", {"cloudfront-viewer-country": "US", "cloudfront-viewer-country-region": "WA",
                    "cloudfront-viewer-city": "Seattle"}, {"country": "US", "region": "WA", "city": "Seattle"}),
    ("cloudfront", {"cf-ipcountry": "DE", "x-vercel-ip-country": "DE"}, {}),  # another proxy's headers
    ("none", {"cf-ipcountry": "DE"}, {}),
])
def test_geo_headers_of_each_proxy(provider: str, headers: dict[str, str], expected: dict[str, str]) -> None:
    assert geo_from_headers(headers, provider) == expected


def test_the_geo_setting_names_the_variable() -> None:
    assert load_settings({}).geo_headers == "none"
    assert load_settings({"ANALYTICS_GEO_HEADERS": "Cloudflare"}).geo_headers == "cloudflare"
    with pytest.raises(SettingsError, match="ANALYTICS_GEO_HEADERS='akamai' must be one of none, cloudflare, "
                                            "vercel, cloudfront"):
        load_settings({"ANALYTICS_GEO_HEADERS": "akamai"})


@pytest.fixture(scope="module")
async def behind_cloudflare(http: Any, settings: Settings) -> AsyncIterator[GraphQLClient]:
    """The API configured to trust Cloudflare's location headers."""
    from api.app import create_app

    async for url in _serve(create_app(replace(settings, geo_headers="cloudflare"))):
        yield GraphQLClient(http, url)


async def test_trusted_geo_headers_fill_the_context(gql: GraphQLClient, behind_cloudflare: GraphQLClient,
                                                    make_tenant: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    munich = {"CF-IPCountry": "DE", "cf-region-code": "BY", "cf-ipcity": "Munich"}
    await send(behind_cloudflare, tenant.publishable, [
        view("10:00:00"),                                                  # all from the headers
        view("10:01:00", context={"country": "de", "city": "Nürnberg"}),   # same country: region added
        view("10:02:00", context={"country": "AT", "locale": "de-AT"}),    # another country: own only
        view("10:03:00", context={"country": "XX", "locale": "de-DE"}),    # unknown: the headers'
    ], **munich)
    await send(behind_cloudflare, tenant.publishable, [view("10:04:00")], **{"CF-IPCountry": "T1"})
    await send(gql, tenant.publishable, [view("10:05:00")], **munich)  # not trusted there
    assert await stored(owner_engine, tenant.id, "context") == [
        ({"country": "DE", "region": "BY", "city": "Munich"},),
        ({"country": "DE", "region": "BY", "city": "Nürnberg"},),
        ({"country": "AT", "locale": "de-AT"},),
        ({"country": "DE", "region": "BY", "city": "Munich", "locale": "de-DE"},),
        (None,), (None,)]


async def test_capsule_events_reach_the_content_counters(gql: GraphQLClient, make_tenant: Any,
                                                         owner_engine: AsyncEngine, run_worker: Any) -> None:
    from analytics.rollups.recompute import verify_rollups

    tenant: TenantKeys = await make_tenant()

    def capsule_event(kind: str, at: str, user: str, **fields: Any) -> dict[str, Any]:
        return event(kind, f"2025-05-01T{at}Z", user, contentId="cap1", sessionId=f"s-{user}", **fields)

    await send(gql, tenant.publishable, [
        capsule_event("ContentViewed", "10:00:00", "u1"),
        capsule_event("ConversationMessage", "10:00:10", "u1",
                      capsule={"conversationId": "k1", "role": "user", "turn": 1}),
        capsule_event("ConversationMessage", "10:00:12", "u1",
                      capsule={"conversationId": "k1", "role": "assistant", "turn": 1}),
        capsule_event("ContentAssetViewed", "10:01:00", "u1", capsule={"assetId": "v1", "assetKind": "video"}),
        capsule_event("VideoCompleted", "10:03:00", "u1", capsule={"assetId": "v1"}),
        capsule_event("ContentCtaClicked", "10:04:00", "u1", capsule={"ctaId": "demo", "ctaType": "book_demo"}),
        capsule_event("ContentConverted", "10:04:30", "u1", capsule={"ctaId": "demo", "ctaType": "book_demo"}),
        capsule_event("ContentConverted", "10:05:00", "u1", capsule={"ctaId": "trial"}),
        capsule_event("ContentConverted", "10:06:00", "u2"),
        capsule_event("ContentEngagement", "10:07:00", "u1", engagement={"timeOnPageMs": 420000, "scrollDepth": 90}),
    ])
    await run_worker()
    async with owner_engine.connect() as conn:
        counters: dict[str, int] = dict((await conn.execute(text(
            "SELECT metric, sum(value) FROM counters_daily WHERE tenant_id = :t AND entity_type = 'content' "
            "AND entity_id = 'cap1' AND NOT bot GROUP BY metric"), {"t": tenant.id})).all())
        converters = (await conn.execute(text(
            "SELECT count(DISTINCT user_key) FROM daily_users WHERE tenant_id = :t AND metric = 'conversions'"),
            {"t": tenant.id})).scalar_one()
        assert await verify_rollups(conn, tenant.id) == []
    assert counters == {"views": 1, "messages": 2, "asset_views": 1, "video_completions": 1, "cta_clicks": 1,
                        "conversions": 3, "engagements": 1}
    assert converters == 2

