"""The Starlette application: /graphql (GraphiQL in a browser), /sdk.js, /dashboard, /healthz, /readyz and
/metrics."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from analytics.db import create_engine
from analytics.ingest.service import GroupCommit
from analytics.settings import Settings, load_settings
from api.answers import Answers
from api.context import Resources
from api.dashboard import dashboard_routes, server_documents
from api.documents import Documents
from api.export import export_routes
from api.graphiql import graphiql_routes
from api.persisted.store import PersistedQueries
from api.principals import PrincipalCache
from api.ratelimit import RateLimiter
from api.schema import schema
from api.sdk import sdk_routes
from api.telemetry import RequestTelemetry, metrics_route, migration_status
from api.view import GraphQLEndpoint
from workers.queue import RollupNotifier, connect


def app_from_environment() -> Starlette:
    """The app of one of several API processes (``analytics serve --workers N``): settings and
    logging read from the environment, as the command read them."""
    from analytics.observability import configure_logging

    settings = load_settings()
    configure_logging(settings)
    return create_app(settings)


def create_app(settings: Settings | None = None, *, fast_track: bool = True) -> Starlette:
    settings = settings or load_settings()
    if not settings.database_url or not settings.redis_url:
        raise RuntimeError("DATABASE_URL and REDIS_URL must be set (analytics dev sets them for you)")
    holder: dict[str, Resources] = {}

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        resources = holder["resources"]
        problems = []
        try:
            async with resources.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            problems.append(f"database: {type(exc).__name__}")
        try:
            await resources.redis.ping()
        except Exception as exc:
            problems.append(f"redis: {type(exc).__name__}")
        migrations = await migration_status(resources.engine)
        problems.extend([migrations.problem] if migrations.problem else [])
        status = 503 if problems else 200
        return JSONResponse({"status": "unavailable" if problems else "ready", "problems": problems,
                             "migrations": migrations.report()}, status_code=status)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        assert settings.database_url and settings.redis_url
        engine = create_engine(settings.database_url, role=settings.app_role,
                               pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size // 4)
        redis = await connect(settings.redis_url)
        limits = settings.limits
        resources = Resources(
            settings=settings, engine=engine, redis=redis, rollups=RollupNotifier(redis),
            documents=Documents(schema._schema, limits),
            persisted=PersistedQueries(redis, engine, ttl_seconds=limits.apq_ttl_seconds,
                                       server_allowlist=limits.persisted_only,
                                       server_documents=server_documents()),
            limiter=RateLimiter(redis, read=(limits.read_rate, limits.read_burst),
                                ingest=(limits.ingest_rate, limits.ingest_burst)),
            principals=PrincipalCache(engine, dsn=settings.database_url.replace("+asyncpg", "", 1),
                                      role=settings.app_role, ttl=settings.key_cache_seconds),
            answers=Answers(redis),
            group_commit=(GroupCommit(engine, max_events=settings.group_commit_events)
                          if settings.group_commit_events > 1 else None),
        )
        await resources.principals.start()
        holder["resources"] = resources
        graphql.resources = resources
        # What startup made (modules, the schema, the settings) lives as long as the process: kept out
        # of the collector's full passes, which otherwise walk it all (~200,000 objects: a pause of
        # hundreds of ms on a busy machine) in the middle of some request.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await resources.principals.close()
            if resources.group_commit is not None:
                await resources.group_commit.drain()
            await resources.rollups.drain()
            await redis.aclose()
            await engine.dispose()

    graphql = GraphQLEndpoint(fast_track=fast_track)
    return Starlette(
        routes=[
            Route("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *graphiql_routes(),
            *sdk_routes(),
            *dashboard_routes(),
            *export_routes(lambda: holder["resources"]),
            metrics_route(lambda: holder["resources"]),
        ],
        middleware=[Middleware(RequestTelemetry)],
        lifespan=lifespan,
    )
