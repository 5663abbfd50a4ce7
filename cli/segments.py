"""``analytics segments`` (every segment with size, share and mean engagement) and ``analytics segments
show <id>`` (movements, engagement and members), read from the graph over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from analytics.periods import Period
from cli.common import DataDir, console, fail
from cli.connection import Key, Profile, Url
from cli.output import Section, emit, heading
from cli.reporting import AsJson, Export, Server, SinceWeek, Until, check_range, open_report, range_input

segments_app = typer.Typer(help="Segments: the four built-in ones (power, regular, new, at risk) and the "
                                "tenant's rule segments.", invoke_without_command=True)
Members = typer.Option(20, "--members", min=1, max=500, help="Members listed (1-500).")


def _period(period: Period) -> dict[str, str]:
    return {"from": period.start.astimezone(period.tz).isoformat(),
            "to": period.end.astimezone(period.tz).isoformat(), "timezone": period.tz.key}


@segments_app.callback()
def segments_list(ctx: typer.Context, since: str = SinceWeek, until: str | None = Until,
                  as_json: bool = AsJson, export: Path | None = Export, url: str | None = Url,
                  key: str | None = Key, profile: str | None = Profile,
                  data_dir: Path | None = DataDir) -> None:
    """Every segment with its size, share (of users in any built-in segment) and mean engagement score,
    as of the range's end."""
    if ctx.invoked_subcommand is not None:
        return
    report = open_report(Server(url, key, profile, data_dir), lambda: check_range(since, until))
    period = report.period(since, until)
    rows = report.tenant_data("CliSegments", {"range": range_input(period)})["segments"]
    result = {"tenant": report.tenant, "period": _period(period), "segments": rows}
    emit(console, heading=heading("segments", result), payload=result, as_json=as_json, export=export,
         sections=[Section("segments", rows)])


@segments_app.command("show")
def segments_show(segment_id: str = typer.Argument(..., metavar="ID", help="power, regular, new, at_risk "
                                                   "or a rule segment's id."),
                  since: str = SinceWeek, until: str | None = Until, members: int = Members,
                  as_json: bool = AsJson, export: Path | None = Export, url: str | None = Url,
                  key: str | None = Key, profile: str | None = Profile,
                  data_dir: Path | None = DataDir) -> None:
    """One segment: size and share as of the range's end, who moved in or out during the range (and from
    or to which segment), the members' engagement, and the members now."""
    report = open_report(Server(url, key, profile, data_dir), lambda: check_range(since, until))
    period = report.period(since, until)
    found: dict[str, Any] | None = report.tenant_data(
        "CliSegment", {"id": segment_id, "range": range_input(period), "first": members})["segment"]
    if found is None:
        raise fail(f"no segment {segment_id!r} (built-in: power, regular, new, at_risk)")
    engagement = found["engagement"]
    result = {"tenant": report.tenant, "period": engagement["period"], **found}
    summary = [{"size": found["size"], "share": found["share"], "meanEngagement": engagement["mean"],
                "histogram": engagement["histogram"]}]
    movements = [{"from": m["from"] or "(none)", "to": m["to"] or "(none)", "users": m["users"]}
                 for m in found["movements"]]
    listed = [{"user": n["userId"] or n["anonymousId"], "since": n["since"], "engagement": n["engagement"]}
              for n in found["members"]["nodes"]]
    emit(console, heading=heading(f"segment {found['name']} ({found['id']})", result), payload=result,
         as_json=as_json, export=export,
         sections=[Section("size", summary), Section("movements", movements),
                   Section(f"members ({found['members']['totalCount']} in all)", listed)])
