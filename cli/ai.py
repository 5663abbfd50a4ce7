"""``analytics costs|agents|tools|requests|conversations ...``: AI operations from the graph's own
fields, read over HTTP, printed as tables with totals and trend arrows, JSON (--json) or CSV (--export)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from cli.common import DataDir, console, fail
from cli.connection import Key, Profile, Url
from cli.output import Section, emit, heading
from cli.reporting import (
    AsJson,
    CompareWith,
    Export,
    GroupBy,
    IncludeBots,
    Server,
    SinceWeek,
    Until,
    check_range,
    checked,
    compare_choice,
    granularity_choice,
    open_report,
    range_input,
)

costs_app = typer.Typer(
    help="What AI requests and tool calls cost: summary, trends, breakdown.", no_args_is_help=True
)
agents_app = typer.Typer(help="AI agents: stats, trends, one agent, the list.", no_args_is_help=True)
tools_app = typer.Typer(help="Tool calls: stats, trends, one tool.", no_args_is_help=True)
requests_app = typer.Typer(help="AI requests: stats, single requests, trends, models.", no_args_is_help=True)
conversations_app = typer.Typer(help="AI conversations: stats, trends, the list.", no_args_is_help=True)

Days = typer.Option(None, "--days", min=1, max=3660, help="The last N days (instead of --since).")
Model = typer.Option(
    None,
    "--model",
    help="Only requests whose model contains this text (list) or is exactly this model (stats, trends).",
)
Agent = typer.Option(None, "--agent", help="Only this agent.")
BY = ("model", "provider", "agent", "tool", "user", "conversation")
REQUEST_NAMES = (
    "count",
    "errors",
    "cancelled",
    "errorRate",
    "tokens",
    "cost",
    "unpricedTokens",
    "latencyP50",
    "latencyP95",
    "latencyP99",
    "timeToFirstTokenP50",
)
POINT_TOTALS = ("cost", "tokens", "unpricedTokens", "requests", "errors", "toolCalls")


def _limit(default: int) -> Any:
    return typer.Option(default, "--limit", min=1, max=500, help="Most rows shown (1-500).")


def arrow(change: float | None) -> str:
    """A change in percent as a trend arrow: ▲ up, ▼ down, ▶ flat, - no base to compare with."""
    if change is None:
        return "-"
    return f"{'▲' if change > 0 else '▼' if change < 0 else '▶'} {change:+.1f}%"


def stat_rows(figures: dict[str, Any], names: Sequence[str]) -> list[dict[str, Any]]:
    previous, change = figures.get("previous") or {}, figures.get("change") or {}
    return [
        {
            "metric": name,
            "value": figures[name],
            "previous": previous.get(name),
            "trend": arrow(change.get(name)),
        }
        for name in names
    ]


def with_total(rows: list[dict[str, Any]], first: str, summed: Sequence[str]) -> list[dict[str, Any]]:
    """The rows and a total row (sums of ``summed``; blanks elsewhere), when there are rows."""
    if not rows:
        return rows
    total: dict[str, Any] = {k: None for k in rows[0]}
    total[first] = "total"
    for name in summed:
        total[name] = round(sum(r[name] or 0 for r in rows), 6)
    return [*rows, total]


class Reading:
    """The options every AI command shares, opened as one report."""

    def __init__(
        self,
        since: str,
        until: str | None,
        days: int | None,
        include_bots: bool,
        server: Server,
        compare: str | None = None,
        group_by: str | None = None,
    ) -> None:
        since = f"{days}d" if days is not None else since
        self.report = open_report(
            server,
            lambda: (
                compare_choice(compare) if compare else None,
                granularity_choice(group_by, check_range(since, until)),
            ),
        )
        self.period = self.report.period(since, until)
        self.variables: dict[str, Any] = {"range": range_input(self.period), "includeBots": include_bots}
        if compare is not None:
            self.variables["compare"] = compare_choice(compare)
        if group_by is not None or compare is None:
            self.variables["granularity"] = checked(lambda: granularity_choice(group_by, self.period))

    def data(self, operation: str, root: str, **variables: Any) -> dict[str, Any]:
        wanted = {k: v for k, v in self.variables.items() if k in _VARIABLES[operation]}
        found: dict[str, Any] = self.report.tenant_data(operation, {**wanted, **variables})[root]
        return found

    def show(
        self,
        what: str,
        data: dict[str, Any],
        payload: dict[str, Any],
        sections: list[Section],
        as_json: bool,
        export: Path | None,
    ) -> None:
        result = {"tenant": self.report.tenant, "period": data["period"], **payload}
        emit(
            console,
            heading=heading(what, result),
            payload=result,
            as_json=as_json,
            export=export,
            sections=sections,
        )


_VARIABLES = {
    "CliCostSummary": ("range", "compare", "includeBots"),
    "CliCostTrends": ("range", "granularity", "includeBots"),
    "CliCostBreakdown": ("range", "includeBots"),
    "CliRequestStats": ("range", "compare", "includeBots"),
    "CliRequestList": ("range", "includeBots"),
    "CliRequestTrends": ("range", "granularity", "includeBots"),
    "CliRequestModels": ("range", "includeBots"),
    "CliAgentList": ("range", "includeBots"),
    "CliAgentStats": ("range", "compare", "includeBots"),
    "CliAgentTrends": ("range", "granularity", "includeBots"),
    "CliAgentShow": ("range", "compare", "includeBots"),
    "CliToolStats": ("range", "includeBots"),
    "CliToolTrends": ("range", "granularity", "includeBots"),
    "CliToolShow": ("range", "granularity", "includeBots"),
    "CliConversationStats": ("range", "compare", "includeBots"),
    "CliConversationTrends": ("range", "granularity", "includeBots"),
    "CliConversationList": ("range", "includeBots"),
}


def _points(series: dict[str, Any]) -> list[dict[str, Any]]:
    return with_total([dict(p) for p in series["points"]], "start", POINT_TOTALS)


def _flat(stats: dict[str, Any], **first: Any) -> dict[str, Any]:
    return {**first, **{k: v for k, v in stats.items() if k not in ("previous", "change")}}


@costs_app.command("summary")
def costs_summary(
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    compare: str = CompareWith,
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Total cost (USD), by usage type, unpriced tokens by model, requests and the projected month."""
    reading = Reading(since, until, days, include_bots, Server(url, key, profile, data_dir), compare=compare)
    data = reading.data("CliCostSummary", "costs")
    summary = data["summary"]
    usage = with_total([dict(r) for r in summary["byUsageType"]], "usageType", ("tokens", "cost"))
    unpriced = with_total([dict(r) for r in summary["unpriced"]], "provider", ("tokens",))
    reading.show(
        "costs",
        data,
        {"summary": summary},
        [
            Section(
                "cost (USD)", stat_rows(summary, ("total", "requests", "unpricedTokens", "projectedMonth"))
            ),
            Section("by usage type", usage),
            Section("unpriced tokens (no price known)", unpriced),
        ],
        as_json,
        export,
    )


