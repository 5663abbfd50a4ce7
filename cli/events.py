"""``analytics events ...``: Custom event counts, one event's stats, series and breakdown, and the
tenant's event definitions, all through the graph with a secret key."""

from __future__ import annotations

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

events_app = typer.Typer(help="Custom (product) events: counts, one event's figures, and definitions. "
                              "Without a command: the events list.")
Limit = typer.Option(50, "--limit", min=1, max=500, help="Most rows shown (1-500).")
TYPES = {"string": "STRING", "number": "NUMBER", "boolean": "BOOLEAN"}
PAGE = 50


def _events_list(since: str, until: str | None, compare: str, limit: int, include_bots: bool, as_json: bool,
                 export: Path | None, server: Server) -> None:
    report = open_report(server, lambda: (compare_choice(compare), check_range(since, until)))
    period = report.period(since, until)
    data = report.tenant_data("CliEvents", {"range": range_input(period), "compare": compare_choice(compare),
                                            "includeBots": include_bots, "limit": limit})
    rows = [{"name": e["name"], "count": e["count"], "users": e["users"],
             "previous": (e["previous"] or {}).get("count"), "change %": (e["change"] or {}).get("count")}
            for e in data["events"]]
    shown = {"from": period.start.astimezone(report.tz).isoformat(),
             "to": period.end.astimezone(report.tz).isoformat(), "timezone": report.tz.key}
    result = {"tenant": report.tenant, "period": shown, "events": rows}
    emit(console, heading=heading("custom events", result), payload=result, as_json=as_json, export=export,
         sections=[Section("events", rows)])


@events_app.callback(invoke_without_command=True)
def events(ctx: typer.Context, since: str = SinceWeek, until: str | None = Until, compare: str = CompareWith,
           limit: int = Limit, include_bots: bool = IncludeBots, as_json: bool = AsJson,
           export: Path | None = Export, url: str | None = Url, key: str | None = Key,
           profile: str | None = Profile, data_dir: Path | None = DataDir) -> None:
    """Custom event names with events in the range, most first: count, distinct users and the change
    against the previous period."""
    if ctx.invoked_subcommand is None:
        _events_list(since, until, compare, limit, include_bots, as_json, export,
                     Server(url, key, profile, data_dir))


@events_app.command("list")
def events_list(since: str = SinceWeek, until: str | None = Until, compare: str = CompareWith,
                limit: int = Limit, include_bots: bool = IncludeBots, as_json: bool = AsJson,
                export: Path | None = Export, url: str | None = Url, key: str | None = Key,
                profile: str | None = Profile, data_dir: Path | None = DataDir) -> None:
    """The same as ``analytics events`` without a command."""
    _events_list(since, until, compare, limit, include_bots, as_json, export,
                 Server(url, key, profile, data_dir))


@events_app.command("show")
def events_show(name: str = typer.Argument(..., help="The Custom event's name."), since: str = SinceWeek,
                until: str | None = Until, compare: str = CompareWith, group_by: str | None = GroupBy,
                dimension: str | None = typer.Option(
                    None, "--dimension", help="Break the events down by this declared dimension."),
                limit: int = typer.Option(20, "--limit", min=1, max=500, help="Breakdown rows (1-500)."),
                include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
                url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                data_dir: Path | None = DataDir) -> None:
    """One event's count and users (compared), its series, and its breakdown by --dimension."""
    report = open_report(Server(url, key, profile, data_dir), lambda: (
        compare_choice(compare), granularity_choice(group_by, check_range(since, until))))
    period = report.period(since, until)
    data = report.tenant_data("CliEventShow", {
        "name": name, "range": range_input(period), "compare": compare_choice(compare),
        "includeBots": include_bots, "granularity": checked(lambda: granularity_choice(group_by, period)),
        "dimension": dimension or "", "breakdown": dimension is not None, "limit": limit})
    found = data["event"]
    if found is None:
        raise fail(f"no Custom event named {name!r} is defined or counted for this tenant")
    stats, series = found["stats"], found["series"]
    result: dict[str, Any] = {"tenant": report.tenant, "name": name, "period": stats["period"],
                              "stats": stats, "groupBy": series["granularity"].lower(),
                              "points": series["points"], "breakdown": found.get("breakdown")}
    sections = [Section("stats", stat_rows(stats, ["count", "users"])),
                Section(f"per {result['groupBy']}", series["points"])]
    if found.get("breakdown"):
        breakdown = found["breakdown"]
        capped = " (capped: values beyond the daily cap under (other))" if breakdown["capped"] else ""
        sections.append(Section(f"by {breakdown['dimension']}{capped}", breakdown["values"]))
    emit(console, heading=heading(f"event {name}", result), payload=result, as_json=as_json, export=export,
         sections=sections)


