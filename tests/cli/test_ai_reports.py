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
    tool = next(line for line in table.stdout.splitlines() if line.startswith("│ tool "))
    assert [c.strip() for c in tool.strip("│ ").split("│")] == ["tool", "0", "0.0500"]  # USD to 4 decimals
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


async def test_trends_and_breakdown_compare_and_requests_narrowed(
    servers: Servers, gql: GraphQLClient, make_tenant: Any, run_worker: Any
) -> None:
    """--compare on trends and the breakdown (off unless asked), --model/--agent on requests stats and
    trends. Nov 2-3 compared with the previous period, Oct 31-Nov 1: only Nov 1's request of c1 (agent
    support, unpriced: cost 0) and its turn are in it."""
    tenant = await make_tenant()
    await gql.track(tenant.publishable, EVENTS)
    await run_worker()
    days = ("--since", "2026-11-02", "--until", "2026-11-03", "--group-by", "day")
    compare = ("--compare", "previous")

    async def data(*args: str) -> Any:
        return await run(servers, gql.url, tenant.secret, *args)

    costs = (await data("costs", "trends", *days, *compare))["trends"]
    assert costs["comparisonPeriod"]["from"] == "2026-10-31T00:00:00+00:00"
    assert [(p["requests"], p["cost"], p["previous"], p["change"]) for p in costs["points"]] == [
        (
            1,
            0.0,
            {"cost": 0.0, "requests": 0, "toolCalls": 0},
            {"cost": None, "requests": None, "toolCalls": None},
        ),
        (
            2,
            1.3,
            {"cost": 0.0, "requests": 1, "toolCalls": 0},
            {"cost": None, "requests": 100.0, "toolCalls": None},
        ),
    ]
    plain = (await data("costs", "trends", *days))["trends"]  # not compared unless asked
    assert plain["comparisonPeriod"] is None and plain["points"][1]["previous"] is None
    conversations = (await data("conversations", "trends", *days, *compare))["trends"]["points"]
    assert [(p["conversations"], p["turns"], p["previous"]) for p in conversations] == [
        (1, 0, {"conversations": 0, "turns": 0, "cost": 0.0}),
        (0, 0, {"conversations": 1, "turns": 1, "cost": 0.0}),
    ]
    for command in (
        ("requests", "trends"),
        ("agents", "trends"),
        ("tools", "trends"),
        ("tools", "show", "crm"),
    ):
        points = await data(*command, *days, *compare)
        series = points["tool"]["trends"] if command[-1] == "crm" else points["trends"]
        assert [p["previous"] is not None for p in series["points"]] == [True, True], command
    tools = await report(servers, gql.url, tenant.secret, "tools", "trends", *days, *compare)
    assert tools.returncode == 0, tools.stderr
    header = next(line for line in tools.stdout.splitlines() if "start" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")][-4:] == [
        "previousToolCalls",
        "toolCallsTrend",
        "previousCost",
        "costTrend",
    ]
    breakdown = (await data("costs", "breakdown", "--by", "agent", *days[:4], *compare))["breakdown"]
    assert [(r["key"], r["cost"], r["requests"], r["previous"], r["change"]) for r in breakdown] == [
        ("sales", 1.3, 2, {"cost": 0.0, "requests": 0}, {"cost": None, "requests": None}),
        ("support", 0.0, 1, {"cost": 0.0, "requests": 1}, {"cost": None, "requests": 0.0}),
    ]
    table = await report(
        servers, gql.url, tenant.secret, "costs", "breakdown", "--by", "agent", *days[:4], *compare
    )
    assert table.returncode == 0, table.stderr
    support = next(line for line in table.stdout.splitlines() if "support" in line)
    assert [c.strip() for c in support.strip("│ ").split("│")][-4:] == ["0.0000", "-", "1", "▶ +0.0%"]
    # Rankings compared: agents, models, tools.
    agents = (await data("agents", "list", *days[:4], *compare))["agents"]
    assert [(a["name"], a["stats"]["count"], a["previous"], a["change"]) for a in agents] == [
        ("sales", 2, {"count": 0, "cost": 0.0}, {"count": None, "cost": None}),
        ("support", 1, {"count": 1, "cost": 0.0}, {"count": 0.0, "cost": None}),
    ]
    models = (await data("requests", "models", *days[:4], *compare))["models"]
    assert [
        (m["model"], m["stats"]["count"], m["stats"]["cost"], m["previous"], m["change"]) for m in models
    ] == [("acme-1", 3, 1.25, {"count": 1, "cost": 0.0}, {"count": 200.0, "cost": None})]
    tools = (await data("tools", "stats", *days[:4], *compare))["tools"]
    assert [(t["name"], t["calls"], t["cost"], t["previous"], t["change"]) for t in tools] == [
        ("crm", 2, 0.05, {"calls": 0, "cost": 0.0}, {"calls": None, "cost": None})
    ]
    listed = await report(servers, gql.url, tenant.secret, "requests", "models", *days[:4], *compare)
    assert listed.returncode == 0, listed.stderr
    acme = next(line for line in listed.stdout.splitlines() if "acme-1" in line)
    assert [c.strip() for c in acme.strip("│ ").split("│")][-4:] == ["1", "▲ +200.0%", "0.0000", "-"]
    # Requests narrowed by exact model and agent (the whole of Nov 1-3).
    stats = (await data("requests", "stats", *RANGE, "--agent", "support"))["stats"]
    assert (stats["count"], stats["errors"], stats["errorRate"]) == (2, 1, 50.0)
    assert abs(stats["latencyP50"] - 1000) <= 10  # support's latencies 1000 and 2000: the sketch's 1 %
    sales = (await data("requests", "stats", *RANGE, "--model", "acme-1", "--agent", "sales"))["stats"]
    assert (sales["count"], sales["errors"], sales["cancelled"], sales["cost"]) == (2, 0, 1, 1.25)
    none = (await data("requests", "stats", *RANGE, "--model", "acme"))["stats"]  # exact, not contains
    assert none["count"] == 0
    trends = (await data("requests", "trends", *RANGE, "--group-by", "day", "--agent", "sales"))["trends"]
    assert [p["requests"] for p in trends["points"]] == [0, 0, 2]
    bad = await report(servers, gql.url, tenant.secret, "costs", "trends", "--compare", "lastweek")
    assert bad.returncode == 2 and "--compare" in bad.stderr
