"""What every reporting command shares: its options (one by one, or as the ``report_options`` bundle),
--since/--until as a range in the tenant's time zone, and one step that opens the server (checks the
key, reads the tenant) and runs a CLI operation."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from analytics import periods
from analytics.errors import InvalidArgument
from analytics.periods import Granularity, Period
from cli.client import GraphQLClient
from cli.common import UNREACHABLE, USAGE, DataDir, fail
from cli.connection import Key, Profile, Url, resolve_target

RELATIVE = re.compile(r"^\s*\d+\s*[mhdw]\s*$")
SINCE_FORMS = ("a duration back from --until or now (30m, 24h, 7d, 2w), an ISO date (2025-05-01) or an "
               "ISO 8601 date-time (2025-05-01T09:00:00+02:00)")
# periods.resolve names the graph's fields; the CLI names its options.
OPTION_OF_FIELD = {"range": "--since", "range.since": "--since", "range.from": "--since",
                   "range.to": "--until"}
COMPARE = {"previous": "PREVIOUS_PERIOD", "year": "YEAR_OVER_YEAR", "none": None}

Since = typer.Option("24h", "--since", help=f"Start of the range: {SINCE_FORMS}.")
SinceWeek = typer.Option("7d", "--since", help=f"Start of the range: {SINCE_FORMS}.")
Until = typer.Option(None, "--until", help="End of the range: an ISO date (inclusive) or date-time "
                                           "(exclusive); now when not given.")
AsJson = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")
Export = typer.Option(None, "--export", dir_okay=False, help="Also write the rows to this CSV file.")
IncludeBots = typer.Option(False, "--include-bots", help="Count sessions flagged as bots (all tiers) too.")
Limit = typer.Option(10, "--limit", min=1, max=500, help="Rows per table (1-500).")
CompareWith = typer.Option("previous", "--compare",
                           help="Compare with: previous (the same length just before), year (a year "
                                "earlier) or none.")
GroupBy = typer.Option(None, "--group-by",
                       help="hour, day, week or month (default: from the range's length).")
Days = typer.Option(None, "--days", min=1, max=3660, help="The last N days (instead of --since).")


def resolve_range(since: str, until: str | None, tz: ZoneInfo, now: datetime | None = None) -> Period:
    """``--since`` is 1h/24h/7d/30d-style (back from ``--until`` or now) or an ISO date or date-time;
    ``--until`` is an ISO date (inclusive) or date-time (exclusive), now when absent."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    try:
        if RELATIVE.match(since):
            end = _instant("--until", until, tz) if until else moment
            if until and since.strip()[-1] in "dw":
                end -= timedelta(microseconds=1)  # "7d" until 2025-05-11: the days May 5 to 11
            return periods.resolve(periods.RangeSpec(since=since), tz, now=end)
        is_date = len(since.strip()) == 10
        default_end = moment.astimezone(tz).date().isoformat() if is_date else moment.isoformat()
        period = periods.resolve(periods.RangeSpec(start=since.strip(), end=(until or default_end).strip()),
                                 tz, now=moment)
    except periods.PeriodError as exc:
        if until is None and exc.field == "range.to":  # the default end, now, comes before --since
            raise _in_the_future(since, moment, tz) from None
        option = OPTION_OF_FIELD.get(exc.field, exc.field)
        message = exc.message.replace("range.from", "--since").replace("range.to", "--until")
        if option == "--since" and "is not a" in message:
            message = f"{since.strip()!r} is not {SINCE_FORMS}"
        raise InvalidArgument(option, message) from None
    if period.start > moment:
        raise _in_the_future(since, moment, tz)
    return period


def _in_the_future(since: str, moment: datetime, tz: ZoneInfo) -> InvalidArgument:
    now = moment.astimezone(tz).isoformat(timespec="minutes")
    return InvalidArgument("--since", f"{since.strip()} is in the future (now is {now} in {tz.key})")


