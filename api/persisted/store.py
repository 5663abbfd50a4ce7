"""Which text a request runs: its own query, an APQ hash, or a trusted document id (with the allowlist).

Automatic persisted queries (Apollo's protocol) live in Redis under ``analytics:apq:<sha256>``; they
are a cache: when Redis forgets one, the client's link simply sends the full query again. Trusted
documents live in PostgreSQL per tenant and are the only texts a tenant in allowlist mode may run.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.persisted import find_document
from analytics.tenants.service import Principal
from api.documents import coded, sha256_hex

log = logging.getLogger(__name__)
HASH = re.compile(r"[0-9a-f]{64}")


class RequestRefused(Exception):
    """A persisted-query problem answered as one GraphQL error with an HTTP status."""

    def __init__(self, error: GraphQLError, status: int) -> None:
        super().__init__(error.message)
        self.error, self.status = error, status


@dataclass(frozen=True)
class Resolved:
    text: str
    trusted: bool  # a registered (trusted) document of the caller's tenant


def not_found() -> RequestRefused:
    return RequestRefused(coded("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND"), 200)


class PersistedQueries:
    def __init__(self, redis: Any, engine: AsyncEngine, *, ttl_seconds: int, server_allowlist: bool) -> None:
        self.redis, self.engine = redis, engine
        self.ttl = ttl_seconds or None
        self.server_allowlist = server_allowlist

    def allowlist(self, principal: Principal | None) -> bool:
        return self.server_allowlist or bool(principal and principal.persisted_only)

    async def resolve(self, query: str | None, extensions: dict[str, Any] | None, document_id: str | None,
                      principal: Principal | None) -> Resolved:
        """The text to run, or RequestRefused (unknown hash, mismatch, not on the allowlist)."""
        persisted = (extensions or {}).get("persistedQuery")
        digest: str | None = None
        if persisted is not None:
            if not isinstance(persisted, dict) or persisted.get("version") != 1:
                raise RequestRefused(coded("extensions.persistedQuery: only version 1 is supported",
                                           "PERSISTED_QUERY_NOT_SUPPORTED"), 400)
            digest = persisted.get("sha256Hash")
            if not isinstance(digest, str) or not HASH.fullmatch(digest):
                raise RequestRefused(coded("extensions.persistedQuery.sha256Hash: must be 64 lower-case "
                                           "hex digits", "BAD_REQUEST"), 400)
        elif document_id is not None:
            digest = document_id
        allowlist = self.allowlist(principal)

        if query is not None:
            actual = sha256_hex(query)
            if digest is not None and persisted is not None and actual != digest:
                raise RequestRefused(coded("provided sha does not match query",
                                           "PERSISTED_QUERY_HASH_MISMATCH"), 400)
            if allowlist:
                if principal is None or await self._trusted(principal, actual) is None:
                    raise RequestRefused(coded(
                        "this tenant runs only registered operations (allowlist mode); register the "
                        "document with `analytics persisted push` and send its id",
                        "QUERY_NOT_IN_SAFELIST"), 400)
                return Resolved(query, True)
            if persisted is not None:
                await self._remember(actual, query)
            return Resolved(query, False)

        if digest is None:
            raise RequestRefused(coded("query: a query, a persisted-query hash or a documentId is "
                                       "required", "BAD_REQUEST"), 400)
        if principal is not None:
            text = await self._trusted(principal, digest)
            if text is not None:
                return Resolved(text, True)
        if allowlist:
            raise RequestRefused(coded(f"documentId: {digest} is not a registered operation of this "
                                       "tenant", "PERSISTED_QUERY_NOT_IN_LIST"), 400)
        if document_id is not None and persisted is None:
            raise RequestRefused(coded(f"documentId: {digest} is not a registered operation of this "
                                       "tenant", "PERSISTED_QUERY_NOT_FOUND"), 400)
        text = await self._recall(digest)
        if text is None:
            raise not_found()
        return Resolved(text, False)

    async def _trusted(self, principal: Principal, document_id: str) -> str | None:
        async with tenant_transaction(self.engine, principal.tenant_id) as conn:
            document = await find_document(conn, document_id)
        return document.body if document else None

    async def _remember(self, digest: str, text: str) -> None:
        try:
            await self.redis.set(f"analytics:apq:{digest}", text, ex=self.ttl)
        except RedisError as exc:  # a cache: the client sends the text again next time
            log.warning("could not store a persisted query: %s", exc)

    async def _recall(self, digest: str) -> str | None:
        try:
            raw = await self.redis.get(f"analytics:apq:{digest}")
        except RedisError as exc:
            log.warning("could not read a persisted query: %s", exc)
            return None
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)


__all__ = ["PersistedQueries", "RequestRefused", "Resolved", "not_found"]
