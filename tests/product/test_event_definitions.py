"""Event definitions: the mutations, strict mode and the allowlist at ingest, key scopes."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient, TenantKeys, event

DEFINE = """mutation($input: EventDefinitionInput!) { defineEvent(input: $input) {
    name description strict properties { name type required } dimensions { property backfill { status } } } }"""
ORDER = {"name": "order", "description": "An order was placed", "strict": True,
         "properties": [{"name": "amount", "type": "NUMBER", "required": True},
                        {"name": "plan", "type": "STRING"}, {"name": "trial", "type": "BOOLEAN"}],
         "dimensions": ["plan"]}


async def define(gql: GraphQLClient, key: str, definition: dict[str, Any]) -> Any:
    return (await gql.data(key, DEFINE, {"input": definition}))["defineEvent"]


async def test_strict_mode_rejects_missing_and_wrong_typed_properties_by_index(
        gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    defined = await define(gql, tenant.secret, ORDER)
    assert defined == {"name": "order", "description": "An order was placed", "strict": True,
                       "properties": [{"name": "amount", "type": "NUMBER", "required": True},
                                      {"name": "plan", "type": "STRING", "required": False},
                                      {"name": "trial", "type": "BOOLEAN", "required": False}],
                       "dimensions": [{"property": "plan", "backfill": {"status": "pending"}}]}
    at = "2025-05-01T10:00:00Z"
    batch = [
        event("Custom", at, name="order", properties={"amount": 12.5, "plan": "pro", "extra": [1]}),  # 0 ok
        event("Custom", at, name="order", properties={"plan": "pro"}),                          # 1 missing
        event("Custom", at, name="order", properties={"amount": "12", "trial": 1}),             # 2 types
        event("Custom", at, name="order", properties={"amount": True}),                         # 3 bool
        event("Custom", at, name="order"),                                                      # 4 none
        event("Custom", at, name="order", properties={"amount": None}),                         # 5 null
        event("Custom", at, name="other", properties={"amount": "x"}),                          # 6 ok
    ]
    result = await gql.track(tenant.publishable, batch)
    assert [r["status"] for r in result["results"]] == [
        "ACCEPTED", "REJECTED", "REJECTED", "REJECTED", "REJECTED", "REJECTED", "ACCEPTED"]
    assert [(r["index"], r["field"], r["reason"]) for r in result["rejections"]] == [
        (1, "properties.amount", "is required by the definition of 'order' (strict)"),
        (2, "properties.amount", "must be a number by the definition of 'order' (strict)"),
        (2, "properties.trial", "must be true or false by the definition of 'order' (strict)"),
        (3, "properties.amount", "must be a number by the definition of 'order' (strict)"),
        (4, "properties.amount", "is required by the definition of 'order' (strict)"),
        (5, "properties.amount", "is required by the definition of 'order' (strict)"),
    ]
    # Strict off: the same events are accepted.
    await define(gql, tenant.secret, {**ORDER, "strict": False})
    result = await gql.track(tenant.publishable, [event("Custom", at, name="order", properties={"plan": 3})])
    assert result["accepted"] == 1


async def test_the_allowlist_rejects_undefined_names(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    await define(gql, tenant.secret, {"name": "signup"})
    assert (await gql.data(tenant.secret, "{ tenant { eventAllowlist } }"))["tenant"]["eventAllowlist"] is False
    at = "2025-05-01T10:00:00Z"
    batch = [event("Custom", at, name="signup"), event("Custom", at, name="Signup"),
             event("TourStarted", at, tourId="t1")]
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 3
    assert (await gql.data(tenant.secret, "mutation { setEventAllowlist(enabled: true) }")
            == {"setEventAllowlist": True})
    assert (await gql.data(tenant.secret, "{ tenant { eventAllowlist } }"))["tenant"]["eventAllowlist"] is True
    result = await gql.track(tenant.publishable, [event("Custom", at, name="signup"),
                                                 event("Custom", at, name="Signup"),
                                                 event("TourStarted", at, tourId="t1")])
    assert [r["status"] for r in result["results"]] == ["ACCEPTED", "REJECTED", "ACCEPTED"]
    assert [(r["index"], r["field"], r["reason"]) for r in result["rejections"]] == [
        (1, "name", "'Signup' is not a defined event; this tenant accepts only the Custom events it "
                    "defined (defineEvent), or turn its event allowlist off")]
    # Removing the definition makes the name unknown; another tenant is not affected.
    assert await gql.data(tenant.secret, 'mutation { removeEvent(name: "signup") }') == {"removeEvent": True}
    assert await gql.data(tenant.secret, 'mutation { removeEvent(name: "signup") }') == {"removeEvent": False}
    assert (await gql.track(tenant.publishable, [event("Custom", at, name="signup")]))["rejected"] == 1
    other: TenantKeys = await make_tenant()
    assert (await gql.track(other.publishable, [event("Custom", at, name="Signup")]))["accepted"] == 1


async def test_definitions_are_checked(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    cases = [
        ({"name": "TourStarted"}, "input.name", "'TourStarted' is a catalogue type, not a Custom event name"),
        ({"name": "bad!"}, "input.name", "may hold only letters, digits, spaces and _ . : - /"),
        ({"name": "x", "dimensions": [f"d{i}" for i in range(11)]}, "input.dimensions",
         "11 dimensions; the limit is 10 per event name"),
        ({"name": "x", "dimensions": ["a", "a"]}, "input.dimensions", "names a property twice"),
        ({"name": "x", "properties": [{"name": "a", "type": "STRING"}, {"name": "a", "type": "NUMBER"}]},
         "input.properties.1.name", "'a' is declared twice"),
    ]
    for definition, field, message in cases:
        body = await gql(tenant.secret, DEFINE, {"input": definition})
        assert body["errors"][0]["message"] == f"{field}: {message}", definition
    assert (await gql.data(tenant.secret, "{ tenant { eventDefinitions { name } } }")
            == {"tenant": {"eventDefinitions": []}})


async def test_definitions_need_a_secret_key_and_stay_in_their_tenant(gql: GraphQLClient,
                                                                      make_tenant: Any) -> None:
    a: TenantKeys = await make_tenant()
    b: TenantKeys = await make_tenant()
    await define(gql, b.secret, {"name": "b-only", "dimensions": ["plan"]})
    for operation in (DEFINE, 'mutation { removeEvent(name: "b-only") }',
                      "mutation { setEventAllowlist(enabled: true) }",
                      "{ tenant { eventDefinitions { name } } }", "{ tenant { eventAllowlist } }",
                      '{ tenant { events(range: {since: "7d"}) { name } } }',
                      '{ tenant { event(name: "b-only") { name } } }'):
        body = await gql(b.publishable, operation, {"input": {"name": "x"}} if operation == DEFINE else None)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", operation
    # Tenant A sees nothing of B's, and its removal does not touch B's definition.
    assert (await gql.data(a.secret, "{ tenant { eventDefinitions { name } event(name: \"b-only\") { name } } }")
            == {"tenant": {"eventDefinitions": [], "event": None}})
    assert await gql.data(a.secret, 'mutation { removeEvent(name: "b-only") }') == {"removeEvent": False}
    await gql.data(a.secret, "mutation { setEventAllowlist(enabled: true) }")
    assert (await gql.data(b.secret, "{ tenant { eventAllowlist eventDefinitions { name } } }")
            == {"tenant": {"eventAllowlist": False, "eventDefinitions": [{"name": "b-only"}]}})


async def test_definitions_page_by_name(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    for name in ("c", "a", "b", "B"):
        await define(gql, tenant.secret, {"name": name})
    page = '{ tenant { eventDefinitions(first: 2, after: $after) { name } } }'
    query = "query($after: String) " + page
    assert await gql.data(tenant.secret, query, {"after": None}) == {"tenant": {"eventDefinitions": [
        {"name": "B"}, {"name": "a"}]}}
    assert await gql.data(tenant.secret, query, {"after": "a"}) == {"tenant": {"eventDefinitions": [
        {"name": "b"}, {"name": "c"}]}}
    body = await gql(tenant.secret, "{ tenant { eventDefinitions(first: 501) { name } } }")
    assert body["errors"][0]["message"] == "first: must be between 1 and 500"


def test_the_demo_definitions_accept_every_demo_event() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from analytics.custom_events.demo import DEMO_DEFINITIONS
    from analytics.custom_events.rules import EventRules, NameRules
    from analytics.demo_product import demo_product_events
    from analytics.ingest.events import validate_batch

    when = datetime(2025, 6, 4, 17, tzinfo=UTC)
    events = list(demo_product_events(days=10, tz=ZoneInfo("Europe/Berlin"), now=when))
    rules = EventRules(False, {name: NameRules(strict, properties)
                               for name, _, properties, strict, _ in DEMO_DEFINITIONS})
    assert sum(1 for e in events if e.name in rules.names) > 100
    checked = validate_batch(events, retention_days=3650, max_future_seconds=86400, now=when, rules=rules)
    assert checked.errors == [] and len(checked.valid) == len(events)
    # The same rules do reject a wrong one.
    wrong = validate_batch([events[0].__class__(**{**{f: getattr(events[0], f) for f in events[0].__struct_fields__},
                                                    "properties": {"plan": 3}})],
                           retention_days=3650, max_future_seconds=86400, now=when, rules=rules)
    assert [(e.field, e.reason) for e in wrong.errors] == [
        ("properties.plan", "must be a string by the definition of 'sign_up' (strict)")]
