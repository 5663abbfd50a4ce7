"""Reporting commands ``analytics overview``, ``analytics sessions ...`` and ``analytics traffic ...``:
the graph's own fields, read over HTTP, printed as tables, JSON or CSV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from cli.common import DataDir, console
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
    Since,
    SinceWeek,
    Until,
    check_range,
    checked,
    compare_choice,
    granularity_choice,
    open_report,
    range_input,
)

sessions_app = typer.Typer(help="Session analytics: totals, trends and live sessions.", no_args_is_help=True)
traffic_app = typer.Typer(help="Traffic analytics: sources, places, devices and what the bot filter removed.",
                          no_args_is_help=True)

STAT_NAMES = ("sessions", "visitors", "users", "pageViews", "pagesPerSession", "bounceRate",
              "avgSessionDurationSeconds", "medianSessionDurationSeconds", "returningVisitors",
              "returnVisitRate", "botSessions")


def stat_rows(figures: dict[str, Any], names: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """A compared figure set as rows of metric, value, previous and change."""
    previous, change = figures.get("previous") or {}, figures.get("change") or {}
    return [{"metric": name, "value": figures[name], "previous": previous.get(name),
             "change %": change.get(name)} for name in names]


def overview(since: str = Since, until: str | None = Until, compare: str = CompareWith,
             include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
             url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
             data_dir: Path | None = DataDir) -> None:
    """The whole picture of a range: sessions with their change against the previous period, top traffic
    sources, tours and content."""
    report = open_report(Server(url, key, profile, data_dir),
                         lambda: (compare_choice(compare), check_range(since, until)))
    period = report.period(since, until)
    data = report.tenant_data("CliOverview", {"range": range_input(period), "includeBots": include_bots,
                                              "compare": compare_choice(compare)})["overview"]
    result = {"tenant": report.tenant, "period": data["period"], "sessions": data["sessions"],
              "topSources": data["topSources"],
              "tours": {"activeTours": data["activeTours"], "starts": data["starts"],
                        "completions": data["completions"],
                        "completionRate": data["totals"]["completionRate"]},
              "content": data["content"]}
    emit(console, heading=heading("overview", result), as_json=as_json, export=export, payload=result,
         sections=[Section("sessions", stat_rows(result["sessions"], STAT_NAMES)),
                   Section("top sources", result["topSources"]),
                   Section("tours", [{"metric": k, "value": v} for k, v in result["tours"].items()]),
                   Section("content", [{"metric": k, "value": v} for k, v in result["content"].items()])])


@sessions_app.command("stats")
def sessions_stats(since: str = Since, until: str | None = Until, compare: str = CompareWith,
                   include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
                   url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                   data_dir: Path | None = DataDir) -> None:
    """Sessions, visitors, users, page views, bounce rate, durations and returning visitors."""
    report = open_report(Server(url, key, profile, data_dir),
                         lambda: (compare_choice(compare), check_range(since, until)))
    period = report.period(since, until)
    data = report.tenant_data("CliSessionStats", {"range": range_input(period),
                                                  "compare": compare_choice(compare),
                                                  "includeBots": include_bots})["sessionStats"]
    result = {"tenant": report.tenant, **data}
    emit(console, heading=heading("session stats", result), payload=result, as_json=as_json,
         export=export, sections=[Section("sessions", stat_rows(result, STAT_NAMES))])


@sessions_app.command("trends")
def sessions_trends(since: str = SinceWeek, until: str | None = Until, group_by: str | None = GroupBy,
                    include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
                    url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                    data_dir: Path | None = DataDir) -> None:
    """Sessions, visitors, page views and bounce rate per hour, day or week (empty buckets as zeros)."""
    report = open_report(Server(url, key, profile, data_dir),
                         lambda: granularity_choice(group_by, check_range(since, until)))
    period = report.period(since, until)
    data = report.tenant_data("CliSessionTrends", {
        "range": range_input(period), "granularity": checked(lambda: granularity_choice(group_by, period)),
        "includeBots": include_bots})["sessionSeries"]
    result = {"tenant": report.tenant, "period": data["period"], "groupBy": data["granularity"].lower(),
              "points": data["points"]}
    emit(console, heading=heading(f"sessions per {result['groupBy']}", result), payload=result,
         sections=[Section("trends", result["points"])], as_json=as_json, export=export)


@sessions_app.command("live")
def sessions_live(limit: int = typer.Option(20, "--limit", min=1, max=500,
                                            help="Most sessions shown (1-500)."),
                  include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
                  url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                  data_dir: Path | None = DataDir) -> None:
    """Sessions with an event in the last 5 minutes, most recently active first."""
    report = open_report(Server(url, key, profile, data_dir))
    sessions = report.tenant_data("CliLiveSessions", {"limit": limit, "includeBots": include_bots})
    result = {"tenant": report.tenant, "sessions": sessions["liveSessions"]}
    emit(console, heading=f"live sessions of {result['tenant']} (last 5 minutes)", payload=result,
         sections=[Section("live sessions", result["sessions"])], as_json=as_json, export=export)


def _traffic(what: str, operation: str, tables: tuple[str, ...]) -> Callable[..., None]:
    """A ``traffic`` command printing one table per breakdown the operation reads."""
    def command(since: str = Since, until: str | None = Until, limit: int = Limit,
                include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
                url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                data_dir: Path | None = DataDir) -> None:
        report = open_report(Server(url, key, profile, data_dir), lambda: check_range(since, until))
        period = report.period(since, until)
        data = report.tenant_data(operation, {"range": range_input(period), "includeBots": include_bots,
                                              "limit": limit})["traffic"]
        result = {"tenant": report.tenant, **data}
        emit(console, heading=heading(f"traffic {what}", result), payload=result, as_json=as_json,
             export=export, sections=[Section(name, result[name]) for name in tables])

    return command


traffic_app.command("sources", help="Sessions by source (direct, organic_search, social, referral, email, "
                                    "paid), by referring site and by UTM campaign.")(
    _traffic("sources", "CliTrafficSources", ("sources", "referrers", "campaigns")))
traffic_app.command("geo", help="Sessions by country and by region.")(
    _traffic("geo", "CliTrafficGeo", ("countries", "regions")))
traffic_app.command("devices", help="Sessions by device type, browser and operating system.")(
    _traffic("devices", "CliTrafficDevices", ("devices", "browsers", "operatingSystems")))


@traffic_app.command("bots")
def traffic_bots(since: str = Since, until: str | None = Until, limit: int = Limit, as_json: bool = AsJson,
                 export: Path | None = Export, url: str | None = Url, key: str | None = Key,
                 profile: str | None = Profile, data_dir: Path | None = DataDir) -> None:
    """What the bot filter removed: sessions by tier (1 user agent, 2 scanner, 3 behavioural), by reason,
    by day and by user agent."""
    report = open_report(Server(url, key, profile, data_dir), lambda: check_range(since, until))
    period = report.period(since, until)
    data = report.tenant_data("CliTrafficBots", {"range": range_input(period), "limit": limit})["traffic"]
    result = {"tenant": report.tenant, "period": data["period"], **data["bots"]}
    title = (heading("bot traffic", result) + f"\n{result['excludedSessions']} of "
             f"{result['totalSessions']} sessions excluded ({result['excludedShare'] or 0:.2f}%)")
    emit(console, heading=title, payload=result, as_json=as_json, export=export,
         sections=[Section("by tier", result["byTier"]), Section("by reason", result["byReason"]),
                   Section("by day", result["byDay"]), Section("by user agent", result["byUserAgent"])])
