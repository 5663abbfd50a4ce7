"""The browser SDK: ``GET /sdk.js`` over HTTP, the file in a non-editable install (a built wheel), and
the SDK's own node tests (``node --test sdk/test/``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILT = ROOT / "api" / "sdk" / "sdk.js"


async def test_sdk_js_is_served_to_any_site_cached_and_revalidated(http: httpx.AsyncClient,
                                                                    base_url: str) -> None:
    response = await http.get(f"{base_url}/sdk.js", headers={"Origin": "https://shop.example.com"})
    assert response.status_code == 200
    assert response.content == BUILT.read_bytes()
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-encoding"] == "gzip"  # httpx asked for it and decoded it
    assert response.headers["etag"] == '"' + hashlib.sha256(BUILT.read_bytes()).hexdigest()[:32] + '"'
    assert len(response.content) < 12_000
    again = await http.get(f"{base_url}/sdk.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == response.headers["etag"]
    assert (await http.post(f"{base_url}/sdk.js")).status_code == 405


def test_a_non_editable_install_has_the_sdk(tmp_path: Path) -> None:
    """Build a wheel from a copy of the sources (pip, as `pip install .` does), unpack it as an
    install would, and read the file through importlib.resources from there."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("analytics", "api", "workers", "migrations"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "out"),
                            str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "out").glob("*.whl")
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    probe = ("import api.sdk, sys; content, etag = api.sdk.script(); "
             "print(api.sdk.__file__); sys.stdout.buffer.write(content)")
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(installed)})
    assert run.returncode == 0, run.stderr.decode()
    where, _, content = run.stdout.partition(b"\n")
    assert where.decode() == str(installed / "api" / "sdk" / "__init__.py")
    assert content == BUILT.read_bytes()


async def test_the_sdk_node_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("ANALYTICS_REQUIRE_JS") == "1":
            pytest.fail("ANALYTICS_REQUIRE_JS=1 but node is not installed")
        pytest.skip("node is not installed")
    run = await asyncio.create_subprocess_exec(node, "--test", "sdk/test/", cwd=ROOT,
                                               stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(run.communicate(), timeout=120)
    assert run.returncode == 0, output.decode()
    assert "# fail 0" in output.decode()
