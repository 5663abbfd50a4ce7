"""Which text a request runs: its own query, an APQ hash, or a trusted document id (with the allowlist).

Automatic persisted queries (Apollo's protocol) live in Redis per tenant, under
``analytics:apq:<tenant>:<sha256>``, registered only by a valid key and only once the text has
validated. They are a cache: when Redis forgets one, the client's link simply sends the full
query again. Requests without a key never find one. Trusted documents live in PostgreSQL per
tenant and are the only texts a tenant in allowlist mode may run; the API keeps the ones it has
read for ``TRUSTED_TTL_SECONDS`` (a replaced manifest takes effect within that time).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.persisted import HEX64, find_document, sha256_hex
from analytics.tenants.service import Principal
from analytics.text import unstorable
from api.documents import coded

log = logging.getLogger(__name__)
TRUSTED_TTL_SECONDS = 5.0
TRUSTED_CACHE_SIZE = 4096
MAX_DOCUMENT_ID = 200  # sha256:<64 hex>, a Relay md5 or a client's own id


class RequestRefused(Exception):
    """A persisted-query problem answered as one GraphQL error. A request error by default: the
    endpoint answers it as every request error (200 under application/json, ``status`` under
    application/graphql-response+json); ``malformed`` when the request's own parameters are wrong
    (no text at all, a hash that is not one or does not match the text): ``status`` under both."""

    def __init__(self, error: GraphQLError, status: int = 400, *, malformed: bool = False) -> None:
        super().__init__(error.message)
        self.error, self.status, self.malformed = error, status, malformed


@dataclass(frozen=True)
class Resolved:
    text: str
    remember: str | None = None  # an APQ hash to register once the text validates


def not_found() -> RequestRefused:
    """An APQ hash this tenant has not registered (yet): Apollo's clients send the text next."""
    return RequestRefused(coded("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND"), 404)


class PersistedQueries:
    def __init__(self, redis: Any, engine: AsyncEngine, *, ttl_seconds: int, server_allowlist: bool,
                 server_documents: Mapping[str, str] | None = None) -> None:
        self.redis, self.engine = redis, engine
        # Trusted for every tenant, registered by the server itself at startup (the dashboard's).
        self.server_documents = dict(server_documents or {})
        self.ttl = ttl_seconds or None
        self.server_allowlist = server_allowlist
        self._trusted_cache: OrderedDict[tuple[int, str], tuple[float, str]] = OrderedDict()

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
                                           "PERSISTED_QUERY_NOT_SUPPORTED"))
            digest = persisted.get("sha256Hash")
            if not isinstance(digest, str) or not HEX64.fullmatch(digest):
                raise RequestRefused(coded("extensions.persistedQuery.sha256Hash: must be 64 lower-case "
                                           "hex digits", "BAD_REQUEST"), malformed=True)
        elif document_id is not None:
            why = unstorable(document_id)
            if why is not None or len(document_id) > MAX_DOCUMENT_ID:
                why = why or f"is longer than {MAX_DOCUMENT_ID} characters"
                raise RequestRefused(coded(f"documentId: {why}", "BAD_REQUEST"), 400, malformed=True)
            digest = document_id
        allowlist = self.allowlist(principal)

        if query is not None:
            actual = sha256_hex(query)
            if digest is not None and persisted is not None and actual != digest:
                raise RequestRefused(coded("provided sha does not match query",
                                           "PERSISTED_QUERY_HASH_MISMATCH"), malformed=True)
            if allowlist:
                if principal is None or await self._trusted(principal, actual) is None:
                    raise RequestRefused(coded(
                        "this tenant runs only registered operations (allowlist mode); register the "
                        "document with `analytics persisted push` and send its id",
                        "QUERY_NOT_IN_SAFELIST"))
                return Resolved(query)
            return Resolved(query, actual if persisted is not None else None)

        if digest is None:
            raise RequestRefused(coded("query: a query, a persisted-query hash or a documentId is "
                                       "required", "BAD_REQUEST"), malformed=True)
        if document_id is not None and document_id in self.server_documents:
            return Resolved(self.server_documents[document_id])
        if principal is not None and persisted is not None and not allowlist:
            # An APQ hash is the sha256 of its text, so Redis and the trusted documents cannot disagree
            # on it: Redis first, which spares the GET by hash a PostgreSQL transaction.
            text = await self._recall(principal, digest)
            if text is not None:
                return Resolved(text)
        if principal is not None:
            text = await self._trusted(principal, digest)
            if text is not None:
                return Resolved(text)
        if allowlist:
            raise RequestRefused(coded(f"documentId: {digest} is not a registered operation of this "
                                       "tenant", "PERSISTED_QUERY_NOT_IN_LIST"), 404)
        if document_id is not None and persisted is None:
            raise RequestRefused(coded(f"documentId: {digest} is not a registered operation of this "
                                       "tenant", "PERSISTED_QUERY_NOT_FOUND"), 404)
        text = await self._recall(principal, digest) if principal is not None else None
        if text is None:
            raise not_found()
        return Resolved(text)

    async def _trusted(self, principal: Principal, document_id: str) -> str | None:
        key = (principal.tenant_id, document_id)
        cached = self._trusted_cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        async with tenant_transaction(self.engine, principal.tenant_id) as conn:
            document = await find_document(conn, document_id)
        if document is None:
            return None
        self._trusted_cache[key] = (time.monotonic() + TRUSTED_TTL_SECONDS, document.body)
        self._trusted_cache.move_to_end(key)
        if len(self._trusted_cache) > TRUSTED_CACHE_SIZE:
            self._trusted_cache.popitem(last=False)
        return document.body

    async def remember(self, principal: Principal, digest: str, text: str) -> None:
        try:
            await self.redis.set(f"analytics:apq:{principal.tenant_id}:{digest}", text, ex=self.ttl)
        except RedisError as exc:  # a cache: the client sends the text again next time
            log.warning("could not store a persisted query: %s", exc)

    async def _recall(self, principal: Principal, digest: str) -> str | None:
        try:
            raw = await self.redis.get(f"analytics:apq:{principal.tenant_id}:{digest}")
        except RedisError as exc:
            log.warning("could not read a persisted query: %s", exc)
            return None
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)


__all__ = ["PersistedQueries", "RequestRefused", "Resolved", "not_found"]