def _instant(option: str, raw: str, tz: ZoneInfo) -> datetime:
    """An end bound as an instant: a date means the end of that local day."""
    try:
        if len(raw.strip()) == 10:
            return periods.local_midnight(date.fromisoformat(raw.strip()) + timedelta(days=1), tz)
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidArgument(option, f"{raw!r} is not a date (YYYY-MM-DD) or an ISO 8601 "
                                      "date-time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)


def range_input(period: Period) -> dict[str, str]:
    """A resolved period as the graph's RangeInput: whole days as dates, else UTC date-times."""
    if period.days:
        return {"from": period.days[0].isoformat(), "to": period.days[1].isoformat()}
    return {"from": period.start.isoformat(), "to": period.end.isoformat()}


def compare_choice(value: str) -> str | None:
    """--compare as the graph's Compare value (None for none)."""
    if value not in COMPARE:
        raise InvalidArgument("--compare", "must be previous, year or none")
    return COMPARE[value]


def granularity_choice(group_by: str | None, period: Period) -> str | None:
    """--group-by as the graph's Granularity (None: the graph's default), checked against the range."""
    if group_by is None:
        return None
    if group_by.upper() not in Granularity.__members__:
        raise InvalidArgument("--group-by", "must be hour, day, week or month")
    try:
        periods.bucket_starts(period, Granularity[group_by.upper()])
    except periods.PeriodError as exc:
        raise InvalidArgument("--group-by", exc.message) from None
    return group_by.upper()


@dataclass(frozen=True)
class Server:
    """Where a report is read: --url, --key, --profile and --data-dir (the local dev server)."""

    url: str | None
    key: str | None
    profile: str | None
    data_dir: Path | None


@dataclass
class Report:
    """An open connection to the tenant the key belongs to."""

    client: GraphQLClient
    tenant: str
    tz: ZoneInfo

    def period(self, since: str, until: str | None) -> Period:
        period: Period = checked(lambda: resolve_range(since, until, self.tz))
        return period

    def tenant_data(self, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self.client.run(operation, variables)["tenant"]
        return data


def checked(step: Callable[[], Any]) -> Any:
    """Run an option check; a bad option is one line and exit code 2."""
    try:
        return step()
    except InvalidArgument as exc:
        raise fail(str(exc), USAGE) from None


def open_report(server: Server, check: Callable[[], object] = lambda: None) -> Report:
    """Check the options (before any request), then find the server and read the key's tenant."""
    checked(check)
    client = GraphQLClient(resolve_target(server.url, server.key, server.profile, server.data_dir))
    tenant = client.run("CliTenant", {}).get("tenant")
    try:
        return Report(client, str(tenant["name"]), ZoneInfo(tenant["timezone"]))  # type: ignore[index]
    except (TypeError, KeyError, ValueError, ZoneInfoNotFoundError):
        raise fail(f"{client.target.url} answered without a tenant name and time zone: is it an analytics "
                   "API of this version?", UNREACHABLE) from None


def check_range(since: str, until: str | None) -> Period:
    """The options as a period in UTC: a bad --since/--until fails before any request."""
    return resolve_range(since, until, ZoneInfo("UTC"))


@dataclass(frozen=True)
class ReportOptions:
    """The options a ``report_options`` command shares, as one value: --since (or --days), --until,
    --compare, --group-by, --include-bots, --json, --export and the server's --url, --key, --profile,
    --data-dir."""

    since: str
    until: str | None
    include_bots: bool
    as_json: bool
    server: Server
    export: Path | None = None
    days: int | None = None
    compare: str | None = None
    group_by: str | None = None

    @property
    def range_start(self) -> str:
        """--since, or the last --days days."""
        return f"{self.days}d" if self.days is not None else self.since


def report_options(*, since: Any = SinceWeek, days: bool = True, compare: bool = False,
                   group_by: bool = False, export: bool = True
                   ) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the shared options as its first parameter ``options: ReportOptions``: Typer sees
    each of them (after the command's own) in the signature, so every command declares them once::

        @app.command("summary")
        @report_options(compare=True)
        def summary(options: ReportOptions, limit: int = Limit) -> None: ...
    """
    shared: list[tuple[str, Any, Any]] = [("since", str, since), ("until", str | None, Until)]
    shared += [("days", int | None, Days)] if days else []
    shared += [("compare", str, CompareWith)] if compare else []
    shared += [("group_by", str | None, GroupBy)] if group_by else []
    shared += [("include_bots", bool, IncludeBots), ("as_json", bool, AsJson)]
    shared += [("export", Path | None, Export)] if export else []
    shared += [("url", str | None, Url), ("key", str | None, Key), ("profile", str | None, Profile),
               ("data_dir", Path | None, DataDir)]

    def declare(command: Callable[..., None]) -> Callable[..., None]:
        own = [p for p in inspect.signature(command).parameters.values() if p.name != "options"]

        @functools.wraps(command)
        def run(**values: Any) -> None:
            taken = {name: values.pop(name) for name, _, _ in shared}
            server = Server(taken.pop("url"), taken.pop("key"), taken.pop("profile"), taken.pop("data_dir"))
            command(ReportOptions(server=server, **taken), **values)

        run.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
            *own, *(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
                    for name, kind, option in shared)])
        run.__annotations__ = {**{k: v for k, v in command.__annotations__.items() if k != "options"},
                               **{name: kind for name, kind, _ in shared}}
        return run

    return declare
