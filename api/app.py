"""The Starlette application: /graphql (GraphiQL in a browser), /healthz and /readyz."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from analytics.db import create_engine
from analytics.settings import Settings, load_settings
from api.context import Resources
from api.graphiql import graphiql_routes
from api.view import AnalyticsGraphQL
from workers.queue import RollupNotifier, connect


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
        status = 503 if problems else 200
        return JSONResponse({"status": "unavailable" if problems else "ready", "problems": problems},
                            status_code=status)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        assert settings.database_url and settings.redis_url
        engine = create_engine(settings.database_url, role=settings.app_role,
                               pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size // 4)
        redis = await connect(settings.redis_url)
        resources = Resources(settings=settings, engine=engine, redis=redis,
                              rollups=RollupNotifier(redis))
        holder["resources"] = resources
        graphql.resources = resources
        try:
            yield
        finally:
            await resources.rollups.drain()
            await redis.aclose()
            await engine.dispose()

    graphql = AnalyticsGraphQL(None, fast_track=fast_track)  # type: ignore[arg-type]
    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *graphiql_routes(),
        ],
        lifespan=lifespan,
    )
