"""Reporting commands ``analytics features`` (adoption with trend arrows; ``define``, ``remove`` and
``list`` manage the definitions) and ``analytics usage`` (figures, series, top pages and sources):
GraphQL clients of a server, like the other reports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import typer

from cli.common import USAGE, DataDir, console, fail
from cli.connection import Key, Profile, Url
from cli.output import Section, emit, heading
from cli.reporting import (
    AsJson,
    CompareWith,
    Export,
    GroupBy,
    IncludeBots,
    Limit,
    Server,
    Until,
    check_range,
    checked,
    compare_choice,
    granularity_choice,
    open_report,
    range_input,
)
from cli.sessions import stat_rows

SinceMonth = typer.Option("30d", "--since", help="Start of the range: a duration back from --until or now "
                                                 "(7d, 30d), an ISO date or an ISO 8601 date-time.")
ARROWS = {"UP": "↑ up", "DOWN": "↓ down", "STABLE": "→ stable"}
USAGE_FIGURES = ("totalUsers", "activeUsers", "dau", "wau", "mau", "stickiness", "pageViews",
                 "uniqueVisitors", "avgSessionDurationSeconds", "bounceRate")
_CONDITION = re.compile(r"^\s*([^!<>=\s][^!<>=]*?)\s*(!=|>=|<=|=|>|<)\s*(.*?)\s*$")
_OPS = {"=": "EQ", "!=": "NEQ", ">": "GT", ">=": "GTE", "<": "LT", "<=": "LTE"}

features_app = typer.Typer(help="Feature adoption (the table, with trend arrows) and the feature "
                                "definitions.", invoke_without_command=True)


@features_app.callback()
def features(ctx: typer.Context, since: str = SinceMonth, until: str | None = Until,
             compare: str = CompareWith, include_bots: bool = IncludeBots, as_json: bool = AsJson,
             export: Path | None = Export, url: str | None = Url, key: str | None = Key,
             profile: str | None = Profile, data_dir: Path | None = DataDir) -> None:
    """Per feature: usage count, unique users, adoption rate (users / active users * 100) and its trend
    against the previous period (up / down beyond ±5 % relative change, else stable)."""
    if ctx.invoked_subcommand is not None:
        return
    report = open_report(Server(url, key, profile, data_dir),
                         lambda: (compare_choice(compare), check_range(since, until)))
    period = report.period(since, until)
    variables = {"range": range_input(period), "includeBots": include_bots,
                 "compare": compare_choice(compare)}
    data = report.tenant_data("CliFeatureAdoption", variables)["featureAdoption"]
    result = {"tenant": report.tenant, **data}
    rows = [{"feature": r["feature"]["name"], "usage": r["usageCount"], "users": r["uniqueUsers"],
             "active users": r["activeUsers"], "adoption %": r["adoptionRate"],
             "previous %": r["previous"]["adoptionRate"], "change %": r["change"]["adoptionRate"],
             "trend": ARROWS[r["trend"]],
             "backfill": r["feature"]["backfill"]["status"]} for r in data["features"]]
    emit(console, heading=heading("feature adoption", result), payload=result, as_json=as_json, export=export,
         sections=[Section("features", rows)])


def _condition(raw: str) -> dict[str, Any]:
    found = _CONDITION.match(raw)
    if not found:
        raise fail(f"--where {raw!r}: write property=value (or !=, >, >=, <, <=)", USAGE)
    prop, op, value = found.groups()
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return {"property": prop, "op": _OPS[op], "value": parsed}


def _server(url: str | None, key: str | None, profile: str | None, data_dir: Path | None) -> Any:
    return open_report(Server(url, key, profile, data_dir))


def _definition_rows(features: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"feature": f["name"], "event": f["matcher"]["event"],
             "where": " and ".join(f"{c['property']} {c['op']} {json.dumps(c['value'])}"
                                   for c in f["matcher"]["where"]),
             "backfill": f["backfill"]["status"],
             "days": f"{f['backfill']['processedDays']}/{f['backfill']['totalDays'] or '?'}"}
            for f in features]


@features_app.command("define")
def features_define(name: str = typer.Argument(..., help="The feature's name (Deploy Application)."),
                    event: str = typer.Option(..., "--event",
                                              help="A catalogue type or a Custom event's name."),
                    where: list[str] = typer.Option(
                        [], "--where", help="A condition on the event's properties, property=value "
                                            "(or !=, >, >=, <, <=); repeatable, all must hold. Values are "
                                            "JSON when they parse, else text."),
                    as_json: bool = AsJson, url: str | None = Url, key: str | None = Key,
                    profile: str | None = Profile, data_dir: Path | None = DataDir) -> None:
    """Declare a feature, or change its matcher; its counts are backfilled from the retained raw events."""
    matcher = {"event": event, "where": [_condition(w) for w in where]}
    report = _server(url, key, profile, data_dir)
    feature = report.client.run("CliFeatureDefine", {"name": name, "matcher": matcher})["defineFeature"]
    emit(console, heading=f"feature of {report.tenant}", payload=feature, as_json=as_json, export=None,
         sections=[Section("feature", _definition_rows([feature]))])


@features_app.command("remove")
def features_remove(name: str = typer.Argument(..., help="The feature's name."),
                    url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                    data_dir: Path | None = DataDir) -> None:
    """Remove a feature and its counts."""
    report = _server(url, key, profile, data_dir)
    if not report.client.run("CliFeatureRemove", {"name": name})["removeFeature"]:
        raise fail(f"{report.tenant} has no feature named {name!r}", USAGE)
    console.print(f"{report.tenant}: feature {name!r} removed")


@features_app.command("list")
def features_list(as_json: bool = AsJson, export: Path | None = Export, url: str | None = Url,
                  key: str | None = Key, profile: str | None = Profile,
                  data_dir: Path | None = DataDir) -> None:
    """The feature definitions and their backfill progress."""
    report = _server(url, key, profile, data_dir)
    found = report.tenant_data("CliFeatureList", {})["features"]
    emit(console, heading=f"features of {report.tenant}", as_json=as_json, export=export,
         payload={"tenant": report.tenant, "features": found},
         sections=[Section("features", _definition_rows(found))])


def usage(since: str = SinceMonth, until: str | None = Until, group_by: str | None = GroupBy,
          compare: str = CompareWith, include_bots: bool = IncludeBots, limit: int = Limit,
          as_json: bool = AsJson, export: Path | None = Export, url: str | None = Url, key: str | None = Key,
          profile: str | None = Profile, data_dir: Path | None = DataDir) -> None:
    """Usage trends: total and active users, DAU / WAU / MAU and stickiness, page views, unique visitors,
    session duration and bounce rate (compared, and per day, week or month), top pages and sources."""
    report = open_report(Server(url, key, profile, data_dir), lambda: (
        compare_choice(compare), granularity_choice(group_by, check_range(since, until))))
    if group_by is not None and group_by.lower() == "hour":
        raise fail("--group-by: usage counts users per local day: use day, week or month", USAGE)
    period = report.period(since, until)
    data = report.tenant_data("CliUsage", {
        "range": range_input(period), "granularity": checked(lambda: granularity_choice(group_by, period)),
        "compare": compare_choice(compare), "includeBots": include_bots, "limit": limit})["usage"]
    result = {"tenant": report.tenant, **data}
    emit(console, heading=heading("usage", result), payload=result, as_json=as_json, export=export,
         sections=[Section("usage", stat_rows(data, USAGE_FIGURES)),
                   Section(f"per {data['granularity'].lower()}", data["series"]),
                   Section("top pages", data["topPages"]), Section("top sources", data["topSources"])])
