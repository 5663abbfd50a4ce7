"""``analytics requests stats|list|trends|models`` and ``analytics agents stats|trends|list|show``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import typer

from cli.ai.reading import (
    COMPARED,
    REQUEST_NAMES,
    Agent,
    CompareRows,
    ExactModel,
    Model,
    Reading,
    compared,
    flat,
    limit_option,
    points,
    stat_rows,
    with_total,
)
from cli.common import fail
from cli.output import Section
from cli.reporting import ReportOptions, report_options

agents_app = typer.Typer(help="AI agents: stats, trends, one agent, the list.", no_args_is_help=True)
requests_app = typer.Typer(help="AI requests: stats, single requests, trends, models.", no_args_is_help=True)


def show_stats(options: ReportOptions, operation: str, root: str, what: str, **narrowed: str | None) -> None:
    reading = Reading(options)
    data = reading.data(operation, root, **narrowed)
    reading.show(
        what, data, {"stats": data["stats"]}, [Section(what, stat_rows(data["stats"], REQUEST_NAMES))]
    )


def show_trends(
    options: ReportOptions,
    compare: str,
    operation: str,
    root: str,
    what: str,
    compared: Sequence[str] = COMPARED,
    **narrowed: str | None,
) -> None:
    reading = Reading(options, compare=compare)
    data = reading.data(operation, root, **narrowed)
    reading.show(
        f"{what} per {data['trends']['granularity'].lower()}",
        data,
        {"trends": data["trends"]},
        [Section(what, points(data["trends"], names=compared))],
    )


STATS_HELP = (
    "{}: requests, errors and error rate, tokens, cost, latency percentiles (ms), compared with the "
    "previous period."
)
TRENDS_HELP = (
    "{} per hour, day, week or month: requests, errors, tokens, cost, tool calls (--compare: each "
    "point beside the comparison period's)."
)


def stats_command(operation: str, root: str, what: str) -> Callable[..., None]:
    @report_options(compare=True)
    def command(options: ReportOptions) -> None:
        show_stats(options, operation, root, what)

    command.__doc__ = STATS_HELP.format(what.capitalize())
    return command


def trends_command(
    operation: str, root: str, what: str, compared: Sequence[str] = COMPARED
) -> Callable[..., None]:
    """``compared``: the figures shown beside the comparison period's with --compare."""

    @report_options(group_by=True)
    def command(options: ReportOptions, compare: str = CompareRows) -> None:
        show_trends(options, compare, operation, root, what, compared)

    command.__doc__ = TRENDS_HELP.format(what.capitalize())
    return command


@requests_app.command("stats")
@report_options(compare=True)
def requests_stats(options: ReportOptions, model: str | None = ExactModel, agent: str | None = Agent) -> None:
    """Request stats: requests, errors and error rate, tokens, cost, latency percentiles (ms), compared
    with the previous period; --model and --agent narrow them."""
    show_stats(options, "CliRequestStats", "requests", "request stats", model=model, agent=agent)


@requests_app.command("trends")
@report_options(group_by=True)
def requests_trends(
    options: ReportOptions,
    compare: str = CompareRows,
    model: str | None = ExactModel,
    agent: str | None = Agent,
) -> None:
    """Requests per hour, day, week or month: requests, errors, tokens, cost, tool calls (--compare: each
    point beside the comparison period's); --model and --agent narrow them."""
    show_trends(options, compare, "CliRequestTrends", "requests", "requests", model=model, agent=agent)


agents_app.command("stats")(stats_command("CliAgentStats", "agents", "agent stats"))
agents_app.command("trends")(trends_command("CliAgentTrends", "agents", "agents"))


PREVIOUS_FIGURES = ("previousCount", "previousCost")


