"""PostgreSQL unreachable or cut mid-request: a 503 with Retry-After and STORAGE_UNAVAILABLE, never an
internal error, so SDKs and relays retry what was not acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import create_engine, storage_unavailable
from analytics.embedded import free_port
from analytics.settings import Settings
from tests.conftest import TRACK, _serve, event, replace


@pytest.fixture
async def no_database(settings: Settings) -> AsyncIterator[str]:
    """The API with its DATABASE_URL pointing at a port where nothing listens (Redis is up)."""
    from api.app import create_app

    gone = replace(settings, database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/analytics")
    async for url in _serve(create_app(gone)):
        yield url


async def test_ingest_and_reads_answer_503_while_the_database_is_down(no_database: str) -> None:
    body = {"query": TRACK, "variables": {"events": [event("TourStarted", "2026-12-01T10:00:00Z", tourId="t")]}}
    async with httpx.AsyncClient(timeout=30) as http:
        for accept in ("application/json", "application/graphql-response+json"):
            for key, payload in (("pk_" + "a" * 32, body), ("sk_" + "b" * 32, {"query": "{ tenant { id } }"})):
                response = await http.post(f"{no_database}/graphql", json=payload, headers={
                    "Authorization": f"Bearer {key}", "Accept": accept, "Origin": "https://shop.example.com"})
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "5"
                [error] = response.json()["errors"]
                assert error["extensions"]["code"] == "STORAGE_UNAVAILABLE"
                assert "nothing was stored or read" in error["message"]
        ready = await http.get(f"{no_database}/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"


async def test_a_cut_connection_is_storage_unavailable_and_a_failed_statement_is_not(
        settings: Settings, owner_engine: AsyncEngine) -> None:
    engine = create_engine(settings.database_url or "", role=None, pool_size=1)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with owner_engine.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await asyncio.sleep(0.1)
            with pytest.raises(DBAPIError) as cut:
                await conn.execute(text("SELECT 1"))
        assert storage_unavailable(cut.value)
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as failed:
                await conn.execute(text("SELECT 1 / 0"))
        assert not storage_unavailable(failed.value)
    finally:
        await engine.dispose()
    with pytest.raises(OSError) as refused:
        await asyncpg.connect(host="127.0.0.1", port=free_port(), user="postgres", timeout=5)
    assert storage_unavailable(refused.value)
    assert not storage_unavailable(ValueError("not a database problem"))


