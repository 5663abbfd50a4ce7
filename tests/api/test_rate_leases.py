"""Ingest tokens leased per process (api.ratelimit): a key still gets exactly its burst from one
process, while most requests spend locally instead of calling Redis."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from api.ratelimit import Bucket, RateLimiter
from tests.conftest import Servers


async def test_leased_ingest_tokens_add_up_to_the_burst(servers: Servers) -> None:
    redis = Redis.from_url(servers.redis_url)
    try:
        limiter = RateLimiter(redis, read=(1.0, 100), ingest=(0.001, 300))  # leases of 3 tokens
        who = f"key:{uuid.uuid4().hex}"
        verdicts = [await limiter.spend(Bucket.INGEST, who, 1) for _ in range(10)]
        assert all(v.allowed for v in verdicts)
        tokens = float(await redis.hget(f"analytics:rate:ingest:{who}", "tokens") or 0)
        assert round(tokens) == 300 - 12  # four leases of three tokens taken for ten requests
        allowed = 10 + sum([(await limiter.spend(Bucket.INGEST, who, 1)).allowed for _ in range(300)])
        assert allowed == 300  # one process gets exactly the burst, no more
        refused = await limiter.spend(Bucket.INGEST, who, 1)
        assert not refused.allowed and refused.retry_after >= 1
        # A batch larger than a lease goes to Redis alone, and reads are never leased.
        other = f"key:{uuid.uuid4().hex}"
        assert (await limiter.spend(Bucket.INGEST, other, 5)).allowed
        assert round(float(await redis.hget(f"analytics:rate:ingest:{other}", "tokens") or 0)) == 295
    finally:
        await redis.aclose()
