"""Resolved keys are kept per API process, and a revocation made anywhere stops the key on the next
request in every process (migration 0028 announces it; api.principals drops the tenant's keys)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.settings import Settings
from tests.conftest import GraphQLClient, Servers, TenantKeys, _serve, cli

WHO = "{ tenant { name } }"


async def _api_with_key_cache(settings: Settings) -> AsyncIterator[str]:
    """An API process's worth of state with the key cache on (whatever the environment says): its own app,
    key cache and listening connection."""
    from api.app import create_app

    async for url in _serve(create_app(replace(settings, key_cache_seconds=10.0))):
        yield url


@pytest.fixture
async def first_api(settings: Settings) -> AsyncIterator[str]:
    async for url in _api_with_key_cache(settings):
        yield url


@pytest.fixture
async def second_api(settings: Settings) -> AsyncIterator[str]:
    async for url in _api_with_key_cache(settings):
        yield url


async def _answers(gql: GraphQLClient, url: str, key: str) -> str:
    body = await GraphQLClient(gql.http, url)(key, WHO)
    if body.get("errors"):
        return str(body["errors"][0]["extensions"]["code"])
    return str(body["data"]["tenant"]["name"])


async def _key_id(owner_engine: AsyncEngine, tenant: TenantKeys) -> int:
    async with owner_engine.connect() as conn:
        return int((await conn.execute(text(
            "SELECT id FROM api_keys WHERE tenant_id = :t AND kind = 'secret'"), {"t": tenant.id})).scalar_one())


async def test_a_revoked_key_stops_on_the_next_request_in_every_api_process(
        gql: GraphQLClient, first_api: str, second_api: str, make_tenant: Any, owner_engine: AsyncEngine,
        servers: Servers) -> None:
    tenant, other = await make_tenant(), await make_tenant()
    apis = (first_api, second_api)
    for url in apis:  # each process resolves (and keeps) both keys
        assert await _answers(gql, url, tenant.secret) == tenant.name
        assert await _answers(gql, url, other.secret) == other.name

    # A change that announces nothing (triggers off for this session) is not seen: the processes
    # answer from their caches rather than looking the key up again.
    async with owner_engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text("UPDATE api_keys SET revoked_at = now() WHERE tenant_id = :t"), {"t": tenant.id})
    for url in apis:
        assert await _answers(gql, url, tenant.secret) == tenant.name

    # The revocation as an operator makes it (another process: the command line) is announced at its
    # commit: both API processes refuse the key on their very next request.
    revoked = await asyncio.to_thread(cli, servers, "keys", "revoke", str(await _key_id(owner_engine, tenant)))
    assert revoked.returncode == 0, revoked.stderr
    for url in apis:
        assert await _answers(gql, url, tenant.secret) == "UNAUTHENTICATED"
        assert await _answers(gql, url, other.secret) == other.name  # other tenants' keys stay


async def test_a_tenant_change_made_in_sql_reaches_the_next_request(
        gql: GraphQLClient, first_api: str, second_api: str, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    for url in (first_api, second_api):
        assert await _answers(gql, url, tenant.secret) == tenant.name
    # What the principal carries: the tenant's allowlist mode, turned on and off again several times
    # so a request racing the announcement would be caught.
    for persisted_only in (True, False) * 4:
        async with owner_engine.begin() as conn:
            await conn.execute(text("UPDATE tenants SET persisted_only = :on WHERE id = :t"),
                               {"on": persisted_only, "t": tenant.id})
        expected = "QUERY_NOT_IN_SAFELIST" if persisted_only else tenant.name
        for url in (first_api, second_api):
            assert await _answers(gql, url, tenant.secret) == expected, (persisted_only, url)
