"""``analytics users erase|export ID``: the jobs queued through the graph, followed until done."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import GraphQLClient, Servers, TenantKeys, report
from tests.users.test_erasure import other_events, person_events


async def _with_worker(command: Any, run_worker: Any) -> Any:
    """Run the command while burst workers take the jobs it queues."""
    task = asyncio.create_task(command)
    while not task.done():
        await run_worker()
        await asyncio.sleep(0.2)
    return task.result()


async def test_users_export_then_erase(servers: Servers, gql: GraphQLClient, make_tenant: Any,
                                       run_worker: Any, tmp_path: Path) -> None:
    person = f"cli-person-{uuid.uuid4().hex[:8]}"
    tenant: TenantKeys = await make_tenant()
    assert (await gql.track(tenant.publishable, person_events(person) + other_events()))["accepted"] == 13
    await run_worker()
    saved = tmp_path / "person.json"
    exported = await _with_worker(report(servers, gql.url, tenant.secret, "users", "export", person,
                                         "-o", str(saved)), run_worker)
    assert exported.returncode == 0, exported.stderr
    assert "userExport" in exported.stdout and "done" in exported.stdout
    assert len(json.loads(saved.read_text())["events"]) == 8
    erased = await _with_worker(report(servers, gql.url, tenant.secret, "users", "erase", person, "--json"),
                                run_worker)
    assert erased.returncode == 0, erased.stderr
    job = json.loads(erased.stdout.strip().splitlines()[-1])
    assert job["status"] == "DONE"
    assert {c["kind"]: c["rows"] for c in job["counts"]}["events"] == 8
    refused = await report(servers, gql.url, tenant.publishable, "users", "erase", person)
    assert refused.returncode == 4, refused.stderr
    both = await report(servers, gql.url, tenant.secret, "users", "erase", "", "--anonymous")
    assert both.returncode == 1 and "anonymousId" in both.stderr
