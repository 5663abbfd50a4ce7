"""``analytics events``: definitions, the list and one event's figures, as a user runs them."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import GraphQLClient, Servers, TenantKeys, event, report


async def run(servers: Servers, url: str, key: str, *args: str) -> Any:
    result = await report(servers, url, key, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_events_commands(servers: Servers, gql: GraphQLClient, make_tenant: Any,
                               run_worker: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    url, key = gql.url, tenant.secret
    defined = await run(servers, url, key, "events", "define", "deploy", "--description", "A deploy",
                        "--property", "env:string:required", "--property", "minutes:number", "--strict",
                        "--dimension", "env")
    assert defined["definition"] == {
        "name": "deploy", "description": "A deploy", "strict": True,
        "properties": [{"name": "env", "type": "STRING", "required": True},
                       {"name": "minutes", "type": "NUMBER", "required": False}],
        "dimensions": [{"property": "env", "backfill": {"status": "pending", "processed": 0, "total": 0}}]}
    await run_worker()  # the dimension's backfill: nothing yet to count
    batch = [event("Custom", "2025-05-01T10:00:00Z", "u1", name="deploy", properties={"env": "prod"}),
             event("Custom", "2025-05-01T11:00:00Z", "u2", name="deploy", properties={"env": "prod"}),
             event("Custom", "2025-05-02T10:00:00Z", "u1", name="deploy", properties={"env": "dev"}),
             event("Custom", "2025-05-02T10:00:00Z", "u1", name="deploy", properties={"minutes": 3}),
             event("Custom", "2025-05-02T10:00:00Z", "u1", name="signup")]
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 4
    await run_worker()
    listed = await run(servers, url, key, "events", "--since", "2025-05-01", "--until", "2025-05-02")
    assert listed["events"] == [
        {"name": "deploy", "count": 3, "users": 2, "previous": 0, "change %": None},
        {"name": "signup", "count": 1, "users": 1, "previous": 0, "change %": None}]
    shown = await run(servers, url, key, "events", "show", "deploy", "--since", "2025-05-01", "--until",
                      "2025-05-02", "--dimension", "env", "--group-by", "day")
    assert (shown["stats"]["count"], shown["stats"]["users"], shown["groupBy"]) == (3, 2, "day")
    assert [(p["count"], p["users"]) for p in shown["points"]] == [(2, 2), (1, 1)]
    assert shown["breakdown"] == {"dimension": "env", "total": 3, "rest": 0, "capped": False, "values": [
        {"value": "prod", "count": 2, "share": 66.67}, {"value": "dev", "count": 1, "share": 33.33}]}
    definitions = await run(servers, url, key, "events", "definitions")
    assert definitions["eventAllowlist"] is False
    assert definitions["definitions"][0]["dimensions"] == [
        {"property": "env", "backfill": {"status": "done", "processed": 0, "total": 0}}]
    allow = await report(servers, url, key, "events", "allowlist", "on")
    assert allow.returncode == 0, allow.stderr
    assert (await gql.track(tenant.publishable, [batch[-1]]))["rejected"] == 1
    missing = await report(servers, url, key, "events", "show", "nothing", "--since", "7d")
    assert (missing.returncode, missing.stderr.strip()) == (
        1, "error: no Custom event named 'nothing' is defined or counted for this tenant")
    removed = await report(servers, url, key, "events", "remove", "deploy")
    assert removed.returncode == 0, removed.stderr
    bad = await report(servers, url, key, "events", "define", "x", "--property", "a:date")
    assert bad.returncode == 2
    # The same switch as a server command.
    from tests.conftest import cli

    updated = cli(servers, "tenants", "update", tenant.name, "--no-event-allowlist")
    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.strip() == f"{tenant.name}: every valid Custom event name accepted"
