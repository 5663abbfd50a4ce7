"""A tenant's allowed origins: the web pages (``scheme://host[:port]``) that may read what its secret
keys answer in a browser (CORS). None by default; publishable keys need none (api.cors).

Origins are stored as browsers send them in the ``Origin`` header (RFC 6454 serialisation): the
scheme and host lower-cased, international host names in their ASCII (punycode) form, the port only
when it is not the scheme's default. So a stored origin matches the header by plain string equality.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.errors import InvalidArgument
from analytics.tenants.service import TenantError

MAX_ALLOWED_ORIGINS = 50
MAX_ORIGIN_LENGTH = 300
DEFAULT_PORTS = {"http": 80, "https": 443}
EXAMPLE = "https://shop.example.com or http://localhost:3000"


def canonical_origin(field: str, raw: str) -> str:
    """``raw`` as a browser's ``Origin`` header spells it; ``InvalidArgument`` names ``field`` and
    says what is wrong."""
    def refuse(why: str) -> InvalidArgument:
        return InvalidArgument(field, f"{raw[:80]!r} {why}; an origin is scheme://host[:port], "
                                      f"such as {EXAMPLE}")

    if len(raw) > MAX_ORIGIN_LENGTH:
        raise InvalidArgument(field, f"is {len(raw)} characters; the limit is {MAX_ORIGIN_LENGTH}")
    if raw.strip() != raw or not raw.isprintable():
        raise refuse("contains spaces or control characters")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise refuse("is not a valid URL origin") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or "://" not in raw:
        raise refuse("must start with http:// or https://")
    if parts.path or parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise refuse("must not have a path, query or fragment (not even a trailing /)")
    if parts.username is not None or parts.password is not None:
        raise refuse("must not carry a user or password")
    host = parts.hostname or ""
    if not host or "*" in host:
        raise refuse("must name one host (no wildcards)")
    if ":" in host:  # an IPv6 literal, bracketed in an origin
        host = f"[{host}]"
    elif not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise refuse("has a host name that cannot be encoded (IDNA)") from None
    suffix = f":{port}" if port is not None and port != DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{host}{suffix}"


def check_origins(origins: Collection[str]) -> tuple[str, ...]:
    """The origins in canonical form, first spelling of each kept, in the given order.
    ``InvalidArgument`` names the field: ``origins`` for the count, ``origins[i]`` for one origin."""
    if len(origins) > MAX_ALLOWED_ORIGINS:
        raise InvalidArgument("origins", f"{len(origins)} origins given; the limit is {MAX_ALLOWED_ORIGINS}")
    chosen: dict[str, None] = {}
    for index, raw in enumerate(origins):
        chosen.setdefault(canonical_origin(f"origins[{index}]", raw), None)
    return tuple(chosen)


async def allowed_origins(conn: AsyncConnection, tenant_id: int) -> tuple[str, ...]:
    stored = (await conn.execute(text("SELECT allowed_origins FROM tenants WHERE id = :tenant"),
                                 {"tenant": tenant_id})).scalar_one()
    return tuple(stored)


async def set_allowed_origins(conn: AsyncConnection, tenant_id: int,
                              origins: Collection[str]) -> tuple[str, ...]:
    """Replace the tenant's allowed origins (an empty collection removes them all); returns them as
    stored. Takes effect on the next request: the key lookup reads them (no cache to expire).
    ``InvalidArgument`` for a bad origin or too many, ``TenantError`` for an unknown tenant."""
    chosen = check_origins(origins)
    updated = (await conn.execute(
        text("UPDATE tenants SET allowed_origins = :origins WHERE id = :tenant RETURNING id"),
        {"origins": list(chosen), "tenant": tenant_id})).one_or_none()
    if updated is None:
        raise TenantError(f"no tenant with id {tenant_id}")
    return chosen
