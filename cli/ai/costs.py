"""``analytics costs summary|trends|breakdown``."""

from __future__ import annotations

import typer

from cli.ai.reading import (
    COMPARED,
    CompareRows,
    Reading,
    compared,
    limit_option,
    points,
    stat_rows,
    with_total,
)
from cli.common import fail
from cli.output import Section
from cli.reporting import ReportOptions, report_options

costs_app = typer.Typer(
    help="What AI requests and tool calls cost: summary, trends, breakdown.", no_args_is_help=True
)
BY = ("model", "provider", "agent", "tool", "user", "conversation")


@costs_app.command("summary")
@report_options(compare=True)
def costs_summary(options: ReportOptions) -> None:
    """Total cost (USD), by usage type, unpriced tokens by model, requests and the projected month."""
    reading = Reading(options)
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
    )


@costs_app.command("trends")
@report_options(group_by=True)
def costs_trends(options: ReportOptions, compare: str = CompareRows) -> None:
    """Cost, tokens, unpriced tokens and requests per hour, day, week or month (empty buckets as zeros;
    --compare: each point beside the comparison period's)."""
    reading = Reading(options, compare=compare)
    data = reading.data("CliCostTrends", "costs")
    reading.show(
        f"costs per {data['trends']['granularity'].lower()}",
        data,
        {"trends": data["trends"]},
        [Section("costs", points(data["trends"]))],
    )


@costs_app.command("breakdown")
@report_options()
def costs_breakdown(
    options: ReportOptions,
    by: str = typer.Option("model", "--by", help="model, provider, agent, tool, user or conversation."),
    limit: int = limit_option(10),
    compare: str = CompareRows,
) -> None:
    """Cost by model, provider, agent, tool, user or conversation, the most expensive first (--compare:
    each row beside the same key's cost and requests in the comparison period)."""
    if by not in BY:
        raise fail("--by: must be " + ", ".join(BY), 2)
    reading = Reading(options, compare=compare)
    data = reading.data("CliCostBreakdown", "costs", by=by.upper(), limit=limit)
    rows = [
        compared(
            {
                by: r["key"],
                **{k: v for k, v in r.items() if k != "key" and (by == "model" or k != "provider")},
            },
            COMPARED,
        )
        for r in data["breakdown"]
    ]
    summed = ("cost", "tokens", "unpricedTokens", "requests", "share", "previousCost", "previousRequests")
    reading.show(
        f"costs by {by}",
        data,
        {"by": by, "breakdown": data["breakdown"]},
        [Section(f"by {by}", with_total(rows, by, [s for s in summed if not rows or s in rows[0]]))],
    )
