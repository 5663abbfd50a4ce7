"""Per-request context: the caller's principal, shared resources and request-scoped loaders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
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
from analytics.ingest.service import GroupCommit, PartitionCache
from analytics.settings import Settings
from analytics.tenants.service import KeyKind, Principal
from analytics.traffic.visitor import DailySalts
from api.answers import Answers
from api.documents import Documents
from api.errors import Forbidden, Unauthenticated
from api.persisted.store import PersistedQueries
from api.principals import PrincipalCache
from api.ratelimit import RateLimiter
from api.shared_reads import SharedReads
from workers.queue import RollupNotifier, bump_data_version


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
    principals: PrincipalCache
    answers: Answers
    partitions: PartitionCache = field(default_factory=PartitionCache)
    shared: SharedReads = field(default_factory=SharedReads)  # identical reads running now
    visitor_salts: tuple[date, DailySalts] | None = None  # (UTC day, salts): api.ingest.visitors
    group_commit: GroupCommit | None = None  # concurrent track batches of a tenant share a commit


@dataclass
class Context:
    request: Request
    resources: Resources
    principal: Principal | None
    key_problem: str | None = None
    decoded_events: list[EventIn] | None = None
    document: DocumentNode | None = None  # parsed and validated by the HTTP layer
    loaders: dict[str, Any] = field(default_factory=dict)
    # The request's one read transaction (see ``read``): opened by the first reader, ended by ``close``.
    _reads: AbstractAsyncContextManager[AsyncConnection] | None = field(default=None, repr=False)
    _read_conn: AsyncConnection | None = field(default=None, repr=False)
    _read_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _reader: asyncio.Task[Any] | None = field(default=None, repr=False)
    _closed: bool = field(default=False, repr=False)

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
        """The request's read transaction, scoped to the caller's tenant, with the statement timeout.

        Every resolver of one request shares it: one ``BEGIN``, one ``SET LOCAL`` of the tenant and
        one commit per request instead of per resolver, and one snapshot (REPEATABLE READ), so the
        request's fields agree with each other while the worker commits between their statements.
        One connection runs one statement at a time, so resolvers take turns (a lock; the task
        holding it may nest ``read``). A resolver that
        fails inside it (a database error, a timeout, a cancellation) ends the transaction, so the
        next reader starts a clean one rather than inheriting an aborted one. ``close`` ends it.
        Never await a DataLoader inside it: the loader's batch reads in another task, which would
        wait for the turn this resolver holds (api.tours.loaders reads outside, then builds).
        """
        principal = self.require_secret()
        task = asyncio.current_task()
        if self._reader is not None and self._reader is task and self._read_conn is not None:
            yield self._read_conn  # nested in the same resolver: it already holds the turn
            return
        async with self._read_lock:
            if not self._closed:
                if self._read_conn is None:
                    reads = tenant_transaction(self.resources.engine, principal.tenant_id,
                                               timeout_ms=self.resources.settings.statement_timeout_ms,
                                               snapshot=True)
                    self._read_conn = await reads.__aenter__()
                    self._reads = reads
                self._reader = task
                try:
                    yield self._read_conn
                except BaseException as exc:
                    await self._end_read(exc)
                    raise
                finally:
                    self._reader = None
                return
        # A resolver still running after execution returned (a sibling field failed first): its answer
        # is discarded, and nothing would end a shared transaction opened now, so it reads in its own.
        async with tenant_transaction(self.resources.engine, principal.tenant_id,
                                      timeout_ms=self.resources.settings.statement_timeout_ms) as conn:
            yield conn

    async def close(self) -> None:
        """End the request's read transaction, if a resolver opened one (after execution)."""
        async with self._read_lock:
            self._closed = True
            await self._end_read(None)

    async def _end_read(self, failure: BaseException | None) -> None:
        """Commit, or roll back when ``failure`` ended the reader."""
        reads, self._reads, self._read_conn = self._reads, None, None
        if reads is not None:
            await reads.__aexit__(type(failure) if failure else None, failure,
                                  failure.__traceback__ if failure else None)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction of its own; once it commits, the tenant's GET answers run again
        (api.answers)."""
        principal = self.require_secret()
        async with tenant_transaction(self.resources.engine, principal.tenant_id) as conn:
            yield conn
        await bump_data_version(self.resources.redis, principal.tenant_id)


AppInfo = Info[Context, None]