@costs_app.command("trends")
def costs_trends(
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    group_by: str | None = GroupBy,
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Cost, tokens, unpriced tokens and requests per hour, day, week or month (empty buckets as zeros)."""
    reading = Reading(
        since, until, days, include_bots, Server(url, key, profile, data_dir), group_by=group_by
    )
    data = reading.data("CliCostTrends", "costs")
    reading.show(
        f"costs per {data['trends']['granularity'].lower()}",
        data,
        {"trends": data["trends"]},
        [Section("costs", _points(data["trends"]))],
        as_json,
        export,
    )


@costs_app.command("breakdown")
def costs_breakdown(
    by: str = typer.Option("model", "--by", help="model, provider, agent, tool, user or conversation."),
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    limit: int = _limit(10),
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Cost by model, provider, agent, tool, user or conversation, the most expensive first."""
    if by not in BY:
        raise fail("--by: must be " + ", ".join(BY), 2)
    reading = Reading(since, until, days, include_bots, Server(url, key, profile, data_dir))
    data = reading.data("CliCostBreakdown", "costs", by=by.upper(), limit=limit)
    rows = [
        {by: r["key"], **{k: v for k, v in r.items() if k != "key" and (by == "model" or k != "provider")}}
        for r in data["breakdown"]
    ]
    reading.show(
        f"costs by {by}",
        data,
        {"by": by, "breakdown": data["breakdown"]},
        [
            Section(
                f"by {by}", with_total(rows, by, ("cost", "tokens", "unpricedTokens", "requests", "share"))
            )
        ],
        as_json,
        export,
    )


def _stats_command(operation: str, root: str, what: str) -> Any:
    def command(
        since: str = SinceWeek,
        until: str | None = Until,
        days: int | None = Days,
        compare: str = CompareWith,
        include_bots: bool = IncludeBots,
        as_json: bool = AsJson,
        export: Path | None = Export,
        url: str | None = Url,
        key: str | None = Key,
        profile: str | None = Profile,
        data_dir: Path | None = DataDir,
    ) -> None:
        reading = Reading(
            since, until, days, include_bots, Server(url, key, profile, data_dir), compare=compare
        )
        data = reading.data(operation, root)
        reading.show(
            what,
            data,
            {"stats": data["stats"]},
            [Section(what, stat_rows(data["stats"], REQUEST_NAMES))],
            as_json,
            export,
        )

    command.__doc__ = (
        f"{what.capitalize()}: requests, errors and error rate, tokens, cost, latency "
        "percentiles (ms), compared with the previous period."
    )
    return command


def _trends_command(operation: str, root: str, what: str) -> Any:
    def command(
        since: str = SinceWeek,
        until: str | None = Until,
        days: int | None = Days,
        group_by: str | None = GroupBy,
        include_bots: bool = IncludeBots,
        as_json: bool = AsJson,
        export: Path | None = Export,
        url: str | None = Url,
        key: str | None = Key,
        profile: str | None = Profile,
        data_dir: Path | None = DataDir,
    ) -> None:
        reading = Reading(
            since, until, days, include_bots, Server(url, key, profile, data_dir), group_by=group_by
        )
        data = reading.data(operation, root)
        reading.show(
            f"{what} per {data['trends']['granularity'].lower()}",
            data,
            {"trends": data["trends"]},
            [Section(what, _points(data["trends"]))],
            as_json,
            export,
        )

    command.__doc__ = (
        f"{what.capitalize()} per hour, day, week or month: requests, errors, tokens, cost, tool calls."
    )
    return command


requests_app.command("stats")(_stats_command("CliRequestStats", "requests", "request stats"))
requests_app.command("trends")(_trends_command("CliRequestTrends", "requests", "requests"))
agents_app.command("stats")(_stats_command("CliAgentStats", "agents", "agent stats"))
agents_app.command("trends")(_trends_command("CliAgentTrends", "agents", "agents"))
tools_app.command("trends")(_trends_command("CliToolTrends", "tools", "tool calls"))


@requests_app.command("list")
def requests_list(
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    limit: int = _limit(20),
    model: str | None = Model,
    agent: str | None = Agent,
    status: str | None = typer.Option(None, "--status", help="ok, error or cancelled."),
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Single AI requests, newest first, with tokens, latency and cost (blank: some tokens unpriced)."""
    if status is not None and status not in ("ok", "error", "cancelled"):
        raise fail("--status: must be ok, error or cancelled", 2)
    reading = Reading(since, until, days, include_bots, Server(url, key, profile, data_dir))
    data = reading.data("CliRequestList", "requests", first=limit, model=model, agent=agent, status=status)
    found = data["list"]
    rows = with_total(
        [dict(r) for r in found["nodes"]],
        "occurredAt",
        ("inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens", "reasoningTokens", "cost"),
    )
    reading.show(
        f"requests ({found['totalCount']} in all)",
        data,
        {"list": found},
        [Section("requests", rows)],
        as_json,
        export,
    )


@requests_app.command("models")
def requests_models(
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    limit: int = _limit(20),
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Models used, the most requests first: priced or not, requests, errors, tokens, cost, latency."""
    reading = Reading(since, until, days, include_bots, Server(url, key, profile, data_dir))
    data = reading.data("CliRequestModels", "requests", limit=limit)
    rows = [
        _flat(m["stats"], provider=m["provider"], model=m["model"], priced=m["priced"])
        for m in data["models"]
    ]
    reading.show(
        "models",
        data,
        {"models": data["models"]},
        [
            Section(
                "models",
                with_total(rows, "provider", ("count", "errors", "tokens", "cost", "unpricedTokens")),
            )
        ],
        as_json,
        export,
    )


@agents_app.command("list")
def agents_list(
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    limit: int = _limit(20),
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Agents, the most expensive first: requests, errors, tokens, cost, tool calls, conversations."""
    reading = Reading(since, until, days, include_bots, Server(url, key, profile, data_dir))
    data = reading.data("CliAgentList", "agents", limit=limit)
    rows = [
        _flat(a["stats"], name=a["name"], toolCalls=a["toolCalls"], conversations=a["conversations"])
        for a in data["list"]
    ]
    reading.show(
        "agents",
        data,
        {"agents": data["list"]},
        [
            Section(
                "agents",
                with_total(rows, "name", ("count", "errors", "tokens", "cost", "toolCalls", "conversations")),
            )
        ],
        as_json,
        export,
    )


@agents_app.command("show")
def agents_show(
    name: str = typer.Argument(..., help="The agent's name (gen_ai.agent.name)."),
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    compare: str = CompareWith,
    limit: int = _limit(10),
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """One agent: its request stats compared, the tools it called and its latest conversations."""
    reading = Reading(since, until, days, include_bots, Server(url, key, profile, data_dir), compare=compare)
    data = reading.data("CliAgentShow", "agent", name=name, limit=limit)
    if not data["stats"]["count"] and not data["tools"] and not data["conversations"]:
        raise fail(f"no requests, tool calls or conversations of agent {name!r} in this range", 1)
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
                "conversations",
                with_total(
                    [dict(c) for c in data["conversations"]], "id", ("turns", "requests", "tokens", "cost")
                ),
            ),
        ],
        as_json,
        export,
    )


@tools_app.command("stats")
def tools_stats(
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    limit: int = _limit(20),
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Each tool's calls, errors and error rate, durations (ms) and cost, the most calls first."""
    reading = Reading(since, until, days, include_bots, Server(url, key, profile, data_dir))
    data = reading.data("CliToolStats", "tools", limit=limit)
    reading.show(
        "tools",
        data,
        {"tools": data["stats"]},
        [Section("tools", with_total([dict(t) for t in data["stats"]], "name", ("calls", "errors", "cost")))],
        as_json,
        export,
    )


@tools_app.command("show")
def tools_show(
    name: str = typer.Argument(..., help="The tool's name (gen_ai.tool.name)."),
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    group_by: str | None = GroupBy,
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """One tool: its calls, errors, durations and cost, and its calls per bucket."""
    reading = Reading(
        since, until, days, include_bots, Server(url, key, profile, data_dir), group_by=group_by
    )
    data = reading.data("CliToolShow", "tool", name=name)
    if data["stats"] is None:
        raise fail(f"no calls of tool {name!r} in this range", 1)
    reading.show(
        f"tool {name}",
        data,
        {"tool": data},
        [Section("stats", [data["stats"]]), Section("calls", _points(data["trends"]))],
        as_json,
        export,
    )


@conversations_app.command("stats")
def conversations_stats(
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    compare: str = CompareWith,
    agent: str | None = Agent,
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Conversations, turns, requests, tokens, cost and averages per conversation, compared."""
    reading = Reading(since, until, days, include_bots, Server(url, key, profile, data_dir), compare=compare)
    data = reading.data("CliConversationStats", "conversations", agent=agent)
    names = [k for k in data["stats"] if k not in ("previous", "change")]
    reading.show(
        "conversations",
        data,
        {"stats": data["stats"]},
        [Section("conversations", stat_rows(data["stats"], names))],
        as_json,
        export,
    )


@conversations_app.command("trends")
def conversations_trends(
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    group_by: str | None = GroupBy,
    agent: str | None = Agent,
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Conversations active, turns and cost per day, week or month."""
    reading = Reading(
        since, until, days, include_bots, Server(url, key, profile, data_dir), group_by=group_by
    )
    if reading.variables.get("granularity") == "HOUR":
        raise fail("--group-by: conversations are kept per day: use day, week or month", 2)
    data = reading.data("CliConversationTrends", "conversations", agent=agent)
    rows = with_total([dict(p) for p in data["trends"]["points"]], "start", ("turns", "cost"))
    reading.show(
        f"conversations per {data['trends']['granularity'].lower()}",
        data,
        {"trends": data["trends"]},
        [Section("conversations", rows)],
        as_json,
        export,
    )


@conversations_app.command("list")
def conversations_list(
    since: str = SinceWeek,
    until: str | None = Until,
    days: int | None = Days,
    limit: int = _limit(20),
    agent: str | None = Agent,
    include_bots: bool = IncludeBots,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Conversations, the latest first: agent, turns, requests, tokens, cost and duration."""
    reading = Reading(since, until, days, include_bots, Server(url, key, profile, data_dir))
    data = reading.data("CliConversationList", "conversations", limit=limit, agent=agent)
    rows = with_total([dict(c) for c in data["list"]], "id", ("turns", "requests", "tokens", "cost"))
    reading.show(
        "conversations",
        data,
        {"conversations": data["list"]},
        [Section("conversations", rows)],
        as_json,
        export,
    )


prices_app = typer.Typer(
    help="Model prices: list the price table, set your own price of a model, sync the library's.",
    no_args_is_help=True,
)
PRICE_OPTIONS = ("input", "output", "cache_read", "cache_write", "reasoning")


def _price(name: str) -> Any:
    return typer.Option(None, f"--{name.replace('_', '-')}", help=f"USD per million {name} tokens.")


@prices_app.command("set")
def prices_set(
    provider: str = typer.Option(..., "--provider", help="As events send it (ai.provider)."),
    model: str = typer.Option(..., "--model", help="As events send it (ai.model)."),
    effective_from: str = typer.Option(..., "--from", help="ISO date (UTC) or date-time with offset."),
    input: str | None = _price("input"),
    output: str | None = _price("output"),
    cache_read: str | None = _price("cache_read"),
    cache_write: str | None = _price("cache_write"),
    reasoning: str | None = _price("reasoning"),
    as_json: bool = AsJson,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Set your price of a model from --from on (a custom model or an override of the library's): the
    days already rolled up from then on are re-priced by the worker."""
    report = open_report(Server(url, key, profile, data_dir))
    given = {
        "input": input,
        "output": output,
        "cacheRead": cache_read,
        "cacheWrite": cache_write,
        "reasoning": reasoning,
    }
    rows = report.client.run(
        "CliSetModelPrice",
        {
            "input": {
                "provider": provider,
                "model": model,
                "effectiveFrom": effective_from,
                **{k: v for k, v in given.items() if v is not None},
            }
        },
    )["setModelPrice"]
    result = {"tenant": report.tenant, "prices": rows}
    if as_json:
        emit(console, heading="", payload=result, as_json=True, export=None, sections=[])
    else:
        emit(
            console,
            heading=f"prices of {provider}/{model} for {report.tenant}",
            payload=result,
            as_json=False,
            export=None,
            sections=[Section("prices", rows)],
        )


@prices_app.command("list")
def prices_list(
    provider: str | None = typer.Option(None, "--provider"),
    model: str | None = Model,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """The price table: the library's prices of the models seen and your own, with their start."""
    report = open_report(Server(url, key, profile, data_dir))
    rows = report.tenant_data("CliModelPrices", {"provider": provider, "model": model})["modelPrices"]
    emit(
        console,
        heading=f"model prices of {report.tenant}",
        payload={"tenant": report.tenant, "prices": rows},
        as_json=as_json,
        export=export,
        sections=[Section("prices", rows)],
    )


@prices_app.command("sync")
def prices_sync(
    as_json: bool = AsJson,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Bring the library's prices in your table up to the genai-prices release the server runs (your own
    prices are kept and still win); the days a change covers are re-priced by the worker."""
    report = open_report(Server(url, key, profile, data_dir))
    result = {"tenant": report.tenant, **report.client.run("CliSyncModelPrices", {})["syncModelPrices"]}
    rows = [{"figure": k, "value": v} for k, v in result.items() if k not in ("tenant", "daysRepriced")]
    rows.append({"figure": "daysRepriced", "value": len(result["daysRepriced"])})
    emit(
        console,
        heading=f"price sync for {report.tenant}",
        payload=result,
        as_json=as_json,
        export=None,
        sections=[Section("prices", rows)],
    )
