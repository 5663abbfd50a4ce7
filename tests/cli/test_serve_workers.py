"""``analytics serve --workers 2``: two API processes on one port, each storing what it acknowledges."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.embedded import free_port
from tests.conftest import TRACK, Servers, event

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as fh:
                if entry.isdigit() and int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.fixture
def two_processes(servers: Servers) -> Iterator[str]:
    """``analytics serve --workers 2`` until the test ends (stopped with SIGINT, which must exit 0)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": servers.redis_url}
    api = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port), "--workers", "2"],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert api.poll() is None, api.stderr.read() if api.stderr else ""
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200 and len(_children(api.pid)) >= 2:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the two API processes did not start"
            time.sleep(0.1)
        yield url
    finally:
        api.send_signal(signal.SIGINT)
        try:
            api.wait(30)
        except subprocess.TimeoutExpired:
            api.kill()
            api.wait(5)
    assert api.returncode == 0


async def test_two_api_processes_share_the_port_and_store_every_acknowledged_event(
        two_processes: str, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    batches = [[event("TourStarted", "2025-05-01T10:00:00Z", f"u{i}", tourId="t1")] for i in range(40)]

    async def send(batch: list[dict[str, Any]]) -> int:
        # A connection each, so the kernel spreads them over both processes.
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.post(f"{two_processes}/graphql", json={"query": TRACK, "variables": {"events": batch}},
                                       headers={"Authorization": f"Bearer {tenant.publishable}"})
            assert response.status_code == 200, response.text
            return int(response.json()["data"]["track"]["accepted"])

    assert sum(await asyncio.gather(*(send(b) for b in batches))) == 40
    async with owner_engine.connect() as conn:
        stored = (await conn.execute(text("SELECT count(*) FROM events WHERE tenant_id = :t"),
                                     {"t": tenant.id})).scalar_one()
    assert stored == 40
