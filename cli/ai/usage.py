"""``analytics tools stats|trends|show`` and ``analytics conversations stats|trends|list``."""

from __future__ import annotations

import typer

from cli.ai.operations import trends_command
from cli.ai.reading import Agent, CompareRows, Reading, compared, limit_option, points, stat_rows, with_total
from cli.common import fail
from cli.output import Section
from cli.reporting import ReportOptions, report_options

tools_app = typer.Typer(help="Tool calls: stats, trends, one tool.", no_args_is_help=True)
conversations_app = typer.Typer(help="AI conversations: stats, trends, the list.", no_args_is_help=True)
tools_app.command("trends")(trends_command("CliToolTrends", "tools", "tool calls", ("toolCalls", "cost")))


@tools_app.command("stats")
@report_options()
def tools_stats(options: ReportOptions, limit: int = limit_option(20), compare: str = CompareRows) -> None:
    """Each tool's calls, errors and error rate, durations (ms) and cost, the most calls first
    (--compare: each beside the same tool's calls and cost in the comparison period)."""
    reading = Reading(options, compare=compare)
    data = reading.data("CliToolStats", "tools", limit=limit)
    found = [compared(dict(t), ("calls", "cost")) for t in data["stats"]]
    summed = ("calls", "errors", "cost", "previousCalls", "previousCost")
    rows = with_total(found, "name", [s for s in summed if s in found[0]] if found else [])
    reading.show("tools", data, {"tools": data["stats"]}, [Section("tools", rows)])


@tools_app.command("show")
@report_options(group_by=True)
def tools_show(
    options: ReportOptions,
    name: str = typer.Argument(..., help="The tool's name (gen_ai.tool.name)."),
    compare: str = CompareRows,
) -> None:
    """One tool: its calls, errors, durations and cost, and its calls per bucket (--compare: each
    bucket beside the comparison period's)."""
    reading = Reading(options, compare=compare)
    data = reading.data("CliToolShow", "tool", name=name)
    if data["stats"] is None:
        raise fail(f"no calls of tool {name!r} in this range", 1)
    reading.show(
        f"tool {name}",
        data,
        {"tool": data},
        [Section("stats", [data["stats"]]), Section("calls", points(data["trends"]))],
    )


@conversations_app.command("stats")
@report_options(compare=True)
def conversations_stats(options: ReportOptions, agent: str | None = Agent) -> None:
    """Conversations, turns, requests, tokens, cost and averages per conversation, compared."""
    reading = Reading(options)
    data = reading.data("CliConversationStats", "conversations", agent=agent)
    names = [k for k in data["stats"] if k not in ("previous", "change")]
    reading.show(
        "conversations",
        data,
        {"stats": data["stats"]},
        [Section("conversations", stat_rows(data["stats"], names))],
    )


@conversations_app.command("trends")
@report_options(group_by=True)
def conversations_trends(
    options: ReportOptions, agent: str | None = Agent, compare: str = CompareRows
) -> None:
    """Conversations active, turns and cost per day, week or month (--compare: each point beside the
    comparison period's)."""
    reading = Reading(options, compare=compare)
    if reading.variables.get("granularity") == "HOUR":
        raise fail("--group-by: conversations are kept per day: use day, week or month", 2)
    data = reading.data("CliConversationTrends", "conversations", agent=agent)
    rows = points(data["trends"], ("turns", "cost"), ("conversations", "cost"))
    reading.show(
        f"conversations per {data['trends']['granularity'].lower()}",
        data,
        {"trends": data["trends"]},
        [Section("conversations", rows)],
    )


@conversations_app.command("list")
@report_options()
def conversations_list(
    options: ReportOptions, limit: int = limit_option(20), agent: str | None = Agent
) -> None:
    """Conversations, the latest first: agent, turns, requests, tokens, cost and duration."""
    reading = Reading(options)
    data = reading.data("CliConversationList", "conversations", limit=limit, agent=agent)
    rows = with_total([dict(c) for c in data["list"]], "id", ("turns", "requests", "tokens", "cost"))
    reading.show("conversations", data, {"conversations": data["list"]}, [Section("conversations", rows)])
