"""Tokens leased per process (api.ratelimit): a key still gets exactly its burst from one process,
while most requests spend locally instead of calling Redis; reads and ingest lease apart."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from api.ratelimit import Bucket, RateLimiter
from tests.conftest import Servers


async def test_leased_ingest_tokens_add_up_to_the_burst(servers: Servers) -> None:
    redis = Redis.from_url(servers.redis_url)
    try:
        limiter = RateLimiter(redis, read=(0.001, 200), ingest=(0.001, 300))  # leases of 2 and 3 tokens
        who = f"key:{uuid.uuid4().hex}"
        verdicts = [await limiter.spend(Bucket.INGEST, who, 1) for _ in range(10)]
        assert not await redis.exists(f"analytics:rate:read:{who}")  # ingest never touched the reads
        assert all(v.allowed for v in verdicts)
        tokens = float(await redis.hget(f"analytics:rate:ingest:{who}", "tokens") or 0)
        assert round(tokens) == 300 - 12  # four leases of three tokens taken for ten requests
        allowed = 10 + sum([(await limiter.spend(Bucket.INGEST, who, 1)).allowed for _ in range(300)])
        assert allowed == 300  # one process gets exactly the burst, no more
        refused = await limiter.spend(Bucket.INGEST, who, 1)
        assert not refused.allowed and refused.retry_after >= 1
        # A batch larger than a lease goes to Redis alone.
        other = f"key:{uuid.uuid4().hex}"
        assert (await limiter.spend(Bucket.INGEST, other, 5)).allowed
        assert round(float(await redis.hget(f"analytics:rate:ingest:{other}", "tokens") or 0)) == 295
        # Reads lease from their own bucket: leases of two tokens, exactly the burst in all.
        assert all([(await limiter.spend(Bucket.READ, other, 1)).allowed for _ in range(5)])
        assert round(float(await redis.hget(f"analytics:rate:read:{other}", "tokens") or 0)) == 200 - 6
        assert all([(await limiter.spend(Bucket.READ, other, 1)).allowed for _ in range(195)])
        assert not (await limiter.spend(Bucket.READ, other, 1)).allowed
        assert not (await limiter.spend(Bucket.READ, other, 2)).allowed  # a lease's cost goes to Redis
        assert round(float(await redis.hget(f"analytics:rate:ingest:{other}", "tokens") or 0)) == 295
    finally:
        await redis.aclose()


async def test_a_lease_that_cannot_cover_a_request_carries_its_tokens_over(servers: Servers) -> None:
    redis = Redis.from_url(servers.redis_url)
    try:
        limiter = RateLimiter(redis, read=(0.001, 1000), ingest=(0.001, 1000))  # leases of 10 tokens
        who = f"key:{uuid.uuid4().hex}"
        assert all([(await limiter.spend(Bucket.READ, who, 6)).allowed for _ in range(5)])
        # Three leases for 5 x 6 tokens: the 4 and 2 left over paid for the next requests, not lost.
        assert round(float(await redis.hget(f"analytics:rate:read:{who}", "tokens") or 0)) == 1000 - 30
    finally:
        await redis.aclose()
