"""GraphiQL works offline: the page and its vendored assets over HTTP, then a real headless Chromium."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import httpx

from api.graphiql import vendor
from tests.browser import require_browser, run_browser_script
from tests.conftest import TenantKeys

HTML = {"Accept": "text/html,application/xhtml+xml"}
ASSET_REFERENCE = re.compile(r"""(?:src|href)="([^"]*)\"""")
JS_TYPES = ("text/javascript", "application/javascript")  # mimetypes differs between platforms
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]*)""")


async def graphiql_html(http: httpx.AsyncClient, base_url: str) -> str:
    response = await http.get(f"{base_url}/graphql", headers=HTML)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def asset_paths(html: str) -> list[str]:
    return [ref for ref in ASSET_REFERENCE.findall(html) if not ref.startswith("data:")]


async def test_the_page_references_only_same_origin_assets(http: httpx.AsyncClient, base_url: str) -> None:
    response = await http.get(f"{base_url}/graphql", headers=HTML)
    html = response.text
    assert "http://" not in html and "https://" not in html and "//unpkg" not in html
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    paths = asset_paths(html)
    assert len(paths) == 8, paths  # 3 stylesheets, 5 scripts
    assert all(re.fullmatch(r"/graphiql/static/[\w.-]+\?v=[0-9a-f]{16}", path) for path in paths), paths
    assert "<script>" not in html  # nothing inline: a strict script-src 'self' holds


async def test_every_asset_is_served_versioned_and_cacheable(http: httpx.AsyncClient, base_url: str) -> None:
    html = await graphiql_html(http, base_url)
    for path in asset_paths(html):
        response = await http.get(f"{base_url}{path}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, path
        kind = "text/css" if path.split("?")[0].endswith(".css") else "javascript"
        content_type = response.headers["content-type"]
        assert content_type.startswith(("text/css",) if kind == "text/css" else JS_TYPES), (path, content_type)
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable", path
        assert path.endswith("?v=" + hashlib.sha256(response.content).hexdigest()[:16]), path
        if len(response.content) > 1024:
            assert response.headers["content-encoding"] == "gzip", path
        if kind == "text/css":
            # Fonts and icons inside the vendored CSS must be data: URLs, never fetched from elsewhere.
            assert not [u for u in CSS_URL.findall(response.text) if not u.startswith(("data:", "#"))], path
            assert "@import" not in response.text, path


async def test_an_unversioned_asset_is_revalidated(http: httpx.AsyncClient, base_url: str) -> None:
    stale = await http.get(f"{base_url}/graphiql/static/page.js?v=0000000000000000")
    assert stale.status_code == 200
    assert stale.headers["cache-control"] == "no-cache"
    again = await http.get(f"{base_url}/graphiql/static/page.js", headers={"If-None-Match": stale.headers["etag"]})
    assert again.status_code == 304
    assert (await http.get(f"{base_url}/graphiql/static/nothing.js")).status_code == 404


async def test_a_json_get_is_answered_with_json_not_the_page(http: httpx.AsyncClient, base_url: str) -> None:
    response = await http.get(f"{base_url}/graphql", params={"query": "{ __typename }"},
                              headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": {"__typename": "Query"}}


def test_vendored_files_match_their_recorded_sha256() -> None:
    assert vendor.check() == []


async def test_graphiql_runs_a_query_in_headless_chromium(base_url: str, make_tenant: Any,
                                                          tmp_path: Path) -> None:
    await require_browser()
    tenant: TenantKeys = await make_tenant(timezone="Pacific/Chatham")
    screenshot = os.environ.get("GRAPHIQL_SCREENSHOT") or str(tmp_path / "graphiql.png")
    env = {"GRAPHIQL_API_KEY": tenant.secret, "GRAPHIQL_SCREENSHOT": screenshot,
           "GRAPHIQL_QUERY": "{ tenant { id timezone } }", "GRAPHIQL_EXPECT": f'"id": "{tenant.id}"'}
    report = await run_browser_script("graphiql.mjs", f"{base_url}/graphql", env=env,
                                      hint=f"screenshot: {screenshot}")
    assert report["blocked"] == []
    assert report["failed"] == [] and report["consoleErrors"] == []
    assert report["explorerListsTenant"] and report["keyRemembered"]
    assert report["result"] == {"data": {"tenant": {"id": str(tenant.id), "timezone": "Pacific/Chatham"}}}
    requests = report["graphqlRequests"]
    assert requests[0] == {"authorized": False, "introspection": True}  # the explorer needed no key
    assert [r for r in requests if not r["introspection"]] == [{"authorized": True, "introspection": False}]
