"""Real clients against the live endpoint: graphql-http's GraphQL-over-HTTP audit and Apollo Client's APQ link."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).resolve().parent.parent / "js"
NODE_TIMEOUT_SECONDS = 120
# MAY items the endpoint promises anyway: GET queries with URL-encoded variables (what APQ over GET
# needs) and a 4xx (405) for a mutation over GET. Other notices are optional and only printed.
REQUIRED_NOTICES = {
    "5A70": "MAY accept application/x-www-form-urlencoded formatted GET requests",
    "9C48": "MAY NOT allow executing mutations on GET requests",
    "D6D5": "MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting "
            "application/graphql-response+json",
    "6A70": "MAY allow URL-encoded JSON string {variables} parameter in GETs when accepting application/json",
}


@dataclass(frozen=True)
class NodeRun:
    returncode: int
    lines: list[dict[str, Any]]
    stderr: str

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("kind") == kind]

    def explain(self) -> str:
        return "\n".join([*(json.dumps(line) for line in self.lines), self.stderr])


def node_or_skip() -> str:
    """The node binary; a skip (or, with ANALYTICS_REQUIRE_JS=1, a failure) when the JS side is absent."""
    node = shutil.which("node")
    if node is not None and (JS_DIR / "node_modules").is_dir():
        return node
    missing = ("`node` is not on PATH" if node is None
               else f"{JS_DIR / 'node_modules'} is missing (run `npm ci --prefix tests/js`)")
    if os.environ.get("ANALYTICS_REQUIRE_JS") == "1":
        pytest.fail(f"ANALYTICS_REQUIRE_JS=1 but {missing}")
    pytest.skip(f"JS protocol clients not runnable: {missing}")


def error_codes(body: Any) -> list[str | None]:
    if not isinstance(body, dict):
        return [f"<not a JSON object: {body!r:.80}>"]
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


async def run_node(script: str, *args: str, env: dict[str, str] | None = None) -> NodeRun:
    # The server runs on this event loop: a blocking subprocess call would starve it.
    process = await asyncio.create_subprocess_exec(
        node_or_skip(), str(JS_DIR / script), *args, cwd=JS_DIR,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), NODE_TIMEOUT_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"{script} {' '.join(args)} did not finish within {NODE_TIMEOUT_SECONDS}s")
    lines = [json.loads(line) for line in stdout.decode().splitlines() if line.startswith("{")]
    assert process.returncode is not None
    return NodeRun(process.returncode, lines, stderr.decode())


async def test_graphql_over_http_audit_passes_every_must_and_should(base_url: str) -> None:
    run = await run_node("audit.mjs", f"{base_url}/graphql")
    assert run.returncode in (0, 1), run.explain()
    audits = run.of_kind("audit")
    [summary] = run.of_kind("summary")
    assert summary["total"] == len(audits) >= 50, run.explain()
    failed = [f"{a['id']} [{a['status']}] {a['name']}: {a['reason']} -> {json.dumps(a['response'])}"
              for a in audits if a["status"] in ("error", "warn")]
    assert failed == [], "\n".join(failed)
    statuses = {a["id"]: (a["name"], a["status"]) for a in audits}
    assert {id_: statuses.get(id_) for id_ in REQUIRED_NOTICES} == {
        id_: (name, "ok") for id_, name in REQUIRED_NOTICES.items()}, run.explain()
    assert run.returncode == 0, run.explain()


@pytest.mark.parametrize(("mode", "hashed_method"), [("post", "POST"), ("get", "GET")])
async def test_apollo_persisted_queries_register_then_hash_alone(
        base_url: str, make_tenant: Any, mode: str, hashed_method: str) -> None:
    tenant = await make_tenant(timezone="Europe/Berlin")
    run = await run_node("apollo_apq.mjs", f"{base_url}/graphql", mode,
                         env={"ANALYTICS_API_KEY": tenant.secret})
    assert run.returncode in (0, 1), run.explain()
    [summary] = run.of_kind("summary")
    assert [d["message"] for d in run.of_kind("deviation")] == [], run.explain()

    # (client, method, sent the query text?, HTTP status, error codes): the whole conversation.
    conversation = [(ex["client"], ex["method"], ex["query"] is not None, ex["status"], error_codes(ex["body"]))
                    for ex in run.of_kind("exchange")]
    assert conversation == [
        (1, hashed_method, False, 200, ["PERSISTED_QUERY_NOT_FOUND"]),
        (1, "POST", True, 200, []),
        (2, hashed_method, False, 200, []),
    ], run.explain()
    expected = {summary["alias"]: "Query",
                "tenant": {"__typename": "Tenant", "id": str(tenant.id), "timezone": "Europe/Berlin"}}
    assert [(r["client"], r["data"], r["errors"]) for r in run.of_kind("result")] == [
        (1, expected, None), (2, expected, None)], run.explain()
    assert run.returncode == 0, run.explain()
