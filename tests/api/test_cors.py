"""CORS on /graphql over real HTTP: preflights, publishable keys from anywhere (track only), secret keys
from the tenant's allowed origins only, setAllowedOrigins and its validation, tenant isolation."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.errors import InvalidArgument
from analytics.tenants.origins import allowed_origins, set_allowed_origins
from analytics.tenants.service import TenantError
from tests.conftest import TRACK, GraphQLClient, TenantKeys, event

SHOP = "https://shop.example.com"
ELSEWHERE = "https://elsewhere.example.org"
SET = "mutation Set($origins: [String!]!) { setAllowedOrigins(origins: $origins) }"
READ = "{ tenant { id allowedOrigins } }"
EXPOSED = "ETag, Retry-After, X-Request-ID"
RULE = "an origin is scheme://host[:port], such as https://shop.example.com or http://localhost:3000"


def page_view() -> dict[str, Any]:
    return event("PageViewed", "2026-12-01T10:00:00Z", user=None, url=f"{SHOP}/pricing")


def assert_readable_from(response: httpx.Response, origin: str) -> None:
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-expose-headers"] == EXPOSED
    assert "access-control-allow-credentials" not in response.headers
    assert "Origin" in response.headers["vary"].split(", ")


def assert_not_readable(response: httpx.Response) -> None:
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-expose-headers" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    assert "Origin" in response.headers["vary"].split(", ")


async def test_a_preflight_is_answered_for_any_origin_without_a_key(http: httpx.AsyncClient,
                                                                   base_url: str) -> None:
    for origin in (SHOP, "http://127.0.0.1:5173", "null"):
        response = await http.options(f"{base_url}/graphql", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-api-key"})
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert response.headers["access-control-allow-origin"] == origin
        assert response.headers["access-control-allow-methods"] == "GET, POST"
        assert response.headers["access-control-allow-headers"] == (
            "Accept, Authorization, Content-Type, If-None-Match, X-API-Key, X-Request-ID")
        assert response.headers["access-control-max-age"] == "600"
        assert response.headers["vary"] == "Origin"
        assert "access-control-allow-credentials" not in response.headers
    plain = await http.options(f"{base_url}/graphql")
    assert plain.status_code == 204 and plain.headers["allow"] == "GET, POST, OPTIONS"
    assert "access-control-allow-origin" not in plain.headers
    put = await http.put(f"{base_url}/graphql", content=b"{}", headers={"Origin": SHOP})
    assert put.status_code == 405 and put.headers["allow"] == "GET, POST, OPTIONS"


async def test_publishable_keys_send_track_from_any_origin_and_nothing_else(
        gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    for origin in (SHOP, ELSEWHERE, "http://localhost:8080"):
        response = await gql.post(tenant.publishable, TRACK, {"events": [page_view()]}, Origin=origin)
        assert response.status_code == 200
        assert response.json()["data"]["track"]["accepted"] == 1
        assert_readable_from(response, origin)
    read = await gql.post(tenant.publishable, READ, Origin=SHOP)
    assert read.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert_not_readable(read)
    # The generic path (track beside __typename, inline events) is track too.
    inline = await gql.post(tenant.publishable, 'mutation { __typename track(events: [{id: "'
                            + page_view()["id"] + '", type: "PageViewed", timestamp: "2026-12-01T10:00:00Z", '
                            'url: "https://shop.example.com/"}]) { accepted } }', Origin=ELSEWHERE)
    assert inline.json() == {"data": {"__typename": "Mutation", "track": {"accepted": 1}}}
    assert_readable_from(inline, ELSEWHERE)


async def test_secret_keys_are_readable_only_from_the_tenants_allowed_origins(
        gql: GraphQLClient, make_tenant: Any) -> None:
    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    before = await gql.post(a.secret, READ, Origin=SHOP)
    assert before.json() == {"data": {"tenant": {"id": str(a.id), "allowedOrigins": []}}}  # it ran...
    assert_not_readable(before)  # ...but a browser does not hand the answer to the page

    stored = await gql.data(a.secret, SET, {"origins": [SHOP, "http://LOCALHOST:3000", SHOP + ":443"]})
    assert stored == {"setAllowedOrigins": [SHOP, "http://localhost:3000"]}
    for origin in (SHOP, "http://localhost:3000"):
        allowed = await gql.post(a.secret, READ, Origin=origin)
        assert allowed.json() == {"data": {"tenant": {"id": str(a.id),
                                                      "allowedOrigins": [SHOP, "http://localhost:3000"]}}}
        assert_readable_from(allowed, origin)
    for origin in (ELSEWHERE, "http://localhost:3001", "https://shop.example.com.evil.test", "null"):
        assert_not_readable(await gql.post(a.secret, READ, Origin=origin))
    # A secret key may track too: its answer follows the tenant's list like any other.
    assert_readable_from(await gql.post(a.secret, TRACK, {"events": [page_view()]}, Origin=SHOP), SHOP)
    assert_not_readable(await gql.post(a.secret, TRACK, {"events": [page_view()]}, Origin=ELSEWHERE))

    # Tenant A's origins do not open tenant B.
    other = await gql.post(b.secret, READ, Origin=SHOP)
    assert other.json() == {"data": {"tenant": {"id": str(b.id), "allowedOrigins": []}}}
    assert_not_readable(other)

    cleared = await gql.post(a.secret, SET, {"origins": []}, Origin=SHOP)
    assert cleared.json() == {"data": {"setAllowedOrigins": []}}
    assert_readable_from(cleared, SHOP)  # decided by the key lookup before the change
    assert_not_readable(await gql.post(a.secret, READ, Origin=SHOP))  # the next request sees it


async def test_set_allowed_origins_names_the_bad_field_and_the_limit(gql: GraphQLClient,
                                                                     make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    await gql.data(tenant.secret, SET, {"origins": [SHOP]})

    async def refused(origins: list[str]) -> dict[str, Any]:
        body = await gql(tenant.secret, SET, {"origins": origins})
        assert body["data"] is None
        [error] = body["errors"]
        return {"message": error["message"], **error["extensions"]}

    assert await refused([f"https://s{i}.example.com" for i in range(51)]) == {
        "message": "origins: 51 origins given; the limit is 50", "code": "BAD_USER_INPUT", "field": "origins"}
    cases = {
        "https://shop.example.com/": "must not have a path, query or fragment (not even a trailing /)",
        "https://shop.example.com/app": "must not have a path, query or fragment (not even a trailing /)",
        "shop.example.com": "must start with http:// or https://",
        "ftp://shop.example.com": "must start with http:// or https://",
        "https://*.example.com": "must name one host (no wildcards)",
        "*": "must start with http:// or https://",
        "null": "must start with http:// or https://",
        "https://user@shop.example.com": "must not carry a user or password",
        " https://shop.example.com": "contains spaces or control characters",
        "https://shop.example.com:99999": "is not a valid URL origin",
    }
    for bad, why in cases.items():
        assert await refused([SHOP, bad]) == {
            "message": f"origins[1]: {bad!r} {why}; {RULE}", "code": "BAD_USER_INPUT", "field": "origins[1]"}, bad
    long = "https://" + "a" * 289 + ".com"  # 301 characters
    assert await refused([long]) == {"message": "origins[0]: is 301 characters; the limit is 300",
                                     "code": "BAD_USER_INPUT", "field": "origins[0]"}
    # Nothing was stored by the refused calls; 50 origins are fine, spelled as browsers send them.
    assert await gql.data(tenant.secret, READ) == {"tenant": {"id": str(tenant.id), "allowedOrigins": [SHOP]}}
    fifty = [f"https://s{i}.example.com" for i in range(48)] + ["https://Bücher.Example", "http://[::1]:80"]
    stored = (await gql.data(tenant.secret, SET, {"origins": fifty}))["setAllowedOrigins"]
    assert stored[48:] == ["https://xn--bcher-kva.example", "http://[::1]"] and len(stored) == 50
    forbidden = await gql(tenant.publishable, SET, {"origins": [SHOP]})
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_requests_that_fail_before_running_follow_the_same_rules(
        http: httpx.AsyncClient, base_url: str, gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    await gql.data(tenant.secret, SET, {"origins": [SHOP]})
    url = f"{base_url}/graphql"

    async def bad_json(key: str | None, origin: str) -> httpx.Response:
        headers = {"Content-Type": "application/json", "Origin": origin}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        response = await http.post(url, content=b"{not json", headers=headers)
        assert response.status_code == 400
        return response

    assert_readable_from(await bad_json(tenant.publishable, ELSEWHERE), ELSEWHERE)  # the SDK sees it
    assert_readable_from(await bad_json(tenant.secret, SHOP), SHOP)
    assert_not_readable(await bad_json(tenant.secret, ELSEWHERE))
    assert_readable_from(await bad_json(None, ELSEWHERE), ELSEWHERE)  # no key: nothing to protect
    too_large = await http.post(url, content=b"x" * 1_048_577, headers={
        "Content-Type": "application/json", "Origin": ELSEWHERE, "Authorization": f"Bearer {tenant.publishable}"})
    assert too_large.status_code == 413
    assert_readable_from(too_large, ELSEWHERE)
    # Answers no key unlocks are public: a revoked or unknown key learns so, from any page.
    unknown = await gql.post("pk_unknown", TRACK, {"events": [page_view()]}, Origin=ELSEWHERE)
    assert unknown.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert_readable_from(unknown, ELSEWHERE)


async def test_every_answer_varies_on_origin_and_get_answers_stay_cacheable(
        http: httpx.AsyncClient, base_url: str, make_tenant: Any, gql: GraphQLClient) -> None:
    tenant: TenantKeys = await make_tenant()
    await gql.data(tenant.secret, SET, {"origins": [SHOP]})
    plain = await gql.post(tenant.secret, READ)
    assert plain.headers["vary"] == "Origin"
    assert "access-control-allow-origin" not in plain.headers
    params = {"query": READ}
    headers = {"Authorization": f"Bearer {tenant.secret}", "Origin": SHOP}
    first = await http.get(f"{base_url}/graphql", params=params, headers=headers)
    assert first.status_code == 200 and first.headers["vary"] == "Accept, Authorization, X-API-Key, Origin"
    assert_readable_from(first, SHOP)
    again = await http.get(f"{base_url}/graphql", params=params,
                           headers={**headers, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert_readable_from(again, SHOP)
    elsewhere = await http.get(f"{base_url}/graphql", params=params, headers={**headers, "Origin": ELSEWHERE})
    assert elsewhere.status_code == 200 and json.loads(elsewhere.content) == first.json()
    assert_not_readable(elsewhere)


async def test_the_domain_function_command_lines_call(owner_engine: AsyncEngine, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    async with owner_engine.begin() as conn:
        assert await set_allowed_origins(conn, tenant.id, ["HTTPS://Shop.Example.com"]) == (SHOP,)
        assert await allowed_origins(conn, tenant.id) == (SHOP,)
        with pytest.raises(InvalidArgument, match=r"^origins\[0\]: 'shop' must start with http"):
            await set_allowed_origins(conn, tenant.id, ["shop"])
        with pytest.raises(TenantError, match=r"^no tenant with id 0$"):
            await set_allowed_origins(conn, 0, [SHOP])


async def test_a_beacon_sends_track_with_the_publishable_key_in_the_url(
        http: httpx.AsyncClient, base_url: str, make_tenant: Any) -> None:
    """navigator.sendBeacon cannot set headers: ?key= and a text/plain body (no preflight)."""
    tenant: TenantKeys = await make_tenant()
    events = [page_view(), page_view()]
    body = json.dumps({"query": TRACK, "variables": {"events": events}})
    beacon = {"Content-Type": "text/plain;charset=UTF-8", "Origin": ELSEWHERE}
    sent = await http.post(f"{base_url}/graphql", params={"key": tenant.publishable}, content=body,
                           headers=beacon)
    assert sent.status_code == 200
    assert sent.json()["data"]["track"]["accepted"] == 2
    assert_readable_from(sent, ELSEWHERE)
    again = await http.post(f"{base_url}/graphql", params={"key": tenant.publishable}, content=body,
                            headers=beacon)
    assert again.json()["data"]["track"]["duplicates"] == 2  # a beacon after a fetch of the same events
    secret = await http.post(f"{base_url}/graphql", params={"key": tenant.secret}, content=body, headers=beacon)
    assert secret.json()["errors"][0]["message"] == (
        "a secret key must be sent in a header, never in a URL (?key= is for publishable keys)")
    assert secret.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # text/plain is for beacons only: with a key header it stays 415, as does GET with ?key=.
    header = await http.post(f"{base_url}/graphql", params={"key": tenant.publishable}, content=body,
                             headers={**beacon, "Authorization": f"Bearer {tenant.publishable}"})
    assert header.status_code == 415
    read = await http.get(f"{base_url}/graphql", params={"key": tenant.secret, "query": READ})
    assert read.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
