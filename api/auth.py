"""Who is calling: the API key of a request (a header, or ``?key=`` for a beacon) and its principal."""

from __future__ import annotations

from starlette.requests import Request

from analytics import observability
from analytics.tenants.service import KeyKind, Principal
from api.principals import PrincipalCache


def header_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def beacon_key(request: Request) -> str | None:
    """``navigator.sendBeacon`` cannot set headers: a beacon is a POST with its publishable key in
    ``?key=`` and its JSON body sent as ``text/plain`` (the SDK's last batch when a page is hidden)."""
    return request.query_params.get("key") or None if request.method == "POST" else None


def api_key_from(request: Request) -> str | None:
    return header_key(request) or beacon_key(request)


async def authenticate(request: Request, principals: PrincipalCache, *, ingest: bool = False
                       ) -> tuple[Principal | None, str | None]:
    """The caller's principal, or why there is none (no key; unknown or revoked). Binds the tenant
    to the request's state (metrics) and log context. ``ingest``: a ``track`` request, which may use
    a kept principal (``request.state.vouched``: its write checks it, api.principals)."""
    raw_key = api_key_from(request)
    request.state.principal = None  # looked up (api.cors reads it)
    request.state.vouched = None
    if not raw_key:
        return None, "an API key is required: send Authorization: Bearer <key> or X-API-Key"
    if ingest:
        principal, request.state.vouched = await principals.for_ingest(raw_key)
    else:
        principal = await principals.resolve(raw_key)
    request.state.principal = principal
    if principal is None:
        return None, "the API key is unknown or revoked"
    if principal.kind is not KeyKind.PUBLISHABLE and not header_key(request):
        request.state.principal = None
        return None, "a secret key must be sent in a header, never in a URL (?key= is for publishable keys)"
    request.state.tenant_id = principal.tenant_id
    observability.bind_tenant(principal.tenant_id)
    return principal, None
