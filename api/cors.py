"""CORS on ``/graphql``: which web pages may read its answers in a browser.

The API uses no cookies: a page can only send a key it was given. What CORS decides here is
therefore not who may *call* the API (any program can, with curl) but which pages a browser lets
*read* an answer, which is how a tenant keeps its secret keys out of other sites' pages.

- Preflights (``OPTIONS`` with ``Access-Control-Request-Method``) cannot carry the key: browsers
  never send ``Authorization`` or ``X-API-Key`` on a preflight, so the tenant is unknown there.
  Every preflight is answered permissively and identically for any origin: GET and POST, the request
  headers the API reads (``ALLOWED_HEADERS``; there are no persisted-query headers: APQ hashes and
  trusted-document ids travel in the body or query string), cached for ``MAX_AGE`` seconds. That
  grants nothing: it only lets the browser send the real request.
- The real response decides ``Access-Control-Allow-Origin`` from the key it resolved (the one key
  lookup every request makes, which also answers the tenant's allowed origins: no extra round trip):
  a **publishable** key is public by design (it sits in every page of the site), so any origin may
  read its ``track`` answers, and only those; a **secret** key's answers are readable only from the
  tenant's allowed origins (``setAllowedOrigins``, none by default), compared exactly as the browser
  sends ``Origin``. Without ``Access-Control-Allow-Origin`` the browser refuses the page the answer
  (``fetch`` rejects with a ``TypeError``), though the request itself did run, as any request from a
  program would: a secret-key mutation from an unlisted page is a key leak, not CORS's to stop.
- Answers no key unlocks (no key, an unknown or revoked one) hold nothing but errors and the public
  schema, so any origin may read them: an SDK learns its key was revoked instead of retrying blind.
  When a request fails before its key was looked up (413, 415, bad JSON), the key is looked up then,
  on that error path only, and the rules above apply (a publishable key's errors are readable: the
  SDK must see a 413 to split its batch).
- Credentials are never allowed (no ``Access-Control-Allow-Credentials``): keys travel in headers.
  ``Vary: Origin`` is on every ``/graphql`` response, since any of them may carry the header for one
  origin and not another. ``ETag``, ``Retry-After`` and ``X-Request-ID`` are exposed to pages.
"""

from __future__ import annotations

from graphql import FieldNode, OperationDefinitionNode, OperationType
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from analytics.db import storage_unavailable
from analytics.tenants.service import KeyKind, Principal, resolve_key

ALLOWED_METHODS = "GET, POST"
ALLOWED_HEADERS = "Accept, Authorization, Content-Type, If-None-Match, X-API-Key, X-Request-ID"
EXPOSED_HEADERS = "ETag, Retry-After, X-Request-ID"
MAX_AGE = "600"
NOT_LOOKED_UP = object()


def preflight(request: Request) -> Response:
    """Any ``OPTIONS`` request: 204 with ``Allow``; a CORS preflight also gets the CORS grants."""
    headers = {"Allow": f"{ALLOWED_METHODS}, OPTIONS", "Vary": "Origin"}
    origin = request.headers.get("origin")
    if origin and "access-control-request-method" in request.headers:
        headers.update({
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ALLOWED_METHODS,
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Max-Age": MAX_AGE,
        })
    return Response(status_code=204, headers=headers)


def track_only(operation: OperationDefinitionNode) -> bool:
    """The operation is a mutation whose root fields are ``track`` (``__typename`` aside)."""
    if operation.operation is not OperationType.MUTATION:
        return False
    names = [s.name.value if isinstance(s, FieldNode) else None for s in operation.selection_set.selections]
    return "track" in names and all(name in ("track", "__typename") for name in names)


def readable(origin: str, principal: Principal | None, track: bool | None) -> bool:
    """May a page of ``origin`` read this answer? ``track``: the operation is ``track`` only (None:
    the request failed before its operation was known)."""
    if principal is None:
        return True
    if principal.kind is KeyKind.PUBLISHABLE:
        return track is not False
    return origin in principal.allowed_origins


async def grant(request: Request, response: Response, engine: AsyncEngine, raw_key: str | None) -> None:
    """Add ``Vary: Origin`` and, when the answer is readable from the request's origin, the CORS
    headers. The endpoint leaves ``principal`` (once looked up) and ``track`` in ``request.state``."""
    vary = response.headers.get("vary")
    response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"
    origin = request.headers.get("origin")
    if not origin:
        return
    looked_up = getattr(request.state, "principal", NOT_LOOKED_UP)
    if looked_up is NOT_LOOKED_UP:  # the request failed before its key was looked up (error path)
        try:
            principal = await resolve_key(engine, raw_key) if raw_key else None
        except Exception as exc:  # the answer is already an error; a dead database unlocks nothing
            if not storage_unavailable(exc):
                raise
            principal = None
    else:
        principal = looked_up if isinstance(looked_up, Principal) else None
    if readable(origin, principal, getattr(request.state, "track", None)):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
