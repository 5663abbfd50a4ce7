"""/graphql over HTTP: media types and status codes, persisted queries (APQ and trusted documents),
ETag/304, and every request limit exceeded once, against real servers."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from graphql import GraphQLError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import persisted
from analytics.settings import ApiLimits, Settings
from tests.conftest import TRACK, TenantKeys, _serve, event

GQL_RESPONSE = "application/graphql-response+json"
STATS = """query Stats($r: RangeInput!) { tenant { tour(id: "t1") { stats(range: $r) { starts completions } } } }"""
RANGE = {"r": {"from": "2025-03-01", "to": "2025-03-31"}}


def sha(text_: str) -> str:
    return hashlib.sha256(text_.encode()).hexdigest()


async def post(http: httpx.AsyncClient, url: str, body: Any, key: str | None = None,
               accept: str = "application/json", **headers: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", "Accept": accept, **headers}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return await http.post(f"{url}/graphql", content=json.dumps(body), headers=headers)


async def get(http: httpx.AsyncClient, url: str, params: dict[str, str], key: str | None = None,
              **headers: str) -> httpx.Response:
    headers.setdefault("Accept", "application/json")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return await http.get(f"{url}/graphql", params=params, headers=headers)


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors", [])]


# --- GraphQL over HTTP -------------------------------------------------------------------------

async def test_request_errors_are_400_under_graphql_response_json_and_200_under_json(
        http: httpx.AsyncClient, base_url: str) -> None:
    for query, code in (("{ tenant { ", "GRAPHQL_PARSE_FAILED"), ("{ nope }", "GRAPHQL_VALIDATION_FAILED")):
        strict = await post(http, base_url, {"query": query}, accept=GQL_RESPONSE)
        assert strict.status_code == 400
        assert strict.headers["content-type"].startswith(GQL_RESPONSE)
        assert codes(strict) == [code] and "data" not in strict.json()
        legacy = await post(http, base_url, {"query": query})
        assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")
        assert codes(legacy) == [code]
    # Variables that do not coerce are a request error too (nothing executed).
    bad_vars = await post(http, base_url, {"query": STATS, "variables": {"r": {"from": 5}}}, accept=GQL_RESPONSE)
    assert bad_vars.status_code == 400 and "data" not in bad_vars.json()


TOP = "query Top($r: RangeInput!, $n: Int!) { tenant { content(range: $r) { top(limit: $n) { __typename } } } }"
DAY = {"from": "2025-03-01", "to": "2025-03-01"}


async def test_variables_that_do_not_coerce_are_bad_user_input_under_both_media_types(
        http: httpx.AsyncClient, base_url: str, generic_base_url: str, make_tenant: Any) -> None:
    tenant = await make_tenant()
    cases: list[tuple[str, str, dict[str, Any] | None, str]] = [
        (base_url, TOP, {"r": DAY, "n": "ten"},
         "Variable '$n' has invalid value: Int cannot represent non-integer value: 'ten'"),
        (base_url, TOP, {"r": DAY},
         "Variable '$n' has invalid value: Expected a value of non-null type 'Int!' to be provided."),
        (base_url, TOP, {"r": DAY, "n": None},
         "Variable '$n' has invalid value: Expected value of non-null type 'Int!' not to be None."),
    ]
    # track's events variable, decoded by the fast path or (turned off) by graphql-core alone.
    for url in (base_url, generic_base_url):
        cases += [
            (url, TRACK, {"events": [{"id": "e1", "type": "TourStarted", "timestamp": 5}]},
             "Variable '$events' has invalid value at [0].timestamp: String cannot represent a non string "
             "value: 5"),
            (url, TRACK, None, "Variable '$events' has invalid value: Expected a value of non-null type "
                               "'[TrackEvent!]!' to be provided."),
            (url, TRACK, {"events": "TourStarted"}, "Variable '$events' has invalid value: Expected value of "
                                                    "type 'TrackEvent' to be an object, found: 'TourStarted'."),
        ]
    for url, query, variables, message in cases:
        key = tenant.publishable if query is TRACK else tenant.secret
        for accept, status in ((GQL_RESPONSE, 400), ("application/json", 200)):
            response = await post(http, url, {"query": query, "variables": variables}, key, accept=accept)
            assert response.status_code == status, (url, variables, response.text)
            body = response.json()
            assert "data" not in body and codes(response) == ["BAD_USER_INPUT"], body
            assert body["errors"][0]["message"] == message, body


async def test_persisted_refusals_follow_the_same_rule_as_other_request_errors(
        http: httpx.AsyncClient, base_url: str, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    """A refusal of a well-formed request is a request error (200 under application/json, 4xx under
    graphql-response+json); parameters that are themselves wrong are 400 under both."""
    tenant, strict = await make_tenant(), await make_tenant()
    async with owner_engine.begin() as conn:
        await persisted.set_persisted_only(conn, strict.id, True)
    text_ = "{ tenant { id } }"
    hashed = {"persistedQuery": {"version": 1, "sha256Hash": sha(text_ + " # unseen")}}
    cases: list[tuple[str, dict[str, Any], str, int, int]] = [
        (strict.secret, {"query": text_}, "QUERY_NOT_IN_SAFELIST", 200, 400),
        (strict.secret, {"documentId": sha(text_)}, "PERSISTED_QUERY_NOT_IN_LIST", 200, 404),
        (tenant.secret, {"documentId": sha(text_)}, "PERSISTED_QUERY_NOT_FOUND", 200, 404),
        (tenant.secret, {"extensions": hashed}, "PERSISTED_QUERY_NOT_FOUND", 200, 404),
        (tenant.secret, {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": sha(text_)}}},
         "PERSISTED_QUERY_NOT_SUPPORTED", 200, 400),
        (tenant.secret, {"query": text_, "extensions": hashed}, "PERSISTED_QUERY_HASH_MISMATCH", 400, 400),
        (tenant.secret, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "x"}}}, "BAD_REQUEST",
         400, 400),
        (tenant.secret, {"variables": {}}, "BAD_REQUEST", 400, 400),
    ]
    for key, body, code, legacy_status, strict_status in cases:
        for accept, status in (("application/json", legacy_status), (GQL_RESPONSE, strict_status)):
            response = await post(http, base_url, body, key, accept=accept)
            assert (response.status_code, codes(response)) == (status, [code]), (body, accept, response.text)
            assert response.headers["content-type"].startswith(accept)
            assert response.headers["cache-control"] == "private, no-cache, must-revalidate"


async def test_malformed_requests_get_the_status_the_spec_names(http: httpx.AsyncClient, base_url: str) -> None:
    url = f"{base_url}/graphql"
    not_json = await http.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400 and codes(not_json) == ["BAD_REQUEST"]
    array = await http.post(url, content=b"[1]", headers={"Content-Type": "application/json"})
    assert array.status_code == 400
    wrong_type = await http.post(url, content=b'{"query": 1}', headers={"Content-Type": "application/json"})
    assert wrong_type.status_code == 400 and "query" in wrong_type.json()["errors"][0]["message"]
    for content_type in ("text/plain", "", "application/json; charset=latin-1"):
        refused = await http.post(url, content=b'{"query": "{ __typename }"}',
                                  headers={"Content-Type": content_type} if content_type else {})
        assert refused.status_code == 415, content_type
    not_acceptable = await http.post(url, content=b'{"query": "{ __typename }"}',
                                     headers={"Content-Type": "application/json", "Accept": "text/csv"})
    assert not_acceptable.status_code == 406
    put = await http.put(url, content=b"{}")
    assert put.status_code == 405 and "GET" in put.headers["allow"]
    no_query = await get(http, base_url, {})
    assert no_query.status_code == 400 and codes(no_query) == ["BAD_REQUEST"]


async def test_get_runs_queries_refuses_mutations_and_browsers_get_graphiql(
        http: httpx.AsyncClient, base_url: str) -> None:
    ok = await get(http, base_url, {"query": "{ __typename }"}, Accept="*/*")
    assert ok.status_code == 200 and ok.json() == {"data": {"__typename": "Query"}}
    mutation = await get(http, base_url, {"query": 'mutation { defineTour(input: {id: "x"}) { id } }'})
    assert mutation.status_code == 405 and mutation.headers["allow"] == "POST"
    browser = await http.get(f"{base_url}/graphql", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.status_code == 200 and browser.headers["content-type"].startswith("text/html")
    # */* or JSON with a query or a persisted-query extension is always an answer, never the page.
    for accept in ("*/*", "application/json"):
        answer = await get(http, base_url, {"query": "{ __typename }"}, Accept=accept)
        assert answer.headers["content-type"].startswith("application/json")
        pq = await get(http, base_url, {"extensions": json.dumps(
            {"persistedQuery": {"version": 1, "sha256Hash": sha("{ __typename }")}})}, Accept=accept)
        assert pq.headers["content-type"].startswith("application/json")


# --- Automatic persisted queries (Apollo's protocol) and ETag ----------------------------------

async def test_apq_register_then_hash_alone_over_post_and_get_with_etag(
        http: httpx.AsyncClient, base_url: str, gql: Any, make_tenant: Any, run_worker: Any) -> None:
    tenant = await make_tenant()
    query = STATS + " # apq " + str(tenant.id)
    digest = sha(query)
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}, "clientLibrary": {"name": "x"}}

    unknown = await post(http, base_url, {"extensions": extensions, "variables": RANGE}, tenant.secret)
    assert unknown.status_code == 200
    assert unknown.json()["errors"] == [{"message": "PersistedQueryNotFound",
                                        "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
    mismatch = await post(http, base_url, {"query": query + " ", "extensions": extensions}, tenant.secret)
    assert mismatch.status_code == 400 and codes(mismatch) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    bad_version = await post(http, base_url, {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": digest}}})
    assert codes(bad_version) == ["PERSISTED_QUERY_NOT_SUPPORTED"]

    registered = await post(http, base_url, {"query": query, "extensions": extensions, "variables": RANGE},
                            tenant.secret)
    assert registered.json() == {"data": {"tenant": {"tour": None}}}
    hashed = await post(http, base_url, {"extensions": extensions, "variables": RANGE}, tenant.secret)
    assert hashed.json() == registered.json()

    params = {"extensions": json.dumps(extensions), "variables": json.dumps(RANGE), "operationName": "Stats"}
    first = await get(http, base_url, params, tenant.secret)
    assert first.status_code == 200 and first.json() == registered.json()
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    again = await get(http, base_url, params, tenant.secret, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag

    # New events, rolled up: the counters change, so does the ETag.
    await gql.track(tenant.publishable, [event("TourStarted", "2025-03-10T10:00:00Z", "u1", tourId="t1")])
    await run_worker()
    changed = await get(http, base_url, params, tenant.secret, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json() == {"data": {"tenant": {"tour": {"stats": {"starts": 1, "completions": 0}}}}}


# --- Trusted documents and allowlist mode ------------------------------------------------------

def apollo_manifest(*bodies: str) -> dict[str, Any]:
    return {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
        {"id": sha(body), "name": body.split()[1].split("(")[0], "type": "query", "body": body} for body in bodies]}


REGISTER = """mutation Register($m: JSON!, $replace: Boolean) {
  registerPersistedDocuments(manifest: $m, replace: $replace) { stored documents { id operationName operationType } } }"""


async def test_trusted_documents_and_the_allowlist(http: httpx.AsyncClient, base_url: str, gql: Any,
                                                   make_tenant: Any, owner_engine: AsyncEngine) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    timezone_doc = "query Zone { tenant { timezone } }"
    manifest = apollo_manifest(STATS, timezone_doc)
    stored = await gql.data(tenant.secret, REGISTER, {"m": manifest})
    assert stored["registerPersistedDocuments"]["stored"] == 2
    assert {d["operationName"] for d in stored["registerPersistedDocuments"]["documents"]} == {"Stats", "Zone"}

    wrong_id = {**manifest, "operations": [{**manifest["operations"][0], "id": sha("other")}]}
    refused = await gql(tenant.secret, REGISTER, {"m": wrong_id})
    assert refused["errors"][0]["extensions"]["field"] == f"documents[{sha('other')!r}]"
    invalid = await gql(tenant.secret, REGISTER, {"m": {sha("{ nope }"): "{ nope }"}})
    assert "Cannot query field 'nope'" in invalid["errors"][0]["message"]
    relay_body = "query RelayZone { tenant { id } }"
    relay = await gql.data(tenant.secret, REGISTER, {"m": {hashlib.md5(relay_body.encode()).hexdigest(): relay_body}})
    assert relay["registerPersistedDocuments"]["stored"] == 1

    by_id = await post(http, base_url, {"documentId": f"sha256:{sha(timezone_doc)}"}, tenant.secret)
    assert by_id.json() == {"data": {"tenant": {"timezone": "UTC"}}}
    relay_run = await get(http, base_url, {"documentId": hashlib.md5(relay_body.encode()).hexdigest()},
                          tenant.secret)
    assert relay_run.json() == {"data": {"tenant": {"id": str(tenant.id)}}}
    # Another tenant's documents are not ours.
    elsewhere = await post(http, base_url, {"documentId": sha(timezone_doc)}, other.secret)
    assert codes(elsewhere) == ["PERSISTED_QUERY_NOT_FOUND"]

    async with owner_engine.begin() as conn:
        await persisted.set_persisted_only(conn, tenant.id, True)
    free_form = await post(http, base_url, {"query": "{ tenant { id } }"}, tenant.secret)
    assert free_form.status_code == 200 and codes(free_form) == ["QUERY_NOT_IN_SAFELIST"]
    unknown = await post(http, base_url, {"documentId": sha("{ tenant { id } }")}, tenant.secret)
    assert codes(unknown) == ["PERSISTED_QUERY_NOT_IN_LIST"]
    apq = await post(http, base_url, {"query": "{ tenant { id } }", "extensions": {
        "persistedQuery": {"version": 1, "sha256Hash": sha("{ tenant { id } }")}}}, tenant.secret)
    assert codes(apq) == ["QUERY_NOT_IN_SAFELIST"]
    registered_text = await post(http, base_url, {"query": timezone_doc}, tenant.secret)
    assert registered_text.json() == {"data": {"tenant": {"timezone": "UTC"}}}
    listed = await gql.data(tenant.secret, "query Zone { tenant { timezone } }")
    assert listed == {"tenant": {"timezone": "UTC"}}
    # The other tenant is not in allowlist mode.
    assert (await gql.data(other.secret, "{ tenant { allowlistOnly } }")) == {"tenant": {"allowlistOnly": False}}


async def test_server_wide_allowlist(http: httpx.AsyncClient, settings: Settings, make_tenant: Any) -> None:
    from api.app import create_app

    tenant = await make_tenant()
    strict = replace(settings, limits=replace(settings.limits, persisted_only=True))
    async for url in _serve(create_app(strict)):
        refused = await post(http, url, {"query": "{ tenant { id } }"}, tenant.secret)
        assert codes(refused) == ["QUERY_NOT_IN_SAFELIST"]


# --- Limits ------------------------------------------------------------------------------------

LIMITS = ApiLimits(max_depth=5, max_aliases=3, max_tokens=300, max_cost=300, introspection=False,
                   read_rate=1.0, read_burst=300, ingest_rate=1.0, ingest_burst=5)


@pytest.fixture(scope="module")
async def limited_url(settings: Settings) -> AsyncIterator[str]:
    from api.app import create_app

    async for url in _serve(create_app(replace(settings, limits=LIMITS, statement_timeout_ms=300))):
        yield url


async def test_depth_aliases_tokens_and_cost_are_refused_before_execution(
        http: httpx.AsyncClient, limited_url: str, make_tenant: Any) -> None:
    tenant = await make_tenant()

    async def refused(query: str) -> dict[str, Any]:
        response = await post(http, limited_url, {"query": query}, tenant.secret, accept=GQL_RESPONSE)
        assert response.status_code == 400, response.text
        error: dict[str, Any] = response.json()["errors"][0]
        return error

    deep = await refused('{ tenant { tours { edges { node { funnel(range: {since: "7d"}) '
                         '{ steps { index } } } } } } }')
    assert deep["extensions"] == {"code": "DEPTH_LIMIT_EXCEEDED", "limit": 5}
    # Two aliases written, four once the fragment is spread twice: over the limit of 3.
    aliased = await refused("{ tenant { ...F } again: tenant { ...F } } fragment F on Tenant { a: id b: timezone }")
    assert aliased["extensions"] == {"code": "ALIAS_LIMIT_EXCEEDED", "limit": 3}
    assert "5 aliases" in aliased["message"]
    tokens = await refused("{ " + " ".join(["__typename"] * 300) + " }")
    assert tokens["extensions"] == {"code": "TOKEN_LIMIT_EXCEEDED", "limit": 300}
    # tenant 1 + tours 1 + 100 * (edges 1 + node 1 + id 1 + title 1) = 402 > 300.
    costly = await refused("{ tenant { tours(first: 100) { edges { node { id title } } } } }")
    assert costly["extensions"] == {"code": "COST_LIMIT_EXCEEDED", "cost": 402, "limit": 300}
    via_variable = await post(http, limited_url, {
        "query": "query Q($n: Int!) { tenant { tours(first: $n) { edges { node { id title } } } } }",
        "variables": {"n": 100}}, tenant.secret, accept=GQL_RESPONSE)
    assert via_variable.json()["errors"][0]["extensions"]["cost"] == 402
    introspection = await refused("{ __schema { queryType { name } } }")
    assert introspection["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_page_size_is_at_most_500(gql: Any, make_tenant: Any) -> None:
    tenant = await make_tenant()
    body = await gql(tenant.secret, "{ tenant { tours(first: 501) { totalCount } } }")
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    assert "500" in body["errors"][0]["message"]


async def test_rate_limits_per_key_with_retry_after(http: httpx.AsyncClient, limited_url: str,
                                                    make_tenant: Any, owner_engine: AsyncEngine) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    query = "{ tenant { tours(first: 50) { edges { node { id title } } } } }"  # cost 202 of a 300 burst
    assert "errors" not in (await post(http, limited_url, {"query": query}, tenant.secret)).json()
    spent = await post(http, limited_url, {"query": query}, tenant.secret)
    assert spent.status_code == 429 and codes(spent) == ["RATE_LIMITED"]
    assert 90 <= int(spent.headers["retry-after"]) <= 110  # 104 tokens short at 1 token/s
    assert "errors" not in (await post(http, limited_url, {"query": query}, other.secret)).json()

    track = "mutation T($e: [TrackEvent!]!) { track(events: $e) { accepted } }"
    five = [event("TourStarted", "2025-03-10T10:00:00Z", f"u{i}", tourId="t1") for i in range(5)]
    accepted = await post(http, limited_url, {"query": track, "variables": {"e": five}}, tenant.publishable)
    assert accepted.json() == {"data": {"track": {"accepted": 5}}}
    more = [event("TourStarted", "2025-03-10T10:00:00Z", f"v{i}", tourId="t1") for i in range(2)]
    refused = await post(http, limited_url, {"query": track, "variables": {"e": more}}, tenant.publishable)
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 3
    async with owner_engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*) FROM events WHERE tenant_id = :t"),
                                     {"t": tenant.id})).scalar_one()
    assert stored == 5  # the refused batch wrote nothing


async def test_statement_timeout_is_a_coded_error(http: httpx.AsyncClient, limited_url: str,
                                                  make_tenant: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    async with owner_engine.begin() as conn:
        await conn.execute(text("LOCK TABLE tours IN ACCESS EXCLUSIVE MODE"))
        response = await asyncio.wait_for(post(
            http, limited_url, {"query": STATS, "variables": RANGE}, tenant.secret), timeout=20)
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TIMEOUT" and error["extensions"]["limit"] == 300
    assert "300 ms" in error["message"]


def test_internal_errors_are_masked_and_logged_with_the_request_id(caplog: pytest.LogCaptureFixture,
                                                                  settings: Settings) -> None:
    from api.view import GraphQLEndpoint

    original = RuntimeError("password=hunter2 in a stack trace")
    error = GraphQLError("password=hunter2", path=["tenant"], original_error=original)
    resources: Any = type("R", (), {"settings": settings})()
    with caplog.at_level(logging.ERROR, logger="api.graphql"):
        masked = GraphQLEndpoint().mask(error, "req-123", resources)
    assert masked.formatted == {"message": "Internal server error", "path": ["tenant"],
                                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-123"}}
    assert "req-123" in caplog.text and "hunter2" in caplog.text  # the log keeps the detail
    user_error = GraphQLError("tours: not found", extensions={"code": "BAD_USER_INPUT"})
    assert GraphQLEndpoint().mask(user_error, "req-1", resources) is user_error


__all__ = ["TenantKeys"]


# --- Abuse the limits must withstand (review findings) -----------------------------------------

async def test_fragment_chains_are_measured_in_linear_time(http: httpx.AsyncClient, base_url: str) -> None:
    """Each fragment spreads the next one twice: 2^30 aliases, found without expanding them."""
    levels = 30
    fragments = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels))
    query = f"{{ ...F0 }} {fragments} fragment F{levels} on Query {{ a: __typename }}"
    response = await asyncio.wait_for(post(http, base_url, {"query": query}, accept=GQL_RESPONSE), 20)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"].startswith(f"aliases: the document uses {2 ** levels} aliases")


async def test_mutations_hidden_in_fragments_still_pay_per_event(http: httpx.AsyncClient, limited_url: str,
                                                                  make_tenant: Any) -> None:
    tenant = await make_tenant()
    query = """mutation T($e: [TrackEvent!]!) { ...M } fragment M on Mutation { track(events: $e) { accepted } }"""
    def three() -> list[dict[str, Any]]:
        return [event("TourStarted", "2025-03-10T10:00:00Z", f"u{i}", tourId="t1") for i in range(3)]

    first = await post(http, limited_url, {"query": query, "variables": {"e": three()}}, tenant.publishable)
    assert first.json() == {"data": {"track": {"accepted": 3}}}
    # 3 of a burst of 5 are spent (not 1), so 3 more do not fit.
    second = await post(http, limited_url, {"query": query, "variables": {"e": three()}}, tenant.publishable)
    assert second.status_code == 429


async def test_cost_uses_variable_defaults_and_series_buckets(http: httpx.AsyncClient, limited_url: str,
                                                              make_tenant: Any) -> None:
    tenant = await make_tenant()
    defaulted = await post(http, limited_url, {
        "query": "query Q($n: Int = 100) { tenant { tours(first: $n) { edges { node { id title } } } } }"},
        tenant.secret, accept=GQL_RESPONSE)
    assert defaulted.json()["errors"][0]["extensions"]["cost"] == 402
    # 2025-01-01..2025-12-31 by DAY is 365 points: tenant 1 + tourSeries 1 + points 1 + 365 * starts 1 = 368.
    series = await post(http, limited_url, {"query": """{ tenant { tourSeries(range: {from: "2025-01-01",
        to: "2025-12-31"}, granularity: DAY) { points { starts } } } }"""}, tenant.secret, accept=GQL_RESPONSE)
    assert series.json()["errors"][0]["extensions"] == {"code": "COST_LIMIT_EXCEEDED", "cost": 368, "limit": 300}


SESSIONS_WITH_REASONS = """query S($since: String!) { tenant { sessions(range: {since: $since}, includeBots: true,
    first: 200) { nodes { id botReasons { tier code detail } behaviourSignals { signal points } } } } }"""


async def test_a_sessions_reasons_are_costed_by_their_bound_not_by_the_range(
        http: httpx.AsyncClient, base_url: str, limited_url: str, make_tenant: Any) -> None:
    tenant = await make_tenant()
    # tenant 1 + sessions 1 + 200 x (nodes 1 + id 1 + botReasons 1 + 9 x 3 + behaviourSignals 1 + 8 x 2)
    # = 9402, over a day or a quarter alike (25,802 over 24 h before: the lists took the 25 hourly buckets).
    for since in ("24h", "90d"):
        costly = await post(http, limited_url, {"query": SESSIONS_WITH_REASONS, "variables": {"since": since}},
                            tenant.secret, accept=GQL_RESPONSE)
        assert costly.json()["errors"][0]["extensions"] == {"code": "COST_LIMIT_EXCEEDED", "cost": 9402,
                                                            "limit": 300}
    answered = await post(http, base_url, {"query": SESSIONS_WITH_REASONS, "variables": {"since": "24h"}},
                          tenant.secret, accept=GQL_RESPONSE)
    assert answered.status_code == 200 and answered.json() == {"data": {"tenant": {"sessions": {"nodes": []}}}}


async def test_free_queries_still_spend_a_token(http: httpx.AsyncClient, limited_url: str) -> None:
    statuses = [(await post(http, limited_url, {"query": "{ __typename }"})).status_code for _ in range(320)]
    assert statuses[0] == 200 and 429 in statuses  # a burst of 300 at 1 token/s


async def test_introspection_depth_is_limited(gql: Any, make_tenant: Any) -> None:
    nested = "{ __schema { types { fields { type { fields { type { fields { type { name } } } } } } } } }"
    body = await gql(None, nested)
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection" in body["errors"][0]["message"].lower()


async def test_apq_entries_belong_to_one_tenant(http: httpx.AsyncClient, base_url: str, make_tenant: Any) -> None:
    a, b = await make_tenant(), await make_tenant()
    query = f"{{ tenant {{ id }} }} # {a.id}"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha(query)}}
    await post(http, base_url, {"query": query, "extensions": extensions}, a.secret)
    assert (await post(http, base_url, {"extensions": extensions}, a.secret)).json() == {
        "data": {"tenant": {"id": str(a.id)}}}
    for key in (b.secret, None):
        assert codes(await post(http, base_url, {"extensions": extensions}, key)) == ["PERSISTED_QUERY_NOT_FOUND"]
    # Text that does not validate is never remembered.
    junk = "not graphql"
    junk_ext = {"persistedQuery": {"version": 1, "sha256Hash": sha(junk)}}
    await post(http, base_url, {"query": junk, "extensions": junk_ext}, a.secret)
    assert codes(await post(http, base_url, {"extensions": junk_ext}, a.secret)) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_trusted_document_holds_one_operation(gql: Any, make_tenant: Any) -> None:
    tenant = await make_tenant()
    body = 'query Zone { tenant { timezone } } mutation Evil { defineTour(input: {id: "x"}) { id } }'
    refused = await gql(tenant.secret, REGISTER, {"m": {sha(body): body}})
    assert "exactly one operation" in refused["errors"][0]["message"]


async def test_odd_inputs_are_answers_not_crashes(http: httpx.AsyncClient, base_url: str) -> None:
    surrogate = await http.post(f"{base_url}/graphql", content=b'{"query": "{ __typename \\ud800 }"}',
                                headers={"Content-Type": "application/json"})
    assert surrogate.status_code == 200 and codes(surrogate) == ["GRAPHQL_PARSE_FAILED"]
    # JSON preferred over HTML: an answer, not the GraphiQL page.
    json_first = await http.get(f"{base_url}/graphql", headers={"Accept": "*/*, text/html;q=0.1"})
    assert json_first.headers["content-type"].startswith("application/json")
    with_query = await http.get(f"{base_url}/graphql", params={"query": "{ __typename }"},
                                headers={"Accept": "text/html,*/*;q=0.8"})
    assert with_query.json() == {"data": {"__typename": "Query"}}