def _property(raw: str) -> dict[str, Any]:
    """name:type[:required] as a PropertyInput."""
    parts = raw.split(":")
    if (len(parts) not in (2, 3) or parts[1].lower() not in TYPES
            or (len(parts) == 3 and parts[2] != "required")):
        raise fail(f"--property {raw!r}: write name:type or name:type:required, type one of "
                   f"{', '.join(TYPES)}", USAGE)
    return {"name": parts[0], "type": TYPES[parts[1].lower()], "required": len(parts) == 3}


def _definition_rows(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"name": d["name"], "description": d["description"], "strict": d["strict"],
             "properties": ", ".join(f"{p['name']}:{p['type'].lower()}{':required' if p['required'] else ''}"
                                     for p in d["properties"]),
             "dimensions": ", ".join(f"{m['property']} ({m['backfill']['status']} "
                                     f"{m['backfill']['processed']}/{m['backfill']['total']})"
                                     for m in d["dimensions"])} for d in definitions]


@events_app.command("define")
def events_define(name: str = typer.Argument(..., help="The Custom event's name."),
                  description: str | None = typer.Option(None, "--description"),
                  properties: list[str] = typer.Option(
                      [], "--property", help="A declared property, name:type[:required] (type: string, "
                                             "number or boolean); repeat for more."),
                  strict: bool = typer.Option(False, "--strict/--lenient",
                                              help="Reject events whose declared properties are missing "
                                                   "(required) or of another type."),
                  dimensions: list[str] = typer.Option(
                      [], "--dimension", help="A property to break the events down by (at most 10); repeat "
                                              "for more. New ones are backfilled by the worker."),
                  as_json: bool = AsJson, url: str | None = Url, key: str | None = Key,
                  profile: str | None = Profile, data_dir: Path | None = DataDir) -> None:
    """Define a Custom event name, or replace its definition."""
    declared = [_property(p) for p in properties]
    report = open_report(Server(url, key, profile, data_dir))
    data = report.client.run("CliDefineEvent", {"input": {
        "name": name, "description": description, "properties": declared, "strict": strict,
        "dimensions": dimensions}})["defineEvent"]
    result = {"tenant": report.tenant, "definition": data}
    emit(console, heading=f"{report.tenant}: event {name} defined", payload=result, as_json=as_json,
         export=None, sections=[Section("definition", _definition_rows([data]))])


@events_app.command("remove")
def events_remove(name: str = typer.Argument(..., help="The Custom event's name."),
                  url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                  data_dir: Path | None = DataDir) -> None:
    """Remove a definition (its events are still counted unless the allowlist is on)."""
    report = open_report(Server(url, key, profile, data_dir))
    if not report.client.run("CliRemoveEvent", {"name": name})["removeEvent"]:
        raise fail(f"no definition named {name!r}")
    console.print(f"{report.tenant}: definition of {name} removed")


@events_app.command("definitions")
def events_definitions(as_json: bool = AsJson, export: Path | None = Export, url: str | None = Url,
                       key: str | None = Key, profile: str | None = Profile,
                       data_dir: Path | None = DataDir) -> None:
    """The tenant's event definitions, with each dimension's backfill progress, and the allowlist."""
    report = open_report(Server(url, key, profile, data_dir))
    found: list[dict[str, Any]] = []
    while True:  # pages of PAGE: a definition may carry 50 properties, and the cost counts them all
        after = found[-1]["name"] if found else None
        data = report.tenant_data("CliEventDefinitions", {"first": PAGE, "after": after})
        found += data["eventDefinitions"]
        if len(data["eventDefinitions"]) < PAGE:
            break
    result = {"tenant": report.tenant, "eventAllowlist": data["eventAllowlist"], "definitions": found}
    allowlist = "on: only defined names accepted" if data["eventAllowlist"] else "off"
    emit(console, heading=f"{report.tenant}: event definitions (allowlist {allowlist})", payload=result,
         as_json=as_json, export=export, sections=[Section("definitions", _definition_rows(found))])


@events_app.command("allowlist")
def events_allowlist(state: str = typer.Argument(..., help="on (only defined Custom event names) or off."),
                     url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
                     data_dir: Path | None = DataDir) -> None:
    """Turn the tenant's event allowlist on or off."""
    if state not in ("on", "off"):
        raise fail(f"allowlist: say on or off, not {state!r}", USAGE)
    report = open_report(Server(url, key, profile, data_dir))
    report.client.run("CliEventAllowlist", {"enabled": state == "on"})
    console.print(f"{report.tenant}: event allowlist {state}")
