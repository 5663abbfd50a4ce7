"""What the AI commands share: one report read with the shared options (cli.reporting), the rows'
totals and trend arrows, and the variables each CLI operation declares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer

from cli.common import console
from cli.output import Section, emit, heading
from cli.reporting import (
    ReportOptions,
    check_range,
    checked,
    compare_choice,
    granularity_choice,
    open_report,
    range_input,
)

Model = typer.Option(
    None,
    "--model",
    help="Only requests whose model contains this text (list) or is exactly this model (stats, trends).",
)
Agent = typer.Option(None, "--agent", help="Only this agent.")
ExactModel = typer.Option(None, "--model", help="Only requests of exactly this model (as sent).")
# Trends and rankings compare only when asked (stats compare with the previous period by default).
CompareRows = typer.Option(
    "none",
    "--compare",
    help="Beside each point (row) the comparison period's figures and a trend arrow: previous (the "
    "same length just before), year (a year earlier) or none.",
)
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
COMPARED = ("cost", "requests")  # a compared AI point's or cost row's figures shown beside it


def limit_option(default: int) -> Any:
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
        total[name] = round(sum((r[name] for r in rows if r[name] is not None), 0), 6)
    return [*rows, total]


def compared(row: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """A row without its ``previous``/``change`` objects; when compared, each of ``names`` followed by
    its previous value and trend arrow (``previousCost``, ``costTrend``)."""
    previous, change = row.get("previous"), row.get("change") or {}
    flat = {k: v for k, v in row.items() if k not in ("previous", "change")}
    if previous is None:
        return flat
    for name in names:
        title = name[0].upper() + name[1:]
        flat[f"previous{title}"] = previous[name]
        flat[f"{name}Trend"] = arrow(change.get(name))
    return flat


def points(
    series: dict[str, Any], totals: Sequence[str] = POINT_TOTALS, names: Sequence[str] = COMPARED
) -> list[dict[str, Any]]:
    """A series' points as rows (compared ones with ``names``' previous values and arrows) and a total
    row."""
    rows = [compared(dict(p), names) for p in series["points"]]
    previous = [f"previous{n[0].upper()}{n[1:]}" for n in names if n in totals]
    return with_total(rows, "start", [*totals, *(p for p in previous if rows and p in rows[0])])


def flat(stats: dict[str, Any], **first: Any) -> dict[str, Any]:
    return {**first, **{k: v for k, v in stats.items() if k not in ("previous", "change")}}


class Reading:
    """One AI report: the shared options checked, the server opened, the variables they give."""

    def __init__(self, options: ReportOptions, compare: str | None = None) -> None:
        """``compare``: the command's own --compare (trends, rankings) when the shared one is absent."""
        since, until = options.range_start, options.until
        compare, group_by = compare if compare is not None else options.compare, options.group_by
        self.options = options
        self.report = open_report(
            options.server,
            lambda: (
                compare_choice(compare) if compare else None,
                granularity_choice(group_by, check_range(since, until)),
            ),
        )
        self.period = self.report.period(since, until)
        self.variables: dict[str, Any] = {
            "range": range_input(self.period),
            "includeBots": options.include_bots,
        }
        if compare is not None:
            self.variables["compare"] = compare_choice(compare)
        self.variables["granularity"] = checked(lambda: granularity_choice(group_by, self.period))

    def data(self, operation: str, root: str, **variables: Any) -> dict[str, Any]:
        wanted = {k: v for k, v in self.variables.items() if k in VARIABLES[operation]}
        found: dict[str, Any] = self.report.tenant_data(operation, {**wanted, **variables})[root]
        return found

    def show(self, what: str, data: dict[str, Any], payload: dict[str, Any], sections: list[Section]) -> None:
        result = {"tenant": self.report.tenant, "period": data["period"], **payload}
        emit(
            console,
            heading=heading(what, result),
            payload=result,
            as_json=self.options.as_json,
            export=self.options.export,
            sections=[Section(s.title, [dollars(row) for row in s.rows]) for s in sections],
        )


class Usd(float):
    """A cost in US dollars: tables show it to 4 decimals (a request costs fractions of a cent, which
    2 decimals show as 0.00); CSV and JSON keep the number as it came."""

    def __format__(self, spec: str) -> str:
        return format(float(self), spec.replace(".2f", ".4f"))


MONEY = frozenset({"cost", "previousCost", "total", "projectedMonth", "averageCost"})


def dollars(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its costs (columns, or a stat row's value and previous value) as Usd."""
    metric = row.get("metric") in MONEY

    def money(key: str, value: Any) -> Any:
        costly = key in MONEY or (metric and key in ("value", "previous"))
        return Usd(value) if costly and isinstance(value, float) else value

    return {k: money(k, v) for k, v in row.items()}


VARIABLES = {
    "CliCostSummary": ("range", "compare", "includeBots"),
    "CliCostTrends": ("range", "compare", "granularity", "includeBots"),
    "CliCostBreakdown": ("range", "compare", "includeBots"),
    "CliRequestStats": ("range", "compare", "includeBots"),
    "CliRequestList": ("range", "includeBots"),
    "CliRequestTrends": ("range", "compare", "granularity", "includeBots"),
    "CliRequestModels": ("range", "compare", "includeBots"),
    "CliAgentList": ("range", "compare", "includeBots"),
    "CliAgentStats": ("range", "compare", "includeBots"),
    "CliAgentTrends": ("range", "compare", "granularity", "includeBots"),
    "CliAgentShow": ("range", "compare", "includeBots"),
    "CliToolStats": ("range", "compare", "includeBots"),
    "CliToolTrends": ("range", "compare", "granularity", "includeBots"),
    "CliToolShow": ("range", "compare", "granularity", "includeBots"),
    "CliConversationStats": ("range", "compare", "includeBots"),
    "CliConversationTrends": ("range", "compare", "granularity", "includeBots"),
    "CliConversationList": ("range", "includeBots"),
}
