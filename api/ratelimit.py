"""Per-key token buckets in Redis: reads spend their cost, ingest spends one token per event.

One Lua script refills and spends atomically on Redis's own clock, so every API process shares
the same buckets. When Redis is unreachable the limiter lets requests through (and logs it):
ingest must keep landing in PostgreSQL while Redis is down.

Tokens are taken in leases: a process that spends from a key's bucket takes a hundredth of the
burst at once and spends it locally for up to ``LEASE_SECONDS``, so single-event ``track`` requests
and small reads (a dashboard's panels, a BI tool's polls) do not each pay a Redis round trip. A key
can then exceed its budget by at most one lease per API process and bucket; a request that costs a
lease or more, and every request of a bucket whose burst is under 100 tokens, is charged in Redis
(exact, one call a request).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV rate (tokens/s), burst, cost. Returns {allowed 0/1, seconds to wait}.
TOKEN_BUCKET = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'at', 'tokens')
local at = tonumber(state[1]) or now
local tokens = tonumber(state[2]) or burst
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed, wait = 0, (cost - tokens) / rate
if tokens >= cost then
  tokens = tokens - cost
  allowed, wait = 1, 0
end
redis.call('HSET', KEYS[1], 'at', tostring(now), 'tokens', tostring(tokens))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class Bucket(Enum):
    READ = "read"
    INGEST = "ingest"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0  # whole seconds, for the Retry-After header


LEASE_SHARE = 100  # a lease is burst / LEASE_SHARE tokens
LEASE_SECONDS = 1.0  # what is left of a lease after this is dropped (the bucket refills meanwhile)
MAX_LEASES = 10_000


class RateLimiter:
    def __init__(self, redis: Any, *, read: tuple[float, int], ingest: tuple[float, int]) -> None:
        self.redis = redis
        self.limits = {Bucket.READ: read, Bucket.INGEST: ingest}
        self.script = redis.register_script(TOKEN_BUCKET)
        self._leases: dict[tuple[Bucket, str], tuple[float, int]] = {}  # -> (expires, tokens left)
        self._locks: dict[tuple[Bucket, str], asyncio.Lock] = {}  # a lease being taken

    async def spend(self, bucket: Bucket, who: str, cost: int) -> Verdict:
        rate, burst = self.limits[bucket]
        if cost <= 0:
            return Verdict(True)
        lease = burst // LEASE_SHARE
        if lease > cost:
            held = (bucket, who)
            if self._spend_leased(held, cost):
                return Verdict(True)
            # One lease taken at a time per key: requests arriving together (a dashboard's panels)
            # wait for it and spend from it, instead of each taking a lease of its own.
            if len(self._locks) >= MAX_LEASES:
                self._locks.clear()
            async with self._locks.setdefault(held, asyncio.Lock()):
                if self._spend_leased(held, cost):
                    return Verdict(True)
                left = self._left(held)
                verdict = await self._take(bucket, who, lease, rate, burst)
                if verdict.allowed:
                    if len(self._leases) >= MAX_LEASES:
                        self._leases.clear()
                    # What is left of the lease still counts: a request costing more than it holds is
                    # not charged a lease on top of the tokens already taken.
                    self._leases[held] = (time.monotonic() + LEASE_SECONDS, left + lease - cost)
                    return verdict
                self._leases.pop(held, None)  # too few tokens for a lease: maybe enough for this request
        return await self._take(bucket, who, cost, rate, burst)

    def _left(self, held: tuple[Bucket, str]) -> int:
        expires, left = self._leases.get(held, (0.0, 0))
        return left if expires > time.monotonic() else 0  # an expired lease's tokens are gone

    def _spend_leased(self, held: tuple[Bucket, str], cost: int) -> bool:
        left = self._left(held)
        if left < cost:
            return False
        self._leases[held] = (self._leases[held][0], left - cost)
        return True

    async def _take(self, bucket: Bucket, who: str, cost: int, rate: float, burst: int) -> Verdict:
        try:
            allowed, wait = await self.script(keys=[f"analytics:rate:{bucket.value}:{who}"],
                                              args=[rate, burst, min(cost, burst)])
        except RedisError as exc:
            log.warning("rate limiter unavailable, letting the request through: %s", exc)
            return Verdict(True)
        if int(allowed):
            return Verdict(True)
        return Verdict(False, max(1, math.ceil(float(wait))))


__all__ = ["Bucket", "RateLimiter", "Verdict"]
