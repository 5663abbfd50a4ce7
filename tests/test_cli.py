"""The ``analytics`` command as a user runs it, against the suite's database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

from tests.conftest import STATS_QUERY, GraphQLClient, Servers


def cli(servers: Servers, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": servers.redis_url}
    return subprocess.run([sys.executable, "-m", "analytics.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


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
    assert bad_zone.returncode == 1
    assert "unknown time zone 'Mars/Base'" in bad_zone.stderr
    bad_kind = cli(servers, "keys", "create", "--tenant", "nobody", "--kind", "root")
    assert bad_kind.returncode == 1 and "--kind must be publishable or secret" in bad_kind.stderr
    no_tenant = cli(servers, "keys", "list", "--tenant", "nobody-" + uuid.uuid4().hex[:6])
    assert no_tenant.returncode == 1 and "no tenant named" in no_tenant.stderr


def test_every_command_has_help(servers: Servers) -> None:
    for command in ([], ["dev"], ["serve"], ["worker"], ["migrate"], ["tenants", "create"],
                    ["keys", "create"], ["keys", "list"], ["keys", "revoke"], ["rollups", "verify"],
                    ["schema"]):
        result = cli(servers, *command, "--help")
        assert result.returncode == 0, command
        assert "Usage:" in result.stdout


async def test_rollups_verify(servers: Servers, gql: GraphQLClient, run_worker: Any) -> None:
    name = f"verify-{uuid.uuid4().hex[:6]}"
    keys = json.loads(cli(servers, "tenants", "create", name, "--json").stdout)
    from tests.conftest import event

    await gql.track(keys["publishableKey"], [event("TourStarted", "2025-05-01T10:00:00Z", "u1", tourId="t")])
    await run_worker()
    result = cli(servers, "rollups", "verify", "--tenant", name, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
