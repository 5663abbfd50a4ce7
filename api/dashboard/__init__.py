"""The dashboard at ``/dashboard``: a client of the public graph and nothing else.

The page is plain ES modules (``static/*.js``) and a vendored uPlot (``vendor.py`` records its
version and sha256), served same-origin under the strict CSP of GraphiQL's page: it works offline
and no build step is needed. Its GraphQL operations are ``queries/*.graphql``, trusted documents the
server registers for every tenant when it starts (``server_documents``): the page sends only their
ids over GET, so it runs under allowlist mode and auto-refresh revalidates with the ETag.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from string import Template

from graphql import OperationDefinitionNode, parse
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from api.graphiql import REVALIDATE, VersionedStaticFiles, _digest

PACKAGE = Path(__file__).parent
STATIC_DIR = PACKAGE / "static"
STATIC_PREFIX = "/dashboard/static"

PAGE_ASSETS = {"uplot_css": "uPlot.min.css", "page_css": "dashboard.css", "app_js": "app.js"}

# As GraphiQL's page, without 'unsafe-inline' styles: nothing on this page needs them (uPlot sizes
# its elements through the CSSOM, which CSP does not govern).
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])


@functools.cache
def documents() -> dict[str, str]:
    """Operation name -> document text of every dashboard query (one named query per file)."""
    found = {}
    for entry in (resources.files(__package__) / "queries").iterdir():
        if entry.name.endswith(".graphql"):
            text = entry.read_text(encoding="utf-8")
            operations = [d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) != 1 or operations[0].name is None:
                raise RuntimeError(f"dashboard query {entry.name}: one named operation per file")
            found[operations[0].name.value] = text
    return found


def document_id(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def server_documents() -> dict[str, str]:
    """Document id -> text: the trusted documents the server registers for every tenant at startup."""
    return {document_id(text): text for text in documents().values()}


def asset_version(name: str) -> str:
    path = STATIC_DIR / name
    stat = path.stat()
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def asset_url(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}{STATIC_PREFIX}/{name}?v={asset_version(name)}"


@functools.cache
def _page_template() -> Template:
    return Template((PACKAGE / "page.html").read_text(encoding="utf-8"))


def _manifest(request: Request) -> str:
    """What app.js needs: the endpoint and the document ids by name. A JSON data block (never
    executed, so script-src 'self' holds); '<' escaped so it cannot close the element."""
    root = request.scope.get("root_path", "")
    data = {"endpoint": f"{root}/graphql",
            "documents": {name: document_id(text) for name, text in sorted(documents().items())}}
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")


async def dashboard_page(request: Request) -> Response:
    slots = {slot: asset_url(request, name) for slot, name in PAGE_ASSETS.items()}
    html = _page_template().substitute({**slots, "manifest": _manifest(request)})
    return HTMLResponse(html, headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": REVALIDATE,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    })


async def dashboard_slash(request: Request) -> Response:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/dashboard", status_code=308)


def dashboard_routes() -> list[BaseRoute]:
    files = VersionedStaticFiles(directory=STATIC_DIR)
    return [
        Route("/dashboard", dashboard_page, methods=["GET"]),
        Route("/dashboard/", dashboard_slash, methods=["GET"]),
        Mount(STATIC_PREFIX, app=GZipMiddleware(files, minimum_size=1024, compresslevel=6),
              name="dashboard-static"),
    ]


__all__ = ["CONTENT_SECURITY_POLICY", "dashboard_routes", "documents", "server_documents"]
