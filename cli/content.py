"""``analytics content ...``: content (capsule) performance from the graph's own fields, read over HTTP,
printed as tables, JSON (--json) or CSV (--export)."""

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
from cli.sessions import stat_rows

content_app = typer.Typer(help="Content (capsule) analytics: stats, top items, trends and popular items.",
                          no_args_is_help=True)
Capsule = typer.Option(None, "--capsule", help="Report on this content id only (all content by default).")


def _capsule(data: dict[str, Any], capsule: str) -> dict[str, Any]:
    if data["capsule"] is None:
        raise fail(f"--capsule: no content with id {capsule!r} has been counted for this tenant")
    found: dict[str, Any] = data["capsule"]
    return found


@content_app.command("stats")
def content_stats(since: str = SinceWeek, until: str | None = Until, capsule: str | None = Capsule,
                  compare: str = CompareWith, include_bots: bool = IncludeBots, as_json: bool = AsJson,
                  export: Path | None = Export, url: str | None = Url, key: str | None = Key,
                  profile: str | None = Profile, data_dir: Path | None = DataDir) -> None:
    """Views, unique views, CTA clicks and click-through rate, conversions and conversion rate, time on
    capsule, conversations, time to conversion, documents and videos, compared with the previous period."""
    report = open_report(Server(url, key, profile, data_dir),
                         lambda: (compare_choice(compare), check_range(since, until)))
    period = report.period(since, until)
    variables = {"range": range_input(period), "compare": compare_choice(compare),
                 "includeBots": include_bots}
    if capsule:
        found = report.tenant_data("CliCapsuleStats", {**variables, "id": capsule})
        data = _capsule(found, capsule)["stats"]
    else:
        data = report.tenant_data("CliContentStats", variables)["content"]["stats"]
    result = {"tenant": report.tenant, "capsule": capsule, **data}
    names = [k for k in data if k not in ("period", "previous", "change")]
    what = f"content stats ({capsule})" if capsule else "content stats"
    emit(console, heading=heading(what, result), payload=result, as_json=as_json, export=export,
         sections=[Section("content", stat_rows(result, names))])


def _limit(default: int) -> Any:
    return typer.Option(default, "--limit", min=1, max=500, help="Most items shown (1-500).")


def _ranked(operation: str, field: str, since: str, until: str | None, limit: int, include_bots: bool,
            server: Server) -> dict[str, Any]:
    report = open_report(server, lambda: check_range(since, until))
    period = report.period(since, until)
    data = report.tenant_data(operation, {"range": range_input(period), "includeBots": include_bots,
                                          "limit": limit})["content"]
    return {"tenant": report.tenant, "period": data["period"], "items": data[field]}


@content_app.command("top")
def content_top(since: str = SinceWeek, until: str | None = Until, limit: int = _limit(10),
                include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
                url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                data_dir: Path | None = DataDir) -> None:
    """Content items by views, most first, with unique views, CTA clicks and conversions."""
    result = _ranked("CliContentTop", "top", since, until, limit, include_bots,
                     Server(url, key, profile, data_dir))
    emit(console, heading=heading("top content", result), payload=result, as_json=as_json, export=export,
         sections=[Section("top content", result["items"])])


@content_app.command("trends")
def content_trends(since: str = SinceWeek, until: str | None = Until, capsule: str | None = Capsule,
                   group_by: str | None = GroupBy, include_bots: bool = IncludeBots, as_json: bool = AsJson,
                   export: Path | None = Export, url: str | None = Url, key: str | None = Key,
                   profile: str | None = Profile, data_dir: Path | None = DataDir) -> None:
    """Views, CTA clicks, conversions and rates per hour, day, week or month (empty buckets as zeros)."""
    report = open_report(Server(url, key, profile, data_dir),
                         lambda: granularity_choice(group_by, check_range(since, until)))
    period = report.period(since, until)
    variables = {"range": range_input(period), "includeBots": include_bots,
                 "granularity": checked(lambda: granularity_choice(group_by, period))}
    if capsule:
        found = report.tenant_data("CliCapsuleTrends", {**variables, "id": capsule})
        data = _capsule(found, capsule)["series"]
    else:
        data = report.tenant_data("CliContentTrends", variables)["content"]["trends"]
    result = {"tenant": report.tenant, "capsule": capsule, "period": data["period"],
              "groupBy": data["granularity"].lower(), "points": data["points"]}
    emit(console, heading=heading(f"content per {result['groupBy']}", result), payload=result,
         as_json=as_json, export=export, sections=[Section("trends", result["points"])])


@content_app.command("popular")
def content_popular(since: str = SinceWeek, until: str | None = Until, limit: int = _limit(20),
                    include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
                    url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                    data_dir: Path | None = DataDir) -> None:
    """Content items by engaged time (sum of ContentEngagement timeOnPageMs), most first, with their
    average time on capsule."""
    result = _ranked("CliContentPopular", "popular", since, until, limit, include_bots,
                     Server(url, key, profile, data_dir))
    emit(console, heading=heading("popular content", result), payload=result, as_json=as_json,
         export=export, sections=[Section("popular content", result["items"])])
