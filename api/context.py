"""Per-request context: the caller's principal, shared resources and request-scoped loaders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from arq.connections import ArqRedis
from graphql import DocumentNode
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from strawberry.types import Info

from analytics.db import tenant_transaction
from analytics.ingest.events import EventIn
from analytics.ingest.service import PartitionCache
from analytics.settings import Settings
from analytics.tenants.service import KeyKind, Principal
from analytics.traffic.visitor import DailySalts
from api.documents import Documents
from api.errors import Forbidden, Unauthenticated
from api.persisted.store import PersistedQueries
from api.ratelimit import RateLimiter
from workers.queue import RollupNotifier


@dataclass
class Resources:
    """What the app builds once at startup and every request shares."""

    settings: Settings
    engine: AsyncEngine
    redis: ArqRedis
    rollups: RollupNotifier
    documents: Documents
    persisted: PersistedQueries
    limiter: RateLimiter
    partitions: PartitionCache = field(default_factory=PartitionCache)
    visitor_salts: tuple[date, DailySalts] | None = None  # (UTC day, salts): api.ingest.visitors


@dataclass
class Context:
    request: Request
    resources: Resources
    principal: Principal | None
    key_problem: str | None = None
    decoded_events: list[EventIn] | None = None
    document: DocumentNode | None = None  # parsed and validated by the HTTP layer
    loaders: dict[str, Any] = field(default_factory=dict)

    def require_key(self) -> Principal:
        if self.principal is None:
            raise Unauthenticated(self.key_problem or "an API key is required")
        return self.principal

    def require_secret(self) -> Principal:
        principal = self.require_key()
        if principal.kind is not KeyKind.SECRET:
            raise Forbidden("publishable keys can only send events (track); use a secret key to "
                            "read analytics or change definitions")
        return principal

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction scoped to the caller's tenant, with the statement timeout."""
        principal = self.require_secret()
        async with tenant_transaction(self.resources.engine, principal.tenant_id,
                                      timeout_ms=self.resources.settings.statement_timeout_ms) as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        principal = self.require_secret()
        async with tenant_transaction(self.resources.engine, principal.tenant_id) as conn:
            yield conn


AppInfo = Info[Context, None]
