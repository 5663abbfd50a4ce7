"""The reporting commands as clients of any server: profiles, the local dev server, persisted documents,
and one-line errors with documented exit codes; the server commands' missing-schema message."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import tomllib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.embedded import free_port
from analytics.persisted import sha256_hex
from analytics.settings import Settings
from api.schema import schema
from cli.documents import documents, manifest
from tests.conftest import GraphQLClient, Servers, TenantKeys, _serve, cli, report


@pytest.fixture
async def second_server(settings: Settings) -> AsyncIterator[str]:
    """Another API process on another port (same database), as a second deployment would be."""
    from api.app import create_app

    async for url in _serve(create_app(settings)):
        yield url


async def command(servers: Servers, *args: str, **env: str) -> Any:
    """Run a command in a thread (the suite's API answers on this loop)."""
    return await asyncio.to_thread(cli, servers, *args, env=env)


def saved_profiles(config: str) -> set[str]:
    with open(config, "rb") as handle:
        return set(tomllib.load(handle)["profiles"])


def one_line(result: Any) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return " ".join(lines[0].split())


def test_the_cli_documents_validate_and_are_named_by_their_hash() -> None:
    found = documents()
    assert {"CliTenant", "CliOverview", "CliSessionStats", "CliTrafficBots", "CliContentTop"} <= set(found)
    for document in found.values():
        assert [e.message for e in validate(schema._schema, parse(document.body))] == [], document.name
        assert document.id == sha256_hex(document.body)
    assert [op["id"] for op in manifest()["operations"]] == [d.id for d in sorted(found.values(),
                                                                                   key=lambda d: d.name)]


async def test_profiles_switch_between_servers_and_tenants(
        servers: Servers, gql: GraphQLClient, second_server: str, make_tenant: Any, tmp_path: Path) -> None:
    first, second = await make_tenant(), await make_tenant("Europe/Berlin")
    config = str(tmp_path / "config.toml")
    saved = await command(servers, "login", "--url", gql.url, "--key", first.secret, ANALYTICS_CONFIG=config)
    assert saved.returncode == 0, saved.stderr
    # Rich folds a long path at the terminal width (xdist's temporary paths are long): compare unspaced.
    assert f"profile default saved in {config}: tenant {first.name} (UTC)".replace(" ", "") in "".join(
        saved.stdout.split())
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    other = await command(servers, "login", "--profile", "eu", "--url", f"{second_server}/graphql/",
                          "--key", second.secret, "--no-default", ANALYTICS_CONFIG=config)
    assert other.returncode == 0, other.stderr

    async def tenant_of(*args: str, **env: str) -> str:
        result = await command(servers, "sessions", "live", "--json", *args, ANALYTICS_CONFIG=config, **env)
        assert result.returncode == 0, result.stderr
        return str(json.loads(result.stdout)["tenant"])

    assert await tenant_of() == first.name
    assert await tenant_of("--profile", "eu") == second.name
    assert await tenant_of(ANALYTICS_PROFILE="eu") == second.name
    # an option beats the profile: the first server with the second tenant's key
    assert await tenant_of("--url", gql.url, "--key", second.secret) == second.name

    bad_login = await command(servers, "login", "--profile", "x", "--url", gql.url, "--key", "sk_nope",
                              ANALYTICS_CONFIG=config)
    assert bad_login.returncode == 4 and "refused the key" in one_line(bad_login)
    assert saved_profiles(config) == {"default", "eu"}  # the refused key was not saved
    forgotten = await command(servers, "logout", "--profile", "eu", ANALYTICS_CONFIG=config)
    assert forgotten.returncode == 0, forgotten.stderr
    gone = await command(servers, "sessions", "live", "--profile", "eu", ANALYTICS_CONFIG=config)
    assert gone.returncode == 2
    assert f"--profile: no profile named 'eu' in {config} (profiles: default)" in one_line(gone)


async def test_errors_are_one_line_with_an_exit_code(servers: Servers, gql: GraphQLClient, make_tenant: Any,
                                                     tmp_path: Path) -> None:
    tenant: TenantKeys = await make_tenant()
    closed = f"http://127.0.0.1:{free_port()}"
    cases = [((closed, tenant.secret), 3, f"cannot reach {closed}/graphql"),
             ((gql.url, "sk_" + "x" * 32), 4, "the server refused the key from --url/--key"),
             ((gql.url, tenant.publishable), 4, "publishable keys can only send events"),
             ((f"{gql.url}/healthz", tenant.secret), 3, "is not an analytics GraphQL API (HTTP 404"),
             (("ftp://example.invalid", tenant.secret), 2, "--url: 'ftp://example.invalid' is not an http://")]
    for (url, key), code, message in cases:
        result = await report(servers, url, key, "overview")
        assert result.returncode == code, (url, result.stderr)
        assert message in one_line(result), (url, result.stderr)
    nothing = await command(servers, "overview", "--data-dir", str(tmp_path / "empty"))
    assert nothing.returncode == 2
    assert "no server to report on: pass --url and --key" in one_line(nothing)
    unwritable = await report(servers, gql.url, tenant.secret, "traffic", "geo", "--export",
                              str(tmp_path / "no-such-folder" / "geo.csv"))
    assert unwritable.returncode == 2
    assert f"--export: cannot write {tmp_path}/no-such-folder/geo.csv: No such file" in one_line(unwritable)


async def test_a_saved_key_goes_only_to_its_own_server(servers: Servers, gql: GraphQLClient, make_tenant: Any,
                                                       tmp_path: Path) -> None:
    tenant: TenantKeys = await make_tenant()
    config = str(tmp_path / "config.toml")
    saved = await command(servers, "login", "--profile", "bücher 📚", "--url", gql.url, "--key", tenant.secret,
                          ANALYTICS_CONFIG=config)
    assert saved.returncode == 0, saved.stderr
    assert saved_profiles(config) == {"bücher 📚"}  # written as TOML can read it back
    elsewhere = await command(servers, "overview", "--url", f"http://127.0.0.1:{free_port()}",
                              ANALYTICS_CONFIG=config)
    assert elsewhere.returncode == 2  # nothing was sent: the saved key is not offered to another server
    assert "--url given without --key (or ANALYTICS_KEY), and no saved profile" in one_line(elsewhere)
    same = await command(servers, "sessions", "live", "--json", "--url", f"{gql.url}/graphql", ANALYTICS_CONFIG=config)
    assert same.returncode == 0 and json.loads(same.stdout)["tenant"] == tenant.name
    wrong = await command(servers, "sessions", "live", "--key", "sk_" + "y" * 32, ANALYTICS_CONFIG=config)
    assert wrong.returncode == 4
    assert f"refused the key from --key and the URL of profile 'bücher 📚' in {config}" in one_line(wrong)


async def test_damaged_local_files_are_one_line(servers: Servers, tmp_path: Path) -> None:
    for name, content in (("dev.json", "{bad"), ("demo-keys.json", "[1]")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / name).write_text(content)
        result = await command(servers, "overview", "--data-dir", str(folder))
        assert result.returncode == 2
        assert f"cannot read {folder / name}" in one_line(result) and "run `analytics dev` again" in one_line(result)
    config = tmp_path / "config.toml"
    config.write_text('profiles = "x"\n')
    broken = await command(servers, "overview", ANALYTICS_CONFIG=str(config))
    assert broken.returncode == 2 and f"cannot read the profiles in {config}" in one_line(broken)


async def test_the_local_dev_server_is_found_in_its_data_directory(
        servers: Servers, gql: GraphQLClient, make_tenant: Any, tmp_path: Path) -> None:
    tenant: TenantKeys = await make_tenant()
    (tmp_path / "dev.json").write_text(json.dumps({"url": f"{gql.url}/graphql"}))
    (tmp_path / "demo-keys.json").write_text(json.dumps({"tenant": "demo", "secretKey": tenant.secret}))
    by_option = await command(servers, "sessions", "live", "--json", "--data-dir", str(tmp_path))
    assert by_option.returncode == 0, by_option.stderr
    assert json.loads(by_option.stdout) == {"tenant": tenant.name, "sessions": []}
    by_env = await command(servers, "sessions", "live", "--json", ANALYTICS_DATA_DIR=str(tmp_path))
    assert json.loads(by_env.stdout)["tenant"] == tenant.name
    (tmp_path / "dev.json").write_text(json.dumps({"url": f"http://127.0.0.1:{free_port()}/graphql"}))
    stopped = await command(servers, "sessions", "live", "--data-dir", str(tmp_path))
    assert stopped.returncode == 3
    assert f"the URL came from the local `analytics dev` in {tmp_path}" in one_line(stopped)


async def test_operations_are_registered_on_first_use_and_pushed_for_an_allowlist(
        servers: Servers, gql: GraphQLClient, make_tenant: Any, tmp_path: Path) -> None:
    tenant: TenantKeys = await make_tenant()
    registered = "{ tenant { persistedDocuments { id operationName } } }"
    assert (await gql.data(tenant.secret, registered))["tenant"]["persistedDocuments"] == []
    first = await report(servers, gql.url, tenant.secret, "sessions", "live", "--json")
    assert first.returncode == 0, first.stderr
    stored = (await gql.data(tenant.secret, registered))["tenant"]["persistedDocuments"]
    assert sorted(d["id"] for d in stored) == sorted(d.id for d in documents().values())

    locked: TenantKeys = await make_tenant()
    assert cli(servers, "persisted", "allowlist", "on", "--tenant", locked.name).returncode == 0
    refused = await report(servers, gql.url, locked.secret, "overview")
    assert refused.returncode == 1
    assert "allowlist mode): register the CLI's with `analytics persisted manifest" in one_line(refused)
    path = tmp_path / "cli.json"
    assert cli(servers, "persisted", "manifest", "-o", str(path)).returncode == 0
    assert cli(servers, "persisted", "push", str(path), "--tenant", locked.name).returncode == 0
    allowed = await report(servers, gql.url, locked.secret, "overview", "--json")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["tenant"] == locked.name


async def test_server_commands_say_where_and_refuse_a_missing_schema(
        servers: Servers, owner_engine: AsyncEngine, tmp_path: Path) -> None:
    name = f"empty_{uuid.uuid4().hex[:8]}"
    async with owner_engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text(f"CREATE DATABASE {name}"))
    empty = servers.database_url.rsplit("/", 1)[0] + f"/{name}"
    result = await command(servers, "tenants", "list", DATABASE_URL=empty)
    assert result.returncode == 1
    lines = [" ".join(line.split()) for line in result.stderr.strip().splitlines()]
    where = f"DATABASE_URL postgresql+asyncpg://postgres@{empty.split('@')[1]}"
    assert lines == [f"using {where}",
                     f"error: no analytics schema at {where}: run `analytics migrate` or pass --data-dir"]
    folder = tmp_path / "elsewhere"
    fresh = await command(servers, "keys", "list", "--data-dir", str(folder), DATABASE_URL="")
    assert fresh.returncode == 1 and "Traceback" not in fresh.stderr
    assert f"error: no analytics database in {folder}: run `analytics dev` or `analytics migrate`" in " ".join(
        fresh.stderr.split())
    assert not folder.exists()  # nothing was created there
    listed = await command(servers, "tenants", "list", "--json")
    assert listed.returncode == 0 and "using DATABASE_URL postgresql+asyncpg://postgres@" in listed.stderr
