"""Create tenants, issue, list and revoke API keys (stored hashed), resolve a key to a tenant."""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class KeyKind(enum.Enum):
    PUBLISHABLE = "publishable"
    SECRET = "secret"

    @property
    def prefix(self) -> str:
        return "pk_" if self is KeyKind.PUBLISHABLE else "sk_"


class TenantError(ValueError):
    """A tenant or key request that cannot be honoured (duplicate name, bad time zone...)."""


@dataclass(frozen=True)
class Tenant:
    id: int
    name: str
    timezone: str
    raw_retention_days: int
    created_at: datetime | None = None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant an API key belongs to, and what the key may do."""

    tenant_id: int
    kind: KeyKind
    timezone: ZoneInfo
    raw_retention_days: int
    key_id: int = 0
    persisted_only: bool = False  # only trusted (persisted) documents may run for this tenant
    store_ip: bool = False  # the tenant opted in to keeping raw IP addresses (off by default)
    # Browser origins that may read this tenant's secret-key answers (analytics.tenants.origins).
    allowed_origins: tuple[str, ...] = ()  # as stored, in order (at most 50: `in` is cheap)
    honour_privacy_signals: bool = False  # drop events sent with Do Not Track / Global Privacy Control


@dataclass(frozen=True)
class ApiKey:
    id: int
    tenant: str
    kind: KeyKind
    display_prefix: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None


def hash_key(raw_key: str) -> bytes:
    # Keys carry 192 random bits, so a fast hash is safe here (as for GitHub or Stripe tokens).
    return hashlib.sha256(raw_key.encode()).digest()


def check_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TenantError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin") from None


async def create_tenant(conn: AsyncConnection, *, name: str, timezone: str = "UTC",
                        raw_retention_days: int = 90) -> Tenant:
    check_timezone(timezone)
    if not name.strip():
        raise TenantError("tenant name must not be empty")
    # Days are computed in PostgreSQL too (the session and funnel day sums): a zone its time zone
    # database lacks would fail every write of the tenant's sessions later.
    known = (await conn.execute(text("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = :tz)"),
                                {"tz": timezone})).scalar_one()
    if not known:
        raise TenantError(f"time zone {timezone!r} is not known to the database; use an IANA name such as "
                          "Europe/Berlin")
    try:
        async with conn.begin_nested():
            row = (await conn.execute(
                text("INSERT INTO tenants (name, timezone, raw_retention_days) "
                     "VALUES (:name, :tz, :days) RETURNING id, created_at"),
                {"name": name, "tz": timezone, "days": raw_retention_days},
            )).one()
    except IntegrityError:
        raise TenantError(f"a tenant named {name!r} already exists") from None
    return Tenant(int(row.id), name, timezone, raw_retention_days, row.created_at)


async def get_tenant(conn: AsyncConnection, name: str) -> Tenant:
    row = (await conn.execute(
        text("SELECT id, name, timezone, raw_retention_days, created_at FROM tenants WHERE name = :n"),
        {"n": name},
    )).one_or_none()
    if row is None:
        raise TenantError(f"no tenant named {name!r}")
    return Tenant(int(row.id), row.name, row.timezone, row.raw_retention_days, row.created_at)


async def list_tenants(conn: AsyncConnection) -> list[Tenant]:
    rows = (await conn.execute(text(
        "SELECT id, name, timezone, raw_retention_days, created_at FROM tenants ORDER BY id"))).all()
    return [Tenant(int(r.id), r.name, r.timezone, r.raw_retention_days, r.created_at) for r in rows]


async def create_key(conn: AsyncConnection, *, tenant_id: int, kind: KeyKind,
                     name: str | None = None) -> tuple[ApiKey, str]:
    """Issue a key; the raw key is returned once and only its hash is stored."""
    raw_key = kind.prefix + secrets.token_urlsafe(24)
    row = (await conn.execute(
        text("INSERT INTO api_keys (tenant_id, kind, display_prefix, key_hash, name) "
             "VALUES (:tenant, :kind, :prefix, :hash, :name) RETURNING id, created_at, "
             "(SELECT name FROM tenants WHERE id = :tenant) AS tenant"),
        {"tenant": tenant_id, "kind": kind.value, "prefix": raw_key[:10], "hash": hash_key(raw_key),
         "name": name},
    )).one()
    return ApiKey(int(row.id), row.tenant, kind, raw_key[:10], name, row.created_at, None), raw_key


async def list_keys(conn: AsyncConnection, *, tenant_id: int | None = None) -> list[ApiKey]:
    rows = (await conn.execute(
        text("SELECT k.id, t.name AS tenant, k.kind, k.display_prefix, k.name, k.created_at, "
             "k.revoked_at FROM api_keys k JOIN tenants t ON t.id = k.tenant_id "
             "WHERE CAST(:tenant AS bigint) IS NULL OR k.tenant_id = :tenant ORDER BY k.id"),
        {"tenant": tenant_id},
    )).all()
    return [ApiKey(int(r.id), r.tenant, KeyKind(r.kind), r.display_prefix, r.name, r.created_at,
                   r.revoked_at) for r in rows]


async def revoke_key(conn: AsyncConnection, *, key_id: int, tenant_id: int | None = None) -> ApiKey:
    row = (await conn.execute(
        text("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id "
             "AND (CAST(:tenant AS bigint) IS NULL OR tenant_id = :tenant) RETURNING id"),
        {"id": key_id, "tenant": tenant_id},
    )).one_or_none()
    if row is None:
        raise TenantError(f"no API key with id {key_id}")
    return next(k for k in await list_keys(conn, tenant_id=tenant_id) if k.id == key_id)


async def tenant_name(conn: AsyncConnection, tenant_id: int) -> str:
    name = await conn.execute(text("SELECT name FROM tenants WHERE id = :id"), {"id": tenant_id})
    return str(name.scalar_one())


async def set_privacy_signals(conn: AsyncConnection, tenant_id: int, honour: bool) -> None:
    """Honour (or ignore) Do Not Track and Global Privacy Control from the next request on."""
    await conn.execute(text("UPDATE tenants SET honour_privacy_signals = :on WHERE id = :tenant"),
                       {"on": honour, "tenant": tenant_id})


async def resolve_key(engine: AsyncEngine, raw_key: str) -> Principal | None:
    """The tenant and kind of a live key, or None for an unknown or revoked one (no caching, so a
    revoked key stops on its next request). Autocommit: one round trip, no BEGIN/ROLLBACK."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return await principal_of(conn, hash_key(raw_key))


async def principal_of(conn: AsyncConnection, key_hash: bytes) -> Principal | None:
    """The principal of the live key with ``key_hash`` as of now, in ``conn``'s transaction."""
    row = (await conn.execute(text("SELECT * FROM analytics_resolve_key(:hash)"),
                              {"hash": key_hash})).one_or_none()
    if row is None:
        return None
    return Principal(int(row.tenant_id), KeyKind(row.kind), ZoneInfo(row.timezone),
                     int(row.raw_retention_days), int(row.key_id), bool(row.persisted_only),
                     bool(row.store_ip), tuple(row.allowed_origins), bool(row.honour_privacy_signals))