def ranked(item: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """A model's or agent's row; compared, its requests and cost beside the comparison period's."""
    return compared(
        {**row, "previous": item.get("previous"), "change": item.get("change")}, ("count", "cost")
    )


@requests_app.command("list")
@report_options()
def requests_list(
    options: ReportOptions,
    limit: int = limit_option(20),
    model: str | None = Model,
    agent: str | None = Agent,
    status: str | None = typer.Option(None, "--status", help="ok, error or cancelled."),
) -> None:
    """Single AI requests, newest first, with tokens, latency and cost (blank: some tokens unpriced)."""
    if status is not None and status not in ("ok", "error", "cancelled"):
        raise fail("--status: must be ok, error or cancelled", 2)
    reading = Reading(options)
    data = reading.data("CliRequestList", "requests", first=limit, model=model, agent=agent, status=status)
    found = data["list"]
    rows = with_total(
        [dict(r) for r in found["nodes"]],
        "occurredAt",
        ("inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens", "reasoningTokens", "cost"),
    )
    reading.show(
        f"requests ({found['totalCount']} in all)", data, {"list": found}, [Section("requests", rows)]
    )


@requests_app.command("models")
@report_options()
def requests_models(
    options: ReportOptions, limit: int = limit_option(20), compare: str = CompareRows
) -> None:
    """Models used, the most requests first: priced or not, requests, errors, tokens, cost, latency
    (--compare: each beside the same model's requests and cost in the comparison period)."""
    reading = Reading(options, compare=compare)
    data = reading.data("CliRequestModels", "requests", limit=limit)
    rows = [
        ranked(m, flat(m["stats"], provider=m["provider"], model=m["model"], priced=m["priced"]))
        for m in data["models"]
    ]
    summed = ("count", "errors", "tokens", "cost", "unpricedTokens", *PREVIOUS_FIGURES)
    reading.show(
        "models",
        data,
        {"models": data["models"]},
        [
            Section(
                "models", with_total(rows, "provider", [s for s in summed if s in rows[0]] if rows else [])
            )
        ],
    )


@agents_app.command("list")
@report_options()
def agents_list(options: ReportOptions, limit: int = limit_option(20), compare: str = CompareRows) -> None:
    """Agents, the most expensive first: requests, errors, tokens, cost, tool calls, conversations
    (--compare: each beside the same agent's requests and cost in the comparison period)."""
    reading = Reading(options, compare=compare)
    data = reading.data("CliAgentList", "agents", limit=limit)
    rows = [
        ranked(
            a, flat(a["stats"], name=a["name"], toolCalls=a["toolCalls"], conversations=a["conversations"])
        )
        for a in data["list"]
    ]
    summed = ("count", "errors", "tokens", "cost", "toolCalls", "conversations", *PREVIOUS_FIGURES)
    reading.show(
        "agents",
        data,
        {"agents": data["list"]},
        [Section("agents", with_total(rows, "name", [s for s in summed if s in rows[0]] if rows else []))],
    )


@agents_app.command("show")
@report_options(compare=True)
def agents_show(
    options: ReportOptions,
    name: str = typer.Argument(..., help="The agent's name (gen_ai.agent.name)."),
    limit: int = limit_option(10),
) -> None:
    """One agent: its request stats compared, the tools it called and its latest conversations."""
    reading = Reading(options)
    data = reading.data("CliAgentShow", "agent", name=name, limit=limit)
    if not data["stats"]["count"] and not data["tools"] and not data["conversations"]:
        raise fail(f"no requests, tool calls or conversations of agent {name!r} in this range", 1)
    conversations = [dict(c) for c in data["conversations"]]
    reading.show(
        f"agent {name}",
        data,
        {"agent": data},
        [
            Section("stats", stat_rows(data["stats"], REQUEST_NAMES)),
            Section(
                "tools", with_total([dict(t) for t in data["tools"]], "name", ("calls", "errors", "cost"))
            ),
            Section(
                "conversations", with_total(conversations, "id", ("turns", "requests", "tokens", "cost"))
            ),
        ],
    )
