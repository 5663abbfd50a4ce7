"""The key cache's listening connection going silent (a dropped NAT entry, a partition: no reset, no
reply): a kept key's round trip gives up after ``ROUND_TRIP_SECONDS``, the key is looked up instead,
and the cache opens another listener once the path is back (found in review: requests hung)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.settings import Settings
from api.principals import ROUND_TRIP_SECONDS, PrincipalCache


class SilentablePath:
    """A TCP relay to PostgreSQL that can stop relaying without closing anything."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.relaying = asyncio.Event()
        self.relaying.set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    await self.relaying.wait()
                    sink.write(data)
                    await sink.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def close(self) -> None:
        self.server.close()


@pytest.fixture
async def silentable_dsn(settings: Settings) -> AsyncIterator[tuple[SilentablePath, str]]:
    assert settings.database_url
    url = urlsplit(settings.database_url.replace("+asyncpg", "", 1))
    path = SilentablePath(url.hostname or "127.0.0.1", url.port or 5432)
    port = await path.start()
    credentials = url.netloc.rsplit("@", 1)[0] + "@" if "@" in url.netloc else ""
    yield path, urlunsplit(url._replace(netloc=f"{credentials}127.0.0.1:{port}"))
    path.relaying.set()
    path.close()


async def test_a_silent_listener_is_dropped_and_kept_keys_are_looked_up(
        silentable_dsn: tuple[SilentablePath, str], settings: Settings, app_engine: AsyncEngine,
        make_tenant: Any) -> None:
    path, dsn = silentable_dsn
    tenant = await make_tenant()
    cache = PrincipalCache(app_engine, dsn=dsn, role=settings.app_role, ttl=30.0)
    await cache.start()
    try:
        assert cache.listening
        first = await cache.resolve(tenant.secret)  # looked up and kept
        assert first is not None and first.tenant_id == tenant.id
        assert await cache.resolve(tenant.secret) == first  # kept, after one round trip
        path.relaying.clear()  # the listener's path goes silent
        started = time.monotonic()
        assert await asyncio.wait_for(cache.resolve(tenant.secret), 10 * ROUND_TRIP_SECONDS) == first
        assert time.monotonic() - started < 5 * ROUND_TRIP_SECONDS
        assert not cache.listening  # dropped: every request looks its key up meanwhile
        path.relaying.set()
        for _ in range(100):  # the next request opens another listener (in the background)
            assert await cache.resolve(tenant.secret) == first
            if cache.listening:
                break
            await asyncio.sleep(0.05)
        assert cache.listening
    finally:
        await cache.close()
