"""``analytics experiments list|show <key>``: experiments and their verdicts from the graph, printed as
tables, JSON (--json) or CSV (--export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cli.common import USAGE, DataDir, console, fail
from cli.connection import Key, Profile, Url
from cli.output import Section, emit, heading
from cli.reporting import AsJson, Export, IncludeBots, Server, Until, check_range, open_report, range_input

experiments_app = typer.Typer(help="Experiments: the list, and one experiment's variants and verdict.",
                              no_args_is_help=True)
STATUSES = ("draft", "running", "stopped")
SinceMonth = typer.Option("90d", "--since", help="Exposures from (a duration such as 30d, or a date).")
DIMENSIONS = ("source", "device", "segment")


@experiments_app.command("list")
def experiments_list(status: str | None = typer.Option(None, "--status", help="draft, running or stopped."),
                     limit: int = typer.Option(50, "--limit", min=1, max=100, help="Most shown (1-100)."),
                     as_json: bool = AsJson, export: Path | None = Export, url: str | None = Url,
                     key: str | None = Key, profile: str | None = Profile,
                     data_dir: Path | None = DataDir) -> None:
    """Experiments, newest first, with their status, primary metric and variants."""
    if status is not None and status.lower() not in STATUSES:
        raise fail(f"--status: must be one of {', '.join(STATUSES)}", USAGE)
    report = open_report(Server(url, key, profile, data_dir))
    found = report.tenant_data("CliExperiments", {"status": status.upper() if status else None,
                                                  "first": limit})["experiments"]
    rows = [{"key": e["key"], "status": e["status"], "primary metric": e["primaryMetric"],
             "variants": [f"{v['key']}{'*' if v['control'] else ''} ({v['weight']:g})"
                          for v in e["variants"]],
             "started": e["startedAt"], "stopped": e["stoppedAt"]} for e in found]
    emit(console, heading=f"experiments of {report.tenant}",
         payload={"tenant": report.tenant, "experiments": found}, as_json=as_json, export=export,
         sections=[Section("experiments", rows)])


def _percent(value: float | None) -> str | None:
    return None if value is None else f"{value:+.2f} %"


def _variant_rows(metric: dict[str, Any], first: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per variant; ``first``: the columns before the variant's (the metric, or a breakdown value).
    Every row has the same columns (a table takes its columns from the first row): conversions and rate
    (actors with a non-zero value, for any metric), mean and standard deviation."""
    rows = []
    for v in metric["variants"]:
        rows.append({
            **(first if first is not None
               else {"metric": metric["metric"]["key"], "role": metric["role"].lower()}),
            "variant": v["variant"] + (" (control)" if v["control"] else ""), "exposures": v["exposures"],
            "conversions": v["conversions"], "rate %": v["conversionRate"], "mean": v["mean"],
            "std": v["std"],
            "lift": _percent(v["relativeLift"]),
            "95 % CI": None if v["relativeLiftLow"] is None else
            f"[{v['relativeLiftLow']:+.2f}, {v['relativeLiftHigh']:+.2f}] %",
            "p": v["pValue"], "adj. p": v["adjustedPValue"], "P(beat)": v["probabilityToBeatControl"],
            "significant": "yes" if v["significant"] else ""})
    return rows


def _breakdown_rows(groups: list[dict[str, Any]], metric: dict[str, Any], by: str) -> list[dict[str, Any]]:
    return [row for group in groups
            for row in _variant_rows({**metric, "variants": group["variants"]}, {by: group["value"]})]


@experiments_app.command("show")
def experiments_show(experiment: str = typer.Argument(..., help="The experiment's key."),
                     since: str = SinceMonth, until: str | None = Until, include_bots: bool = IncludeBots,
                     segment: str | None = typer.Option(
                         None, "--segment", help="Only the members of this segment at their exposure."),
                     by: str | None = typer.Option(
                         None, "--by", help="Also a breakdown of the primary metric (or --metric) by source, "
                                            "device or segment."),
                     metric: str | None = typer.Option(None, "--metric", help="The metric --by breaks down."),
                     limit: int = typer.Option(10, "--limit", min=1, max=20, help="--by: most values shown."),
                     as_json: bool = AsJson, export: Path | None = Export, url: str | None = Url,
                     key: str | None = Key, profile: str | None = Profile,
                     data_dir: Path | None = DataDir) -> None:
    """The variant table of every metric (figures, lift with its interval, p-values) and the verdict."""
    if by is not None and by.lower() not in DIMENSIONS:
        raise fail(f"--by: must be one of {', '.join(DIMENSIONS)}", USAGE)
    if by is not None and segment is not None:
        raise fail("--by: not with --segment (a breakdown reads every exposed actor)", USAGE)
    if metric is not None and by is None:
        raise fail("--metric: only with --by", USAGE)
    report = open_report(Server(url, key, profile, data_dir), lambda: check_range(since, until))
    period = report.period(since, until)
    found = report.tenant_data("CliExperiment", {
        "key": experiment, "range": range_input(period), "includeBots": include_bots,
        "segment": segment})["experiment"]
    if found is None:
        raise fail(f"no experiment {experiment!r} for this tenant", 1)
    results = found["results"]
    verdict = results["recommendation"] + (f" ({results['winner']})" if results["winner"] else "")
    summary = [{"verdict": verdict, "exposures": results["exposures"],
                "multiple exposures": results["multipleExposures"],
                "sample ratio p": results["sampleRatioPValue"],
                "SRM": "yes" if results["sampleRatioMismatch"] else "no", "method": results["method"],
                "correction": results["correction"]}]
    rows = [row for metric in results["metrics"] for row in _variant_rows(metric)]
    payload = {"tenant": report.tenant, "period": results["period"], "segment": segment, **found}
    sections = [Section("verdict", summary), Section("variants", rows)]
    if by is not None:
        wanted = metric or found["primaryMetric"]
        shown = next((m for m in results["metrics"] if m["metric"]["key"] == wanted), None)
        if shown is None:
            raise fail(f"--metric: {wanted!r} is not a metric of experiment {experiment!r}", USAGE)
        groups = report.tenant_data("CliExperimentBreakdown", {
            "key": experiment, "range": range_input(period), "includeBots": include_bots, "by": by.upper(),
            "metric": wanted, "limit": limit})["experiment"]["results"]["breakdown"]
        payload["breakdown"] = {"by": by.lower(), "metric": wanted, "groups": groups}
        sections.append(Section(f"{wanted} by {by.lower()}", _breakdown_rows(groups, shown, by.lower())))
    emit(console, heading=heading(f"experiment {experiment} ({found['status'].lower()})", payload),
         payload=payload, as_json=as_json, export=export, sections=sections)
