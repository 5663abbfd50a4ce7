"""GET answers remembered per tenant data version, so a matching If-None-Match is answered 304 without
running the query.

A GET's ETag is a hash of its body (api.view). Once a GET has been answered, its ETag is kept in Redis
under a hash of everything the answer depends on: the key (tenant, kind, id), the response media
type, the document text, the operation name, the variables and the current minute, together with the
tenant's **data version** (workers.queue.data_version_key), which every job that writes what reads
answer bumps after it commits (the rollup, session scoring and corrections, bot rules, segments,
backfills, erasures, retention for every tenant) and so does every API mutation (api.context
``write``). The next GET with the same inputs and an ``If-None-Match`` naming that ETag is answered
304 from one Redis round trip while both versions are unchanged.

The minute in the key bounds what nothing bumps: answers that move with the clock alone (presets at
midnight, live visitors) and writes made outside the API and the worker (an operator's SQL) are
re-run at least once a minute. Answers with errors are never kept. Redis being unavailable only
means every GET runs.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError

from analytics.tenants.service import Principal
from workers.queue import EVERY_TENANT, data_version_key

log = logging.getLogger(__name__)
KEEP_SECONDS = 120  # longer than the minute in the key, so a remembered answer outlives its minute


@dataclass(frozen=True)
class Remembered:
    key: str  # Redis key of this answer
    version: str  # the data versions read before running
    etag: str | None  # the ETag of the answer last given under this version, if any


class Answers:
    def __init__(self, redis: Any) -> None:
        self.redis = redis

    @staticmethod
    def key(principal: Principal, media: str, text: str, operation: str | None,
            variables: dict[str, Any] | None) -> str:
        inputs = orjson.dumps([principal.tenant_id, principal.kind.value, principal.key_id, media, text,
                               operation, variables, int(time.time() // 60)], option=orjson.OPT_SORT_KEYS)
        return f"analytics:answer:{principal.tenant_id}:{hashlib.sha256(inputs).hexdigest()[:40]}"

    async def recall(self, principal: Principal, media: str, text: str, operation: str | None,
                     variables: dict[str, Any] | None) -> Remembered | None:
        """The answer's versions and the ETag given under them; None when Redis cannot say."""
        key = self.key(principal, media, text, operation, variables)
        try:
            tenant, everyone, stored = await self.redis.mget(
                data_version_key(principal.tenant_id), data_version_key(EVERY_TENANT), key)
        except (OSError, RedisError) as exc:
            log.warning("could not read remembered answers: %s", exc)
            return None
        version = f"{_text(tenant) or 0}.{_text(everyone) or 0}"
        etag = None
        if stored is not None:
            stored_version, _, stored_etag = _text(stored).partition(" ")
            etag = stored_etag if stored_version == version else None
        return Remembered(key, version, etag)

    async def version(self, tenant_id: int) -> str | None:
        """The tenant's data versions as ``recall`` reads them; None when Redis cannot say."""
        try:
            tenant, everyone = await self.redis.mget(data_version_key(tenant_id),
                                                     data_version_key(EVERY_TENANT))
        except (OSError, RedisError) as exc:
            log.warning("could not read the data version: %s", exc)
            return None
        return f"{_text(tenant) or 0}.{_text(everyone) or 0}"

    async def remember(self, remembered: Remembered, etag: str) -> None:
        try:
            await self.redis.set(remembered.key, f"{remembered.version} {etag}", ex=KEEP_SECONDS)
        except (OSError, RedisError) as exc:
            log.warning("could not remember an answer: %s", exc)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value) if value is not None else ""
