"""The server-side ``analytics`` commands as a user runs them, against the suite's database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import STATS_QUERY, GraphQLClient, Servers, cli


async def test_tenants_and_keys_lifecycle(servers: Servers, gql: GraphQLClient) -> None:
    name = f"acme-{uuid.uuid4().hex[:6]}"
    created = cli(servers, "tenants", "create", name, "--timezone", "Europe/Berlin", "--json")
    assert created.returncode == 0, created.stderr
    keys = json.loads(created.stdout)
    assert keys["tenant"] == name and keys["timezone"] == "Europe/Berlin"
    assert keys["publishableKey"].startswith("pk_") and keys["secretKey"].startswith("sk_")
    tenant = (await gql.data(keys["secretKey"], "{ tenant { timezone } }"))["tenant"]
    assert tenant == {"timezone": "Europe/Berlin"}

    again = cli(servers, "tenants", "create", name)
    assert again.returncode == 1 and "already exists" in again.stderr

    extra = json.loads(cli(servers, "keys", "create", "--tenant", name, "--kind", "secret",
                           "--name", "ci", "--json").stdout)
    listed = json.loads(cli(servers, "keys", "list", "--tenant", name, "--json").stdout)
    assert [(k["kind"], k["name"], k["revokedAt"]) for k in listed] == [
        ("publishable", None, None), ("secret", None, None), ("secret", "ci", None)]
    assert all(k["prefix"] == k2[:10] for k, k2 in zip(listed, [keys["publishableKey"],
                                                                 keys["secretKey"], extra["key"]], strict=True))
    assert "key" not in listed[0]  # the raw key is never shown again

    assert (await gql.data(extra["key"], STATS_QUERY))["tenant"]["tours"]["totalCount"] == 0
    revoked = cli(servers, "keys", "revoke", str(extra["id"]), "--json")
    assert json.loads(revoked.stdout)["revokedAt"] is not None
    after = await gql(extra["key"], STATS_QUERY)
    assert after["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_bad_input_is_named(servers: Servers) -> None:
    bad_zone = cli(servers, "tenants", "create", "x-" + uuid.uuid4().hex[:6], "--timezone", "Mars/Base")
    assert bad_zone.returncode == 2
    assert "--timezone: unknown time zone 'Mars/Base'" in bad_zone.stderr
    # Names the system's zone files have but PostgreSQL does not (its day sums would fail every write).
    for name in ("posix/Europe/Berlin", "right/UTC", "localtime"):
        refused = cli(servers, "tenants", "create", "x-" + uuid.uuid4().hex[:6], "--timezone", name)
        assert refused.returncode == 2 and f"--timezone: unknown time zone '{name}'" in refused.stderr, name
    for days in ("6", "761"):
        short = cli(servers, "tenants", "create", "x-" + uuid.uuid4().hex[:6], "--retention-days", days)
        assert short.returncode == 2
        assert f"--retention-days: must be from 7 to 760 days (the rollup retention), not {days}" in " ".join(
            short.stderr.split())
    bad_kind = cli(servers, "keys", "create", "--tenant", "nobody", "--kind", "root")
    assert bad_kind.returncode == 2 and "--kind must be publishable or secret" in bad_kind.stderr
    no_tenant = cli(servers, "keys", "list", "--tenant", "nobody-" + uuid.uuid4().hex[:6])
    assert no_tenant.returncode == 1 and "no tenant named" in no_tenant.stderr


def test_every_command_has_help(servers: Servers) -> None:
    for command in ([], ["dev"], ["serve"], ["worker"], ["migrate"], ["tenants", "create"],
                    ["keys", "create"], ["keys", "list"], ["keys", "revoke"], ["rollups", "verify"],
                    ["schema"], ["persisted"], ["persisted", "push"], ["persisted", "list"],
                    ["persisted", "allowlist"]):
        result = cli(servers, *command, "--help")
        assert result.returncode == 0, command
        assert "Usage:" in result.stdout


async def test_rollups_verify(servers: Servers, gql: GraphQLClient, run_worker: Any,
                              owner_engine: AsyncEngine) -> None:
    name = f"verify-{uuid.uuid4().hex[:6]}"
    keys = json.loads(cli(servers, "tenants", "create", name, "--json").stdout)
    from tests.conftest import event

    recent = (datetime.now(UTC) - timedelta(hours=2)).isoformat()  # within the default 90-day retention
    sent = await gql.track(keys["publishableKey"], [event("TourStarted", recent, "u1", tourId="t")])
    assert sent["accepted"] == 1
    await run_worker()
    before = datetime.now(UTC)
    result = await asyncio.to_thread(cli, servers, "rollups", "verify", "--tenant", name, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
    async with owner_engine.connect() as conn:  # it refreshed the planner's statistics first
        analyzed = (await conn.execute(text(
            "SELECT relname, last_analyze FROM pg_stat_user_tables WHERE relname IN ('sessions', 'counters_daily')"
        ))).all()
    assert sorted(r.relname for r in analyzed if r.last_analyze and r.last_analyze >= before) == [
        "counters_daily", "sessions"]


async def test_persisted_push_list_and_allowlist(servers: Servers, gql: GraphQLClient, tmp_path: Path) -> None:
    name = f"bi-{uuid.uuid4().hex[:6]}"
    keys = json.loads(cli(servers, "tenants", "create", name, "--json").stdout)
    body = "query Zone { tenant { timezone } }"
    digest = hashlib.sha256(body.encode()).hexdigest()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
        {"id": digest, "name": "Zone", "type": "query", "body": body}]}))
    pushed = cli(servers, "persisted", "push", str(manifest), "--tenant", name, "--json")
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout) == {"stored": 1, "documents": [{"id": digest, "name": "Zone", "type": "query"}]}
    listed = json.loads(cli(servers, "persisted", "list", "--tenant", name, "--json").stdout)
    assert listed == {"tenant": name, "allowlist": False, "serverAllowlist": False,
                      "documents": [{"id": digest, "name": "Zone", "type": "query"}]}
    assert f"allowlist mode for {name}: off" in cli(servers, "persisted", "list", "--tenant", name).stdout

    on = cli(servers, "persisted", "allowlist", "on", "--tenant", name)
    assert on.returncode == 0, on.stderr
    assert json.loads(cli(servers, "persisted", "list", "--tenant", name, "--json").stdout)["allowlist"] is True
    assert f"allowlist mode for {name}: on" in cli(servers, "persisted", "list", "--tenant", name).stdout
    refused = await gql.post(keys["secretKey"], "{ tenant { id } }")
    assert refused.status_code == 200  # a request error under application/json (GraphQL over HTTP)
    assert refused.json()["errors"][0]["extensions"]["code"] == "QUERY_NOT_IN_SAFELIST"
    allowed = await gql.http.post(f"{gql.url}/graphql", json={"documentId": digest},
                                  headers={"Authorization": f"Bearer {keys['secretKey']}"})
    assert allowed.json() == {"data": {"tenant": {"timezone": "UTC"}}}
    cli(servers, "persisted", "allowlist", "off", "--tenant", name)
    assert "errors" not in await gql(keys["secretKey"], "{ tenant { id } }")

    manifest.write_text(json.dumps({digest: "query Zone { tenant { nope } }"}))
    bad = cli(servers, "persisted", "push", str(manifest), "--tenant", name)
    assert bad.returncode == 1
    assert f"documents['{digest}']: the id is not the sha256 of the body" in " ".join(bad.stderr.split())
    manifest.write_text(json.dumps({hashlib.sha256(b"{ nope }").hexdigest(): "{ nope }"}))
    invalid = cli(servers, "persisted", "push", str(manifest), "--tenant", name)
    assert invalid.returncode == 1 and "Cannot query field 'nope'" in " ".join(invalid.stderr.split())


async def test_allowed_origins_are_set_from_the_command_line(servers: Servers, gql: GraphQLClient,
                                                             make_tenant: Any) -> None:
    tenant = await make_tenant()
    query = "{ tenant { allowedOrigins } }"
    done = await asyncio.to_thread(cli, servers, "tenants", "update", tenant.name, "--allowed-origins",
                                   "https://Shop.Example.com:443, http://localhost:3000")
    assert done.returncode == 0, done.stderr
    assert (f"{tenant.name}: origins allowed to read with a secret key: https://shop.example.com, "
            "http://localhost:3000") in " ".join(done.stdout.split())
    assert (await gql.data(tenant.secret, query))["tenant"]["allowedOrigins"] == [
        "https://shop.example.com", "http://localhost:3000"]
    bad = await asyncio.to_thread(cli, servers, "tenants", "update", tenant.name, "--allowed-origins",
                                  "shop.example.com")
    assert bad.returncode == 2 and "--allowed-origins[0]: 'shop.example.com'" in " ".join(bad.stderr.split())
    many = ",".join(f"https://s{i}.example.com" for i in range(51))
    too_many = await asyncio.to_thread(cli, servers, "tenants", "update", tenant.name, "--allowed-origins", many)
    assert too_many.returncode == 2
    assert "--allowed-origins: 51 origins given; the limit is 50" in " ".join(too_many.stderr.split())
    assert len((await gql.data(tenant.secret, query))["tenant"]["allowedOrigins"]) == 2  # unchanged
    cleared = await asyncio.to_thread(cli, servers, "tenants", "update", tenant.name, "--allowed-origins", "none")
    assert cleared.returncode == 0 and (await gql.data(tenant.secret, query))["tenant"]["allowedOrigins"] == []
