"""GraphiQL at /graphql in a browser, served from vendored files so it works offline."""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path
from string import Template
from urllib.parse import parse_qs

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

PAGE_TEMPLATE = Path(__file__).parent / "page.html"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/graphiql/static"

# page.html placeholder -> file in static/ (vendor.py lists where the vendored ones come from).
PAGE_ASSETS = {
    "graphiql_css": "graphiql.min.css",
    "explorer_css": "plugin-explorer.css",
    "page_css": "page.css",
    "react_js": "react.production.min.js",
    "react_dom_js": "react-dom.production.min.js",
    "graphiql_js": "graphiql.min.js",
    "explorer_js": "plugin-explorer.umd.js",
    "page_js": "page.js",
}

# Same-origin everything; fonts and icons in the vendored CSS are data: URLs.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",  # CodeMirror's dialogs are HTML strings with style="..."
    "img-src 'self' data:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@functools.lru_cache(maxsize=64)
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def asset_version(name: str) -> str:
    """A short content hash of one static file; a new hash as soon as the file changes on disk."""
    path = STATIC_DIR / name
    stat = path.stat()
    return _digest(path, stat.st_mtime_ns, stat.st_size)


def asset_url(request: Request, name: str) -> str:
    """Same-origin path of a static file, with its version for cache busting."""
    root_path = request.scope.get("root_path", "")
    return f"{root_path}{STATIC_PREFIX}/{name}?v={asset_version(name)}"


@functools.cache
def _page_template() -> Template:
    return Template(PAGE_TEMPLATE.read_text(encoding="utf-8"))


def graphiql_page(request: Request) -> HTMLResponse:
    html = _page_template().substitute({slot: asset_url(request, name) for slot, name in PAGE_ASSETS.items()})
    return HTMLResponse(html, headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "Cache-Control": REVALIDATE,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    })


class VersionedStaticFiles(StaticFiles):
    """Static files cached for a year when the URL names the file's current version, else revalidated."""

    def file_response(self, full_path: PathLike, stat_result: os.stat_result, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        requested = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [""])[0]
        current = _digest(Path(full_path), stat_result.st_mtime_ns, stat_result.st_size)
        response.headers["Cache-Control"] = IMMUTABLE if requested == current else REVALIDATE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def graphiql_routes() -> list[BaseRoute]:
    """The page's static assets, gzipped on the way out (graphiql.min.js is 3.5 MB, 0.7 MB gzipped)."""
    files = VersionedStaticFiles(directory=STATIC_DIR)
    return [Mount(STATIC_PREFIX, app=GZipMiddleware(files, minimum_size=1024, compresslevel=6),
                  name="graphiql-static")]
