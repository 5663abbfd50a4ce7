"""``analytics funnels ...``: the tenant's funnels and one funnel drawn as bars with its biggest drop-off
marked (reference 000's drop-off view), read over HTTP; tables, JSON (--json) or CSV (--export)."""

from __future__ import annotations

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
    IncludeBots,
    Server,
    SinceWeek,
    Until,
    check_range,
    compare_choice,
    open_report,
    range_input,
)

funnels_app = typer.Typer(help="Funnels (defineFunnel): the list, and one funnel's steps and drop-offs.",
                          no_args_is_help=True)
BAR_WIDTH = 20
DROP_OFF_MARK = "<-- drop-off"


@funnels_app.command("list")
def funnels_list(as_json: bool = AsJson, export: Path | None = Export, url: str | None = Url,
                 key: str | None = Key, profile: str | None = Profile,
                 data_dir: Path | None = DataDir) -> None:
    """The tenant's funnels: id, name, steps, order mode, counting, window and backfill progress."""
    report = open_report(Server(url, key, profile, data_dir))
    funnels = report.tenant_data("CliFunnels", {})["funnels"]
    rows = [{"id": f["id"], "name": f["name"], "steps": " -> ".join(s["title"] for s in f["steps"]),
             "order": f["order"], "counting": f["counting"],
             "window_days": round(f["windowSeconds"] / 86400, 2), "backfill": _backfill(f["backfill"])}
            for f in funnels]
    emit(console, heading=f"funnels of {report.tenant}", sections=[Section("funnels", rows)], as_json=as_json,
         export=export, payload={"tenant": report.tenant, "funnels": funnels})


def _backfill(backfill: dict[str, Any]) -> str:
    if backfill["status"] == "done":
        return "done"
    total = backfill["total"]
    return f"{backfill['status']} {backfill['processed']}/{total if total is not None else '?'}"


def bar(share: float | None) -> str:
    """A bar of ``share`` percent of BAR_WIDTH blocks (at least one for a non-zero share)."""
    if not share:
        return ""
    return "█" * max(1, round(share / 100 * BAR_WIDTH))


def step_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    biggest = (result.get("biggestDropOff") or {}).get("index")
    return [{"step": s["index"] + 1, "title": s["title"], "bar": bar(s["conversionFromFirst"]),
             "from_first_pct": s["conversionFromFirst"], "actors": s["actors"],
             "from_previous_pct": s["conversionFromPrevious"], "dropped": s["dropped"],
             "in_progress": s["inProgress"], "median_s": s["medianSecondsFromPrevious"],
             "p90_s": s["p90SecondsFromPrevious"], "mark": DROP_OFF_MARK if s["index"] == biggest else ""}
            for s in result["steps"]]


@funnels_app.command("show")
def funnels_show(funnel_id: str = typer.Argument(..., metavar="ID", help="The funnel's id (funnels list)."),
                 since: str = SinceWeek, until: str | None = Until, compare: str = CompareWith,
                 include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
                 url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                 data_dir: Path | None = DataDir) -> None:
    """One funnel over the range: each step as a bar of the first step's actors, conversion, dropped
    apart from still in progress, times from the previous step; the biggest drop-off marked."""
    report = open_report(Server(url, key, profile, data_dir),
                         lambda: (compare_choice(compare), check_range(since, until)))
    period = report.period(since, until)
    found = report.tenant_data("CliFunnel", {"id": funnel_id, "range": range_input(period),
                                             "compare": compare_choice(compare), "includeBots": include_bots})
    funnel = found["funnel"]
    if funnel is None:
        raise fail(f"no funnel with id {funnel_id!r} for this tenant (see analytics funnels list)")
    result = funnel.pop("result")
    payload = {"tenant": report.tenant, "funnel": funnel, **result}
    previous = result.get("previous") or {}
    totals = [{"figure": name, "value": result[key], "previous": previous.get(key)}
              for name, key in (("entered", "entered"), ("converted", "converted"),
                                ("overall conversion %", "overallConversion"), ("in progress", "inProgress"),
                                ("dropped", "dropped"))]
    totals.append({"figure": "overall conversion change %", "value": result["overallConversionChange"],
                   "previous": None})
    emit(console, heading=heading(f"funnel {funnel['name']!r}", payload), payload=payload, as_json=as_json,
         export=export, sections=[Section("steps", step_rows(result)), Section("totals", totals)])
