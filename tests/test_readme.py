"""The README's examples: every GraphQL operation validates against the schema, and the examples marked
live run as they are against a real server (relative dates, so they work on the day they are read)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from graphql import parse, print_ast, validate

from api.schema import schema
from tests.conftest import GraphQLClient, Servers, TenantKeys

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- live:[^>]*-->\n)?```(graphql|sh)\n(.*?)```", re.S)


def test_every_graphql_example_in_the_readme_validates() -> None:
    blocks = re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S)
    operations = [print_ast(d) for block in blocks for d in parse(block).definitions]
    assert len(operations) >= 5
    problems = [(op[:60], [e.message for e in validate(schema._schema, parse(op))]) for op in operations]
    assert [(op, errors) for op, errors in problems if errors] == []


def shell(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=180)


async def test_the_readme_examples_run_against_a_live_server(
        servers: Servers, gql: GraphQLClient, make_tenant: Any, run_worker: Any, tmp_path: Path) -> None:
    tenant: TenantKeys = await make_tenant()
    host = gql.url.removeprefix("http://")
    env = {**os.environ, "PK": tenant.publishable, "SK": tenant.secret, "ANALYTICS_URL": gql.url,
           "ANALYTICS_KEY": tenant.secret, "ANALYTICS_CONFIG": str(tmp_path / "none.toml"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    ran: dict[str, int] = {"sh": 0, "graphql": 0}
    tracked: dict[str, Any] = {}
    tours_read = 0
    for live, kind, body in BLOCK.findall(README.read_text()):
        if kind == "graphql":
            for operation in parse(body).definitions:
                answer = await gql(tenant.secret, print_ast(operation))
                assert "errors" not in answer, (print_ast(operation)[:80], answer["errors"])
                tour = (answer["data"].get("tenant") or {}).get("tour")
                if tour is not None:  # the tour the track example started, named by defineTour
                    assert (tour["title"], tour["stats"]["starts"], tour["stats"]["stepViews"]) == (
                        "Onboarding", 1, 1)
                    tours_read += 1
                ran["graphql"] += 1
            continue
        if not live:
            continue
        script = body.replace("localhost:8000", host).replace("127.0.0.1:8000", host)
        result = await asyncio.to_thread(shell, script, env, tmp_path)
        assert result.returncode == 0, (body[:80], result.stderr)
        if "track(events" in body:
            tracked = json.loads(result.stdout)["data"]["track"]
            # Every example that sends events (the browser's, a server SDK's in Python and in curl) works.
            assert tracked["accepted"] >= 1 and tracked.get("rejected", 0) == 0, (body[:80], tracked)
            await run_worker()
        ran["sh"] += 1
    assert (tracked["accepted"], tracked["rejected"]) == (3, 0) and tours_read == 1
    text = README.read_text()
    operations = sum(len(parse(b).definitions) for b in re.findall(r"```graphql\n(.*?)```", text, re.S))
    assert ran == {"sh": text.count("<!-- live:"), "graphql": operations} and operations >= 9, ran
    assert headers(tmp_path) == {"sources.csv": ["table", "source", "sessions", "visitors"],
                                 "events.csv": ["occurred_at", "id", "received_at", "type"]}


def headers(folder: Path) -> dict[str, list[str]]:
    """The first columns of each CSV file the examples wrote (curl -OJ names the events export)."""
    return {("events.csv" if p.name.startswith("events") else p.name): p.read_text().split("\n")[0].split(",")[:4]
            for p in folder.iterdir() if p.suffix == ".csv"}
