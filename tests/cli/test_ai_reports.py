"""The AI reporting commands (costs, requests, agents, tools, conversations) as a user runs them, over
HTTP against a real server: the graph's figures, tables with totals and trend arrows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.ai.test_costs_graph import EVENTS
from tests.conftest import GraphQLClient, Servers, report

RANGE = ("--since", "2026-11-01", "--until", "2026-11-03")
COMMANDS = [
    ("costs", "summary"),
    ("costs", "trends", "--group-by", "day"),
    ("costs", "breakdown", "--by", "agent"),
    ("requests", "stats"),
    ("requests", "list", "--limit", "50", "--model", "acme"),
    ("requests", "trends"),
    ("requests", "models"),
    ("agents", "stats"),
    ("agents", "trends"),
    ("agents", "list"),
    ("agents", "show", "sales"),
    ("tools", "stats"),
    ("tools", "trends"),
    ("tools", "show", "crm"),
    ("conversations", "stats"),
    ("conversations", "trends"),
    ("conversations", "list"),
]


async def run(servers: Servers, url: str, key: str, *args: str) -> Any:
    result = await report(servers, url, key, *args, "--json")
    assert result.returncode == 0, (args, result.stderr)
    return json.loads(result.stdout)


async def test_ai_commands_match_the_graph(
    servers: Servers, gql: GraphQLClient, make_tenant: Any, run_worker: Any, tmp_path: Path
) -> None:
    tenant = await make_tenant()
    await gql.track(tenant.publishable, EVENTS)
    await run_worker()
    results = {args: await run(servers, gql.url, tenant.secret, *args, *RANGE) for args in COMMANDS}
    summary = results[("costs", "summary")]["summary"]
    assert (summary["total"], summary["requests"], summary["unpricedTokens"]) == (1.3, 4, 3_610_000)
    assert [(r["key"], r["cost"]) for r in results[("costs", "breakdown", "--by", "agent")]["breakdown"]] == [
        ("sales", 1.3),
        ("support", 0.0),
    ]
    assert results[("requests", "list", "--limit", "50", "--model", "acme")]["list"]["totalCount"] == 4
    assert results[("requests", "stats")]["stats"]["errorRate"] == 25.0
    assert [a["name"] for a in results[("agents", "list")]["agents"]] == ["sales", "support"]
    assert results[("tools", "show", "crm")]["tool"]["stats"]["calls"] == 2
    assert results[("conversations", "list")]["conversations"][0]["id"] == "c1"
    # Tables: totals and trend arrows; --days; CSV export.
    table = await report(servers, gql.url, tenant.secret, "costs", "summary", *RANGE)
    assert table.returncode == 0, table.stderr
    assert "unpriced tokens" in table.stdout and "acme-1" in table.stdout and "total" in table.stdout
    assert "- " in table.stdout  # no base to compare with
    breakdown = await report(
        servers,
        gql.url,
        tenant.secret,
        "costs",
        "breakdown",
        "--by",
        "model",
        *RANGE,
        "--export",
        str(tmp_path / "models.csv"),
    )
    assert breakdown.returncode == 0, breakdown.stderr
    assert (tmp_path / "models.csv").read_text().splitlines()[1] == "acme-1,acme,1.25,3610100,3610000,4,96.15"
    days = await report(servers, gql.url, tenant.secret, "costs", "summary", "--days", "30", "--json")
    assert days.returncode == 0, days.stderr
    bad = await report(servers, gql.url, tenant.secret, "costs", "breakdown", "--by", "colour")
    assert bad.returncode == 2 and "--by" in bad.stderr
    # Prices through the CLI: a custom model priced from Nov 1 on; the price table lists it.
    priced = await report(
        servers,
        gql.url,
        tenant.secret,
        "prices",
        "set",
        "--provider",
        "acme",
        "--model",
        "acme-1",
        "--from",
        "2026-11-01",
        "--input",
        "1",
        "--output",
        "2",
        "--json",
    )
    assert priced.returncode == 0, priced.stderr
    assert {(p["usageType"], p["usdPerMillionTokens"]) for p in json.loads(priced.stdout)["prices"]} == {
        ("input", 1.0),
        ("output", 2.0),
        ("reasoning", 2.0),
    }
    listed = await run(servers, gql.url, tenant.secret, "prices", "list", "--model", "acme-1")
    assert len(listed["prices"]) == 3 and {p["source"] for p in listed["prices"]} == {"tenant"}
    # The library's prices synced: the test events' only model (acme-1) is unknown to it.
    synced = await run(servers, gql.url, tenant.secret, "prices", "sync")
    assert (synced["models"], synced["added"], synced["changed"], synced["removed"]) == (1, 0, 0, 0)
