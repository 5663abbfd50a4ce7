"""Malformed input a fault run found answered as internal errors: text PostgreSQL cannot store and JSON
nested past the interpreter's limits get a 400-class answer naming the field, before anything runs."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import TRACK, GraphQLClient, TenantKeys, event

GRAPHQL_RESPONSE = "application/graphql-response+json"


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


async def post(gql: GraphQLClient, key: str | None, body: str, accept: str = GRAPHQL_RESPONSE) -> Any:
    headers = {"Content-Type": "application/json", "Accept": accept}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return await gql.http.post(f"{gql.url}/graphql", content=body, headers=headers)


async def test_unstorable_text_in_arguments_is_bad_user_input(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    cases = [  # (query, variables, the field named); \\u0000 is the escape inside a GraphQL string
        ('{ tenant { tour(id: "a\\u0000b") { title } } }', None, "id"),
        ("query($id: String!) { tenant { capsule(id: $id) { id } } }", {"id": "a\ud800b"}, "$id"),
        ('mutation { defineTour(input: {id: "x\\u0000", title: "t", steps: []}) { id } }', None, "input.id"),
        ('mutation { addBotRule(pattern: "ab\\u0000cd") { id } }', None, "pattern"),
        ('query($f: SessionFilter) { tenant { sessions(range: {since: "24h"}, filter: $f) { totalCount } } }',
         {"f": {"browser": "Fire\x00fox"}}, "$f.browser"),
        ('fragment T on Tenant { tour(id: "\\u0000") { id } } { tenant { ...T } }', None, "id"),
    ]
    for query, variables, field in cases * 2:  # the second time from the document cache
        response = await post(gql, tenant.secret, json.dumps({"query": query, "variables": variables}))
        assert response.status_code == 400, (query, response.text)
        [error] = response.json()["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, (query, error)
        assert error["message"].startswith(f"{field}: "), error
        assert "PostgreSQL cannot store it" in error["message"]
    # The same document with clean variables is not refused for the variables of an earlier request.
    clean = await post(gql, tenant.secret, json.dumps({"query": cases[1][0], "variables": {"id": "ab"}}))
    assert clean.status_code == 200 and clean.json() == {"data": {"tenant": {"capsule": None}}}, clean.text
    plain = await post(gql, tenant.secret, json.dumps({"query": '{ tenant { tour(id: "\\u0000") { id } } }'}),
                       accept="application/json")
    assert plain.status_code == 200 and plain.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    refused = await post(gql, tenant.secret, json.dumps({"documentId": "a\u0000b"}))
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"] == "documentId: must not contain NUL (\\u0000) characters"
    # nothing was defined or stored on the way
    assert (await gql.data(tenant.secret, "{ tenant { botRules { id } tours { totalCount } } }"))["tenant"] == {
        "botRules": [], "tours": {"totalCount": 0}}


async def test_json_nested_too_deeply_is_refused_before_authentication(gql: GraphQLClient,
                                                                       make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    for key in (None, tenant.secret, tenant.publishable):
        deep = await post(gql, key, '{"query": "{ __typename }", "variables": {"v": ' + nested(5000) + "}}")
        assert deep.status_code == 400, deep.text
        assert deep.json()["errors"][0]["message"] == "body: JSON is nested too deeply (at most about 900 levels)"
        body = await post(gql, key, '{"query": "{ __typename }", "extensions": ' + nested(5000) + "}")
        assert body.status_code == 400 and body.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    got = await gql.http.get(f"{gql.url}/graphql", params={"query": "{ __typename }", "variables": nested(5000)},
                             headers={"Accept": GRAPHQL_RESPONSE})
    assert got.status_code == 400 and "variables: JSON is nested too deeply" in got.text
    # a depth the decoder takes is an ordinary request
    fine = await post(gql, tenant.secret, '{"query": "{ __typename }", "variables": {"v": ' + nested(500) + "}}")
    assert fine.status_code == 200 and fine.json() == {"data": {"__typename": "Query"}}


async def test_deep_event_properties_reject_their_event_or_the_batch(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    good = event("TourStarted", "2026-12-01T10:00:00Z", "u1", tourId="t")
    deep = event("TourStarted", "2026-12-01T10:00:01Z", "u2", tourId="t")
    events = json.dumps([good, deep])
    inner = '{"a": ' * 300 + "1" + "}" * 300
    body = '{"query": ' + json.dumps(TRACK) + ', "variables": {"events": ' + events[:-2] + ', "properties": ' + inner + "}]}}"
    answer = (await post(gql, tenant.publishable, body, accept="application/json")).json()
    track = answer["data"]["track"]
    assert (track["accepted"], track["rejected"]) == (1, 1)
    assert [(r["index"], r["field"]) for r in track["rejections"]] == [(1, "properties")]
    very = '{"a": ' * 3000 + "1" + "}" * 3000
    body = '{"query": ' + json.dumps(TRACK) + ', "variables": {"events": ' + events[:-2] + ', "properties": ' + very + "}]}}"
    whole = await post(gql, tenant.publishable, body)
    assert whole.status_code == 400 and "JSON is nested too deeply" in whole.text
