"""Which database and Redis the server-side commands use, and one transaction as the schema owner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from analytics.errors import InvalidArgument
from analytics.settings import Settings, redacted_url
from cli.common import REFUSED, UNREACHABLE, console, err, fail, run

T = TypeVar("T")


@dataclass
class Servers:
    database_url: str
    redis_url: str | None
    where: str  # said to the user: the data directory or the DATABASE_URL host


def describe_url(url: str) -> str:
    """A database URL without its password, for messages."""
    return f"DATABASE_URL {redacted_url(url)}"


@contextmanager
def servers(settings: Settings, *, need_redis: bool, own: bool = False, create: bool = False,
            announce: bool = True) -> Iterator[Servers]:
    """DATABASE_URL / REDIS_URL when set, else the embedded servers under the data directory.

    Only ``create`` commands (dev, migrate) make a new data directory; the others refuse one that
    holds no database rather than starting an empty server. Servers this call starts are stopped at
    the end. With ``own`` (``analytics dev``), servers found already running there (left by a run
    that was killed) are adopted and stopped too; one-off commands leave a running ``dev``'s
    servers alone.
    """
    from analytics.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServerError

    started: list[Any] = []
    database_url, redis_url = settings.database_url, settings.redis_url
    data_dir = settings.data_dir.resolve()
    where = describe_url(database_url) if database_url else f"the embedded PostgreSQL in {data_dir}"
    if announce:
        err.print(f"using {where}", highlight=False, soft_wrap=True)
    try:
        if database_url is None:
            pg = EmbeddedPostgres(data_dir)
            if not create and not (pg.pgdata / "PG_VERSION").exists():
                raise fail(f"no analytics database in {data_dir}: run `analytics dev` or `analytics migrate` "
                           "there first, or pass --data-dir or DATABASE_URL", REFUSED)
            data_dir.mkdir(parents=True, exist_ok=True)
            with console.status("starting embedded PostgreSQL..."):
                try:
                    database_url = pg.start()
                except EmbeddedServerError as exc:
                    raise fail(f"the embedded PostgreSQL in {data_dir} did not start: "
                               f"{str(exc).splitlines()[0]}", UNREACHABLE) from None
            started.append(pg)
        if redis_url is None and need_redis:
            redis = EmbeddedRedis(data_dir)
            with console.status("starting embedded Redis..."):
                redis_url = redis.start()
            started.append(redis)
        yield Servers(database_url, redis_url, where)
    finally:
        for server in reversed(started):
            server.stop(adopted=own)


async def with_owner(s: Servers, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``fn(conn)`` in one transaction as the database owner (admin commands); a database that
    cannot be reached or has no analytics schema is one line, never a traceback."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from analytics.db import create_engine

    engine = create_engine(s.database_url, role=None, pool_size=1)
    try:
        try:
            async with engine.connect() as conn:
                present = (await conn.execute(text("SELECT to_regclass('tenants') IS NOT NULL"))).scalar()
        except (OSError, DBAPIError) as exc:
            raise fail(f"cannot reach the database ({s.where}): {str(exc).splitlines()[0]}",
                       UNREACHABLE) from None
        if not present:
            raise fail(f"no analytics schema at {s.where}: run `analytics migrate` or pass --data-dir",
                       REFUSED)
        async with engine.begin() as conn:
            return await fn(conn)
    finally:
        await engine.dispose()


def as_owner(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    """``fn(conn)`` in one owner transaction on the command's database (an admin command's whole
    work); an unknown tenant or a refused argument is one line and exit code 1."""
    from analytics.tenants.service import TenantError

    with servers(settings, need_redis=False) as s:
        try:
            return run(with_owner(s, fn))
        except (TenantError, InvalidArgument) as exc:
            raise fail(str(exc)) from None
