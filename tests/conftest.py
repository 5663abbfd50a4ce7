"""Real PostgreSQL and Redis for the suite (embedded, or TEST_DATABASE_URL / TEST_REDIS_URL), a real
HTTP server, tenants made per test, and a burst-mode ARQ worker."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import create_engine, migrate
from analytics.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from analytics.settings import Settings, load_settings
from analytics.tenants import service as tenants

STATS_QUERY = "{ tenant { tours { totalCount } } }"
TRACK = """mutation Track($events: [TrackEvent!]!) { track(events: $events) {
    accepted duplicates rejected results { index id status } rejections { index field reason } } }"""


BROWSER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` (pyproject) gives each CPU a process with its own embedded servers; servers of
    your own (TEST_DATABASE_URL / TEST_REDIS_URL) are shared, so then the suite runs in one process
    (retention drops partitions, the sweeper and the queue see every test's rows)."""
    if os.environ.get("TEST_DATABASE_URL") or os.environ.get("TEST_REDIS_URL"):
        return 1
    return None


@dataclass(frozen=True)
class Servers:
    database_url: str
    redis_url: str
    data_dir: Path


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    data_dir = Path(tempfile.mkdtemp(prefix="analytics-test-"))
    started: list[Any] = []
    database_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not database_url:
        pg = EmbeddedPostgres(data_dir, durable=False)
        database_url = pg.start()
        started.append(pg)
    if not redis_url:
        redis = EmbeddedRedis(data_dir, durable=False)
        redis_url = redis.start()
        started.append(redis)
    # Corrections run at once here; test_sessions covers the delay itself.
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "ANALYTICS_SWEEP_SECONDS": "1",
           "ANALYTICS_CORRECTION_DELAY_SECONDS": "0", "ANALYTICS_DATA_DIR": str(data_dir)}
    os.environ.update(env)  # the worker's startup and subprocesses read the environment
    try:
        migrate(load_settings().database_url or "")
        yield Servers(load_settings().database_url or "", redis_url, data_dir)
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(servers: Servers) -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
async def owner_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url or "", role=None, pool_size=2)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def app_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url or "", role=settings.app_role, pool_size=4)
    yield engine
    await engine.dispose()


@dataclass(frozen=True)
class TenantKeys:
    id: int
    name: str
    publishable: str
    secret: str


@pytest.fixture
def make_tenant(owner_engine: AsyncEngine) -> Any:
    async def make(timezone: str = "UTC", retention_days: int = 3650) -> TenantKeys:
        async with owner_engine.begin() as conn:
            tenant = await tenants.create_tenant(conn, name=f"t-{uuid.uuid4().hex[:10]}",
                                                 timezone=timezone, raw_retention_days=retention_days)
            _, pk = await tenants.create_key(conn, tenant_id=tenant.id, kind=tenants.KeyKind.PUBLISHABLE)
            _, sk = await tenants.create_key(conn, tenant_id=tenant.id, kind=tenants.KeyKind.SECRET)
        return TenantKeys(tenant.id, tenant.name, pk, sk)

    return make


async def _serve(app: Any) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
async def base_url(settings: Settings) -> AsyncIterator[str]:
    """The API on a real port (uvicorn), fast ingest path on."""
    from api.app import create_app

    async for url in _serve(create_app(settings)):
        yield url


@pytest.fixture(scope="session")
async def generic_base_url(settings: Settings) -> AsyncIterator[str]:
    """The same API with the fast ``track`` decoder turned off (graphql-core coerces everything)."""
    from api.app import create_app

    async for url in _serve(create_app(settings, fast_track=False)):
        yield url


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Events are sent as a browser SDK sends them: httpx's own agent would make every session a bot's.
    async with httpx.AsyncClient(timeout=30, headers={"User-Agent": BROWSER_AGENT}) as client:
        yield client


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url = http, url

    async def post(self, key: str | None, query: str, variables: dict[str, Any] | None = None,
                   **headers: str) -> httpx.Response:
        if key:
            headers.setdefault("Authorization", f"Bearer {key}")
        # ensure_ascii: lone surrogates travel as \\ud800 escapes, as a browser SDK would send them.
        body = json.dumps({"query": query, "variables": variables}, ensure_ascii=True)
        headers.setdefault("Content-Type", "application/json")
        return await self.http.post(f"{self.url}/graphql", content=body, headers=headers)

    async def __call__(self, key: str | None, query: str,
                       variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.post(key, query, variables)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, key: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        body = await self(key, query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def track(self, key: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        body = await self(key, TRACK, {"events": events})
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]["track"]
        return result


@pytest.fixture
def gql(http: httpx.AsyncClient, base_url: str) -> GraphQLClient:
    return GraphQLClient(http, base_url)


@pytest.fixture
def generic_gql(http: httpx.AsyncClient, generic_base_url: str) -> GraphQLClient:
    return GraphQLClient(http, generic_base_url)


@pytest.fixture
def run_worker(settings: Settings) -> Any:
    """Run an ARQ worker in burst mode: the startup sweep queues every tenant with outbox rows."""
    from arq.worker import Worker

    from workers.settings import worker_options

    async def run(**overrides: Any) -> None:
        options = {**worker_options(settings, burst=True), "handle_signals": False, **overrides}
        worker = Worker(**options)
        try:
            await worker.main()
        finally:
            await worker.close()

    return run


def cli(servers: Servers, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The ``analytics`` command as a user runs it, against the suite's database (server commands).
    No saved profiles unless ``env`` names a config file."""
    environment = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": servers.redis_url,
                   "ANALYTICS_CONFIG": str(servers.data_dir / "no-profiles.toml"), **(env or {})}
    for name in ("ANALYTICS_URL", "ANALYTICS_KEY", "ANALYTICS_PROFILE"):
        if name not in (env or {}):
            environment.pop(name, None)
    return subprocess.run([sys.executable, "-m", "cli", *args], env=environment, capture_output=True,
                          text=True, timeout=60)


async def report(servers: Servers, url: str, key: str, *args: str,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A reporting command against the suite's API at ``url`` with ``key``, in a thread: the API
    answers on this event loop, so the test must not block it while the command runs."""
    return await asyncio.to_thread(cli, servers, *args,
                                   env={"ANALYTICS_URL": url, "ANALYTICS_KEY": key, **(env or {})})


async def outbox_rows(engine: AsyncEngine, tenant_id: int) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM outbox WHERE tenant_id = :t"),
                                       {"t": tenant_id})).scalar_one())


def event(kind: str, at: str, user: str | None = "u1", **fields: Any) -> dict[str, Any]:
    """One wire-format event with a fresh id."""
    body: dict[str, Any] = {"id": str(uuid.uuid4()), "type": kind, "timestamp": at}
    if user is not None:
        body["userId"] = user
    body.update(fields)
    return body


__all__ = ["TRACK", "GraphQLClient", "Servers", "TenantKeys", "cli", "event", "outbox_rows", "replace",
           "report"]
